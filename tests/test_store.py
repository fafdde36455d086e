from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voc.ids import text_hash
from voc.jobs import Stopped
from voc.store import (
    LiveAssignment,
    RunVersion,
    Store,
    embeddings,
    idempotency_keys,
    live_assignments,
    metadata,
)
from voc.types import FeedbackRecord, FeedbackUnit, Location, Reject, Run, Turn


def _record(text: str = "提现一直没到账。") -> FeedbackRecord:
    return FeedbackRecord(
        id="r1",
        workspace_id="test",
        source="ticket",
        text=text,
        turns=[Turn(0, len(text), "customer", "C-1")],
        external_id="T-1",
        created_at=datetime(2026, 7, 6, 10, 22, tzinfo=UTC),
        received_at=datetime(2026, 11, 25, tzinfo=UTC),
        metadata={"product": "wallet", "tags": ["提现"]},
        fingerprint="f1",
    )


def test_migrations_create_exactly_the_schema_the_code_uses(store: Store) -> None:
    with store.connection() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert store.schema_revision() == "0010"


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.upgrade()
    assert store.schema_revision() == "0010"


def test_record_round_trips_with_turns_metadata_and_utc_dates(store: Store) -> None:
    store.ensure_workspace("test")
    record = _record()
    unit = FeedbackUnit("r1:0", "r1", "test", 0, 0, 8, record.text, record.text, "zh", "C-1")
    store.write_batch("test", "ticket", None, [record], [unit], [])
    back = store.get_record("test", "r1")
    assert back == record
    assert back.created_at is not None and back.created_at.tzinfo is not None
    assert [u.text for u in store.iter_units("test")] == ["提现一直没到账。"]
    assert store.existing_record_ids(["r1", "r2"]) == {"r1"}


def test_units_come_back_as_written_sharing_what_repeats(store: Store) -> None:
    # A re-cluster holds every unit at once: one record's units share its strings and date,
    # and a unit whose normalised text is its text holds one string (789 -> 478 bytes a
    # unit at 100k).
    store.ensure_workspace("test")
    text = "提現一直沒到賬。Still no refund."
    record = _record(text)
    written = [
        FeedbackUnit(
            "r1:0",
            "r1",
            "test",
            0,
            0,
            8,
            text[:8],
            "提现一直没到账。",
            "zh",
            "C-1",
            "ticket",
            record.created_at,
        ),
        FeedbackUnit(
            "r1:1",
            "r1",
            "test",
            1,
            8,
            24,
            text[8:],
            text[8:],
            "en",
            "C-1",
            "ticket",
            record.created_at,
        ),
    ]
    store.write_batch("test", "ticket", None, [record], written, [])
    first, second = back = list(store.iter_units("test"))
    assert back == written
    assert second.norm_text is second.text and first.norm_text is not first.text
    assert second.record_id is first.record_id and second.source is first.source
    assert second.created_at is first.created_at and second.speaker is first.speaker


def test_unit_refs_hold_no_text_and_texts_are_fetched_by_id_or_hash_in_the_workspace(
    store: Store,
) -> None:
    store.ensure_workspace("test")
    store.ensure_workspace("other")
    record, written = _two_unit_record()
    store.write_batch("test", "ticket", None, [record], written, [])
    theirs = dataclasses.replace(record, id="r9", workspace_id="other")
    store.write_batch(
        "other",
        "ticket",
        None,
        [theirs],
        [dataclasses.replace(written[0], id="r9:0", record_id="r9", workspace_id="other")],
        [],
    )
    written = list(store.iter_units("test"))
    first, second = refs = list(store.iter_unit_refs("test"))
    assert [(r.id, r.record_id, r.lang, r.source, r.created_at) for r in refs] == [
        (u.id, u.record_id, u.lang, "ticket", record.created_at) for u in written
    ]
    assert not hasattr(first, "text") and not hasattr(first, "norm_text")
    assert [r.text_hash for r in refs] == [text_hash(u.norm_text) for u in written]
    assert second.record_id is first.record_id and second.created_at is first.created_at
    assert store.units_by_id("test", ["r1:1", "r9:0", "nope"]) == {"r1:1": written[1]}
    assert store.norm_texts("test", ["r1:0", "r1:1", "r9:0"]) == {
        "r1:0": "提现一直没到账。",
        "r1:1": written[1].norm_text,
    }
    # r9:0 has the same text as r1:0, in another workspace: found once, for this one only.
    assert store.norm_texts_by_hash("test", [first.text_hash, "0" * 32]) == {
        first.text_hash: "提现一直没到账。"
    }
    assert store.norm_texts_by_hash("nobody", [first.text_hash]) == {}


def test_rejects_are_stored_with_file_line_and_reason(store: Store) -> None:
    store.ensure_workspace("test")
    reject = Reject(Location("a.csv", 7), "empty_text", "a.csv:7: the text is empty", "")
    store.write_batch("test", "ticket", "ing1", [], [], [reject])
    [back] = store.list_rejects("test", "ing1")
    assert (back.file, back.line, back.code, back.source) == ("a.csv", 7, "empty_text", "ticket")


def test_curations_come_back_in_order_and_split_ids_count_toward_the_theme_counter(
    store: Store,
) -> None:
    store.ensure_workspace("test")
    first = store.add_curation("test", "rename", "T-0003", "cli", name="提现慢")
    second = store.add_curation(
        "test", "split_off", "T-0012", "k1", name="新问题", unit_ids=["r1:0", "r1:1"]
    )
    assert store.list_curations("test") == [first, second]
    assert (second.unit_ids, second.created_by, second.active) == (["r1:0", "r1:1"], "k1", True)
    assert store.max_theme_number("test") == 12
    store.deactivate_curation(first.id)
    assert store.list_curations("test") == [second]
    assert [c.active for c in store.list_curations("test", active_only=False)] == [False, True]
    assert store.list_curations("other") == []


def _two_unit_record() -> tuple[FeedbackRecord, list[FeedbackUnit]]:
    record = _record("提现一直没到账。客服也不回复。")
    units = [
        FeedbackUnit(
            "r1:0", "r1", "test", 0, 0, 8, "提现一直没到账。", "提现一直没到账。", "zh", "C-1"
        ),
        FeedbackUnit(
            "r1:1", "r1", "test", 1, 8, 15, "客服也不回复。", "客服也不回复。", "zh", "C-1"
        ),
    ]
    return record, units


def test_eight_threads_caching_overlapping_vectors_all_succeed_and_store_each_once(
    store: Store,
) -> None:
    """Ten rounds, because one round of the old check-then-insert lost the race only
    about every other time."""
    hashes = [f"{i:032x}" for i in range(400)]
    start = threading.Barrier(8, timeout=5)

    def cache(worker: int) -> None:
        for first in range(0, 400, 40):
            mine = hashes[first + worker * 4 : first + worker * 4 + 12]
            vectors = {h: np.full(4, int(h, 16), dtype=np.float32).tobytes() for h in mine}
            start.wait()
            store.cache_vectors("model-a", 4, vectors)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(cache, range(8)))

    cached = store.cached_vectors("model-a", hashes)
    assert {h: v.tolist() for h, v in cached.items()} == {
        h: [float(i)] * 4 for i, h in enumerate(hashes)
    }
    with store.connection() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(embeddings)).scalar_one()
    assert stored == 400


def test_a_workspace_ensured_by_eight_threads_at_once_exists_once(store: Store) -> None:
    start = threading.Barrier(8, timeout=5)

    def ensure(_: int) -> None:
        start.wait()
        store.ensure_workspace("fresh")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(ensure, range(8)))
    assert store.workspace_ids() == ["fresh"]


def test_a_record_another_writer_stored_meanwhile_is_skipped_with_its_units(
    store: Store,
) -> None:
    store.ensure_workspace("test")
    record, units = _two_unit_record()
    assert store.write_batch("test", "ticket", None, [record], units, []) == {"r1"}
    assert store.write_batch("test", "ticket", None, [record], units, []) == set()
    assert (store.count("test"), store.count("test", "units")) == (1, 2)


def test_a_later_live_assignment_replaces_the_earlier_one(store: Store) -> None:
    store.ensure_workspace("test")
    record, units = _two_unit_record()
    store.write_batch("test", "ticket", None, [record], units, [])
    store.write_live_assignments([LiveAssignment("r1:0", "test", None, None, 0.0)])
    store.write_live_assignments(
        [
            LiveAssignment("r1:0", "test", None, None, 0.125),
            LiveAssignment("r1:1", "test", None, None, 0.5),
        ]
    )
    with store.connection() as conn:
        rows = conn.execute(
            sa.select(live_assignments.c.unit_id, live_assignments.c.similarity).order_by(
                live_assignments.c.unit_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("r1:0", 0.125), ("r1:1", 0.5)]


def _versions(store: Store, run_id: str) -> tuple[int, int]:
    run = store.get_run("test", run_id)
    return run.themes_version, run.live_version


def test_a_runs_versions_count_what_changes_its_served_answers(store: Store) -> None:
    """The API keeps answers per (run, themes_version, live_version) (api/themecache.py):
    every write that changes what a run serves after it completed must bump one of them."""
    store.ensure_workspace("test")
    record, units = _two_unit_record()
    store.write_batch("test", "ticket", None, [record], units, [])
    runs = []
    for n in range(2):
        run = Run(
            run_id=f"run{n}",
            workspace_id="test",
            status="running",
            started_at=datetime(2026, 7, 6 + n, tzinfo=UTC),
            params={},
            model_id="m@1",
            code_version="test",
        )
        store.start_run(run)
        store.complete_run(run, [], [])
        runs.append(run)
    assert store.current_run_version("test") == RunVersion("run1", 0, 0)
    assert _versions(store, "run0") == (0, 0)

    store.write_live_assignments([LiveAssignment("r1:0", "test", "run0", None, 0.1)])
    assert _versions(store, "run0") == (0, 1)
    # The unit moves to the newer run (assign_stale after a re-cluster): both runs changed.
    store.write_live_assignments([LiveAssignment("r1:0", "test", "run1", None, 0.2)])
    assert (_versions(store, "run0"), _versions(store, "run1")) == ((0, 2), (0, 1))
    store.write_live_assignments([LiveAssignment("r1:1", "test", None, None, 0.0)])
    assert (_versions(store, "run0"), _versions(store, "run1")) == ((0, 2), (0, 1))

    store.replace_served(runs[1], [], [], {}, frozenset(), [], {})
    assert store.current_run_version("test") == RunVersion("run1", 1, 1)
    # Rewriting the run's row (timings, a failed run) never resets the counters.
    store.update_run_timings("run1", {"store": 1.0})
    store.fail_run(runs[1], "too late")  # a done run is not failed; nothing changes
    current = store.current_run("test")
    assert current is not None and (current.themes_version, current.live_version) == (1, 1)


def test_units_never_placed_are_found_but_pending_ones_are_not(store: Store) -> None:
    store.ensure_workspace("test")
    record, units = _two_unit_record()
    store.write_batch("test", "ticket", None, [record], units, [])
    assert [u.id for u in store.unplaced_units("test", ["r1"], None)] == ["r1:0", "r1:1"]
    store.write_live_assignments([LiveAssignment("r1:0", "test", None, None, 0.0)])
    assert [u.id for u in store.unplaced_units("test", ["r1"], "run-x")] == ["r1:1"]
    assert store.unplaced_units("other", ["r1"], None) == []


def test_an_interruption_during_a_statement_stays_an_interruption(store: Store) -> None:
    """SIGTERM (voc.jobs.Stopped) or Ctrl-C arriving while a statement runs is not a database
    outage, though SQLAlchemy reports it as a lost connection: the run it stops must be failed
    as interrupted, not as a StoreError."""

    def interrupt(*_: object) -> None:
        raise Stopped("stopped by SIGTERM")

    sa.event.listen(store.engine, "before_cursor_execute", interrupt)
    try:
        with pytest.raises(Stopped, match="stopped by SIGTERM"):
            store.count("test")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", interrupt)
    assert store.count("test") == 0, "the store works on afterwards"


WEEK = timedelta(days=7)


def _age_idempotency_key(store: Store, key: str, days: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == key)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_saving_a_key_deletes_keys_past_the_retention_and_keeps_fresh_ones(
    store: Store,
) -> None:
    store.save_response("test", "old", "h-old", 200, {"first": True}, keep_for=WEEK)
    store.save_response("other", "fresh", "h-fresh", 200, {"fresh": True}, keep_for=WEEK)
    _age_idempotency_key(store, "old", days=8)
    _age_idempotency_key(store, "fresh", days=6)
    store.idempotency_prune_every_s = 0.0

    store.save_response("test", "new", "h-new", 200, {"new": True}, keep_for=WEEK)

    assert store.stored_response("test", "old") is None
    assert store.stored_response("other", "fresh") == ("h-fresh", 200, {"fresh": True})
    assert store.stored_response("test", "new") == ("h-new", 200, {"new": True})
    # The key is free again: resent, its request is saved as a new record, dated now.
    store.save_response("test", "old", "h-again", 200, {"first": False}, keep_for=WEEK)
    assert store.stored_response("test", "old") == ("h-again", 200, {"first": False})
    with store.engine.connect() as conn:
        saved = conn.execute(
            sa.select(idempotency_keys.c.created_at).where(idempotency_keys.c.key == "old")
        ).scalar_one()
    assert datetime.now(UTC) - saved < timedelta(minutes=5)


def test_keys_are_pruned_at_most_once_an_hour_per_store_or_when_asked(store: Store) -> None:
    store.save_response("test", "a", "h", 200, {}, keep_for=WEEK)  # the first save prunes
    _age_idempotency_key(store, "a", days=8)

    store.save_response("test", "b", "h", 200, {}, keep_for=WEEK)
    assert store.stored_response("test", "a") is not None, "pruned again within the hour"
    restarted = Store.open(store.url)  # another process, or this one restarted
    try:
        restarted.save_response("test", "c", "h", 200, {}, keep_for=WEEK)
    finally:
        restarted.close()
    assert store.stored_response("test", "a") is None
    _age_idempotency_key(store, "b", days=3)
    assert store.prune_idempotency_keys(datetime.now(UTC) - timedelta(days=2)) == 1
    assert [store.stored_response("test", k) is None for k in "bc"] == [True, False]
