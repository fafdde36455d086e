"""Shared fixtures: real settings and a real store, on SQLite and on PostgreSQL.

Every test that uses a database (through `backend`, `settings` or `store`) runs once per
backend, `[sqlite]` and `[postgresql]`, each time on a fresh database; tests without one run
once. PostgreSQL is a throw-away cluster for the session (tests/backends.py); its tests are
skipped only with VOC_TEST_POSTGRES=0, or when PostgreSQL is missing and cannot be installed
(not root), and then with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.backends import (
    Backend,
    PostgresCluster,
    PostgresUnavailable,
    find_bindir,
    install_postgres,
)
from voc.jobs import ProcessOwner
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store
from voc.types import Run

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    wanted = os.environ.get("VOC_TEST_POSTGRES", "")
    if wanted == "0":
        pytest.skip("VOC_TEST_POSTGRES=0: PostgreSQL tests switched off")
    try:
        bindir = find_bindir() or install_postgres()
    except PostgresUnavailable as exc:
        if wanted == "1":
            raise
        pytest.skip(str(exc))
    cluster = PostgresCluster.start(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite")
    return Backend("postgresql", request.getfixturevalue("pg_cluster"))


@pytest.fixture
def database_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    with backend.database(tmp_path / "voc") as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> VocSettings:
    return VocSettings(
        data_dir=tmp_path / "voc", database_url=database_url, workspace="test", _env_file=None
    )


@pytest.fixture
def store(settings: VocSettings) -> Iterator[Store]:
    store = Store.open(settings.resolved_database_url)
    yield store
    store.close()


@dataclass
class DemoRun:
    """The whole demo corpus in a fresh store (workspace `demo`), clustered once."""

    store: Store
    settings: VocSettings
    run: Run


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[DemoRun]:
    """The shipped demo corpus ingested and re-clustered with the default embedder exactly as
    `voc demo` does it (seed 0), once per backend for the whole session: the tests that need a
    full run of it share this one."""
    from voc.cli import DEMO_SOURCES
    from voc.embed import load_embedder
    from voc.pipeline import Ingestor, recluster

    settings = backend.settings(tmp_path_factory.mktemp("demo"))
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    for folder, source in DEMO_SOURCES.items():
        ingestor.ingest_paths([CORPORA_DIR / "demo" / folder], source, "demo")
    run, _ = recluster(store, settings, "demo", load_embedder(), seed=0)
    yield DemoRun(store, settings, run)
    store.close()


@pytest.fixture
def dead_owner() -> dict[str, Any]:
    """The owner record (voc.jobs) of a process that ran on this machine and has exited: a
    real `sleep`, started, looked up and killed, so liveness is judged as in production."""
    sleeper = subprocess.Popen(["sleep", "60"])
    stat = Path(f"/proc/{sleeper.pid}/stat").read_text()
    started = int(stat[stat.rindex(")") + 2 :].split()[19])
    owner = replace(ProcessOwner.current(), pid=sleeper.pid, started=started, program="sleep")
    sleeper.kill()
    sleeper.wait()
    return owner.to_json()
