"""Loading the generator scripts under tests/data/ (make_bad.py, make_encoded.py, ...).

They are scripts run to rewrite their fixture files, not modules of a package, so tests load
them from their path to read the expected bytes and strings they define."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_script(path: Path) -> ModuleType:
    """The script at `path`, executed as a module named after its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
