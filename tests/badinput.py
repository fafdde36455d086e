"""The bad-input files of tests/data/bad/ and the script that writes them, for the bad-input
tests of ingestion (tests/ingest) and of the API (tests/api), which send the same files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BAD = Path(__file__).resolve().parent / "data" / "bad"


def _load_make_bad() -> ModuleType:
    """make_bad.py is a script run to rewrite the files, not a module of a package, so it is
    loaded from its path; the tests read its expected bytes and hostile strings."""
    spec = importlib.util.spec_from_file_location("make_bad", BAD / "make_bad.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_bad = _load_make_bad()
