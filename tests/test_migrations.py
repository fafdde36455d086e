"""Alembic migrations on both databases: a database made by an older voc, with data in it, is
upgraded to the newest schema without losing anything, and ends with exactly the schema the
code uses (the same check as for a fresh database in test_store.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.backends import Backend
from voc.store import MIGRATIONS_DIR, Store, assignments, metadata, themes
from voc.types import FeedbackRecord, FeedbackUnit, Run, Turn

OLD = "0003"
"""Runs and themes exist, lineage and everything after does not."""


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _fill_old_schema(store: Store) -> tuple[FeedbackRecord, list[FeedbackUnit], bytes, Run]:
    """What a voc at revision 0003 had written: a record and its units, a cached vector, and
    a finished current run with one theme. Only tables that 0003 already had the way the code
    writes them now are written through the store; themes and assignments, which later
    migrations widened, with their 0003 columns only."""
    text = "提现一直没到账。The app crashes on login."
    when = datetime(2025, 7, 6, 10, 22, tzinfo=UTC)
    record = FeedbackRecord(
        id="r1",
        workspace_id="w",
        source="ticket",
        text=text,
        turns=[Turn(0, len(text), "customer", "C-1")],
        external_id="T-1",
        created_at=when,
        received_at=datetime(2025, 7, 7, tzinfo=UTC),
        metadata={"product": "wallet", "tags": ["提现"], "rating": 2},
        fingerprint="f1",
    )
    units = [
        FeedbackUnit(
            f"r1:{i}", "r1", "w", i, a, b, text[a:b], text[a:b], lang, "C-1", "ticket", when
        )
        for i, (a, b, lang) in enumerate([(0, 8, "zh"), (8, len(text), "en")])
    ]
    vector = np.arange(4, dtype=np.float32).tobytes()
    run = Run(
        run_id="run1",
        workspace_id="w",
        status="done",
        started_at=datetime(2025, 7, 8, tzinfo=UTC),
        params={"seed": 0},
        model_id="use-m3@0.2.1",
        code_version="voc 0.1.0",
        finished_at=datetime(2025, 7, 8, 0, 5, tzinfo=UTC),
        timings={"embed": 1.5},
        n_units=2,
        n_themes=1,
        is_current=True,
    )
    store.ensure_workspace("w")
    store.write_batch("w", "ticket", None, [record], units, [])
    store.cache_vectors("use-m3@0.2.1", 4, {"h1": vector})
    store.start_run(run)
    with store.engine.begin() as conn:
        conn.execute(
            themes.insert().values(
                run_id="run1",
                theme_id="T-0001",
                workspace_id="w",
                level=0,
                parent_id=None,
                name="提现 / withdrawal",
                names={"zh": "提现", "en": "withdrawal"},
                keywords={"zh": [["提现", 0.5]], "en": [["crash", 0.25]]},
                size=2,
                langs={"zh": 1, "en": 1},
                quotes=[{"unit_id": "r1:0", "reason": "central"}],
                centroid=vector,
            )
        )
        conn.execute(
            assignments.insert(),
            [
                {"run_id": "run1", "unit_id": "r1:0", "theme_id": "T-0001", "confidence": 0.9},
                {"run_id": "run1", "unit_id": "r1:1", "theme_id": None, "confidence": 0.0},
            ],
        )
    return record, units, vector, run


def test_a_database_at_revision_0003_upgrades_to_head_keeping_its_data(
    backend: Backend, tmp_path: Path
) -> None:
    with backend.database(tmp_path, empty=True) as url:
        old = Store(url)
        old.upgrade(OLD)
        assert old.schema_revision() == OLD
        record, units, vector, run = _fill_old_schema(old)
        old.close()

        store = Store.open(url)
        try:
            assert store.schema_revision() == _head()
            with store.connection() as conn:
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert store.get_record("w", "r1") == record
            assert list(store.iter_units("w")) == units
            cached = store.cached_vectors("use-m3@0.2.1", ["h1"])
            assert {h: (v.dtype.name, v.tolist()) for h, v in cached.items()} == {
                "h1": ("float32", [0.0, 1.0, 2.0, 3.0])
            }
            current = store.current_run("w")
            assert current is not None
            assert (current.run_id, current.timings, current.finished_at) == (
                "run1",
                {"embed": 1.5},
                run.finished_at,
            )
            assert (current.stability, current.data_until) == (None, None)
            assert (current.themes_version, current.live_version) == (0, 0)
            [theme] = store.list_themes("run1")
            assert (theme.name, theme.names, theme.centroid) == (
                "提现 / withdrawal",
                {"zh": "提现", "en": "withdrawal"},
                vector,
            )
            assert theme.keywords == {"zh": [("提现", 0.5)], "en": [("crash", 0.25)]}
            assert store.hidden_themes("run1") == set()
            assert store.unit_assignments("run1") == {
                "r1:0": ("T-0001", 0.9),
                "r1:1": (None, 0.0),
            }
            assert store.cluster_members("run1") == ({}, {"r1:0", "r1:1"})
        finally:
            store.close()


def test_two_processes_starting_on_an_empty_database_at_once_both_migrate_it(
    backend: Backend, tmp_path: Path
) -> None:
    """docker-compose starts the API and the worker together; each migrates on start."""
    start = threading.Barrier(2, timeout=10)

    def open_store(_: int) -> str | None:
        start.wait()
        store = Store.open(url)
        try:
            return store.schema_revision()
        finally:
            store.close()

    with backend.database(tmp_path, empty=True) as url:
        for _ in range(3):
            with ThreadPoolExecutor(max_workers=2) as pool:
                assert list(pool.map(open_store, range(2))) == [_head(), _head()]
