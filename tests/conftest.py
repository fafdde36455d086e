"""Shared fixtures: real settings, a real SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voc.settings import VocSettings
from voc.store import Store

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"


@pytest.fixture
def settings(tmp_path: Path) -> VocSettings:
    return VocSettings(data_dir=tmp_path / "voc", workspace="test", _env_file=None)


@pytest.fixture
def store(settings: VocSettings) -> Iterator[Store]:
    store = Store.open(settings.resolved_database_url)
    yield store
    store.close()
