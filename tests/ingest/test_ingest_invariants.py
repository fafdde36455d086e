"""What holds for every adapter on every test file: each item is a draft whose turns claim
exactly their text, or a reject whose reason names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from voc.types import SOURCES, RecordDraft, Reject

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
FOLDERS = {"ticket": "tickets", "call": "calls", "review": "reviews", "interview": "interviews"}
CASES = [
    (source, path.relative_to(DATA).as_posix())
    for source, folder in FOLDERS.items()
    for path in sorted((DATA / folder).iterdir())
]


@pytest.mark.parametrize(("source", "name"), CASES)
def test_every_item_is_an_exact_draft_or_a_reject_naming_the_file(ingest, source, name):
    items = ingest(source, name)

    assert items, "an adapter must yield something for every file"
    for item in items:
        if isinstance(item, RecordDraft):
            assert item.source == source and item.source in SOURCES
            assert item.turns and any(t.role == "customer" for t in item.turns) or item.warnings
            assert item.created_at is None or item.created_at.utcoffset().total_seconds() == 0
        else:
            assert isinstance(item, Reject)
            assert item.code.replace("_", "").isalpha() and item.code.islower()
            assert Path(name).name in item.reason


@pytest.mark.parametrize(
    ("source", "suffix"),
    [("ticket", ".csv"), ("call", ".txt"), ("call", ".vtt"), ("review", ".jsonl")]
    + [("interview", ".md")],
)
def test_every_source_gives_one_reject_for_an_empty_or_binary_file(
    ingest, tmp_path, source, suffix
):
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"\r\n  \r\n")
    image = tmp_path / f"photo{suffix}"
    image.write_bytes((DATA / "tickets" / "screenshot.png").read_bytes())

    found = [(r.location.line, r.code) for path in (empty, image) for r in ingest(source, path)]

    assert found == [(None, "empty_file"), (None, "binary_file")]
