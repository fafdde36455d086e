"""The bad-input files of tests/data/bad/ and the script that writes them, for the bad-input
tests of ingestion (tests/ingest) and of the API (tests/api), which send the same files."""

from __future__ import annotations

from pathlib import Path

from tests.scripts import load_script

BAD = Path(__file__).resolve().parent / "data" / "bad"

make_bad = load_script(BAD / "make_bad.py")
