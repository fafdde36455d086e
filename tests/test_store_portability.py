"""Behaviour the store must give identically on SQLite and PostgreSQL, where the two databases
differ by default: LIKE's case rules, where NULLs sort, string length limits, errors on a
table that is missing, concurrent writers taking row locks in different orders, and the
unique lock that refuses a second run of a workspace."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.backends import Backend
from voc.errors import InputError
from voc.pipeline import Ingestor
from voc.settings import VocSettings
from voc.store import Store
from voc.types import FeedbackRecord, FeedbackUnit, Turn


def _store_units(store: Store, texts: list[tuple[str, datetime | None]]) -> None:
    """One record per text, each its own unit, dated or not."""
    store.ensure_workspace("test")
    records, units = [], []
    for i, (text, when) in enumerate(texts):
        rid = f"r{i}"
        records.append(
            FeedbackRecord(
                id=rid,
                workspace_id="test",
                source="ticket",
                text=text,
                turns=[Turn(0, len(text), "customer", "C")],
                external_id=None,
                created_at=when,
                received_at=datetime(2026, 1, 1, tzinfo=UTC),
                metadata={},
                fingerprint=rid,
            )
        )
        units.append(FeedbackUnit(f"{rid}:0", rid, "test", 0, 0, len(text), text, text, "en", "C"))
    store.write_batch("test", "ticket", None, records, units, [])


def _search(store: Store, text: str) -> list[str]:
    _, hits = store.search_units("test", None, text, text, 0, 50)
    return [h.unit.id for h in hits]


def test_search_ignores_ascii_case_and_takes_wildcards_literally(store: Store) -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    _store_units(
        store,
        [("The APP crashes", day), ("100% broken", day), ("a_b test", day), ("axb test", day)],
    )
    assert _search(store, "app") == ["r0:0"]
    assert _search(store, "App") == ["r0:0"]
    assert _search(store, "0%") == ["r1:0"]
    assert _search(store, "a_b") == ["r2:0"]


def test_newest_first_puts_undated_units_last(store: Store) -> None:
    _store_units(
        store,
        [
            ("card declined undated", None),
            ("card declined old", datetime(2026, 1, 1, tzinfo=UTC)),
            ("card declined new", datetime(2026, 2, 1, tzinfo=UTC)),
        ],
    )
    assert _search(store, "card declined") == ["r2:0", "r1:0", "r0:0"]
    assert [r.id for r in store.iter_records("test")] == ["r0", "r1", "r2"]


def test_schema_revision_of_an_empty_database_is_none(backend: Backend, tmp_path: Path) -> None:
    with backend.database(tmp_path, empty=True) as url:
        store = Store(url)
        assert store.schema_revision() is None
        store.upgrade()
        assert store.schema_revision() is not None
        store.close()


def test_an_overlong_id_is_rejected_and_an_overlong_speaker_cut_on_both_databases(
    store: Store, settings: VocSettings, tmp_path: Path
) -> None:
    """PostgreSQL enforces VARCHAR lengths that SQLite ignores: an export's long ticket id or
    speaker label must give the same outcome on both, never a failed batch on one."""
    long_id = "T-" + "9" * 400
    author = "客户" * 80
    items = [
        {"id": long_id, "description": "The app keeps freezing on login."},
        {
            "id": "T-2",
            "description": "Withdrawals take days to arrive.",
            "comments": [{"author_role": "customer", "author": author, "body": "Still waiting."}],
        },
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    summary = Ingestor(store, settings).ingest_paths([path], "ticket", "test")
    assert (summary.accepted, summary.rejected, summary.reject_codes) == (1, 1, {"id_too_long": 1})
    [reject] = store.list_rejects("test")
    assert "the id is 402 characters, over the limit of 300" in reject.reason
    [record] = store.iter_records("test")
    [warning] = record.warnings
    assert warning.startswith(str(path)) and warning.endswith(
        ": speaker labels cut to 100 characters"
    )
    assert {u.speaker for u in store.iter_units("test")} >= {author[:100]}


def _race(rounds: int, work: Callable[[int], Any]) -> None:
    """Run `work(0)` and `work(1)` at the same moment, `rounds` times."""
    start = threading.Barrier(2, timeout=10)

    def run(worker: int) -> None:
        for _ in range(rounds):
            start.wait()
            work(worker)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, range(2)))


def test_writers_caching_the_same_vectors_in_opposite_orders_do_not_deadlock(
    store: Store,
) -> None:
    hashes = [f"{i:032x}" for i in range(300)]
    vector = np.zeros(4, dtype=np.float32).tobytes()

    def cache(worker: int) -> None:
        order = hashes if worker == 0 else hashes[::-1]
        store.cache_vectors("model-a", 4, {h: vector for h in order})

    _race(5, cache)
    assert len(store.cached_vectors("model-a", hashes)) == 300


def test_only_one_of_eight_concurrent_exclusive_jobs_is_created(store: Store) -> None:
    store.ensure_workspace("w")
    start = threading.Barrier(8, timeout=10)

    def create(i: int) -> bool:
        start.wait()
        return store.create_job(f"job{i}", "w", "run", {}, exclusive=True) is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(8)))
    assert sum(created) == 1
    winner = f"job{created.index(True)}"
    assert store.create_job("other", "w", "run", {}, exclusive=True) is None
    assert store.create_job("upload", "w", "upload", {}, exclusive=False) is not None
    store.update_job(winner, status="done")
    assert store.create_job("next", "w", "run", {}, exclusive=True) is not None


def test_a_workspace_id_over_64_characters_is_refused_on_both_databases(store: Store) -> None:
    with pytest.raises(InputError, match="is 65 characters; use at most 64"):
        store.ensure_workspace("w" * 65)
    store.ensure_workspace("w" * 64)
    assert store.workspace_ids() == ["w" * 64]
