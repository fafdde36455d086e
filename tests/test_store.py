from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voc.store import Store, metadata
from voc.types import FeedbackRecord, FeedbackUnit, Location, Reject, Turn


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
    assert store.schema_revision() == "0005"


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.upgrade()
    assert store.schema_revision() == "0005"


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
