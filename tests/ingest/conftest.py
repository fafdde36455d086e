"""Fixtures for the adapter tests: read a file from tests/data/ingest with a real adapter, check
the span invariant on every draft, and reduce drafts to comparable tuples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from voc.ingest import Mapping, get_adapter
from voc.types import RecordDraft, Reject

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"

Summary = tuple[str, list[tuple[str, str, str]], str | None, datetime | None, dict[str, Any]]


def assert_turns_valid(draft: RecordDraft) -> None:
    """Every turn claims exactly a trimmed, non-empty stretch of the text, in order, without
    overlap: `text[start:end]` is the part it says it is."""
    previous_end = 0
    for turn in draft.turns:
        assert 0 <= turn.start < turn.end <= len(draft.text), turn
        assert turn.start >= previous_end, f"{turn} overlaps the turn before it"
        claimed = draft.text[turn.start : turn.end]
        assert claimed == claimed.strip(), f"{turn} has surrounding whitespace: {claimed!r}"
        previous_end = turn.end


def summarise(draft: RecordDraft) -> Summary:
    turns = [(t.role, t.speaker, draft.text[t.start : t.end]) for t in draft.turns]
    return draft.text, turns, draft.external_id, draft.created_at, draft.metadata


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def ingest() -> Callable[..., list[RecordDraft | Reject]]:
    """`ingest(source, "tickets/tickets.csv", mapping=None)`: every item the adapter yields."""

    def run(source: str, name: str | Path, mapping: Mapping | None = None) -> list:
        path = name if isinstance(name, Path) else DATA / name
        items = list(get_adapter(source, mapping).read(path))
        for item in items:
            assert isinstance(item, RecordDraft | Reject)
            if isinstance(item, RecordDraft):
                assert_turns_valid(item)
        return items

    return run


@pytest.fixture
def summary() -> Callable[[RecordDraft], Summary]:
    return summarise
