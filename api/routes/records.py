"""Records as received (redacted) with their unit spans, and text search over units."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadWorkspace, StoreDep
from api.schemas import PROBLEM_RESPONSES, RecordPublic, TurnPublic, UnitsPublic
from api.units import unit_public
from voc.normalize import normalize_for_analysis

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["records"], responses=PROBLEM_RESPONSES)


@router.get("/units", response_model=UnitsPublic)
def search_units(
    ws: ReadWorkspace,
    store: StoreDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Text to find.")],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> UnitsPublic:
    """Units containing `q` (as written, or after traditional-to-simplified folding), newest
    first, with their theme in the current run."""
    run = store.current_run(ws)
    total, hits = store.search_units(
        ws, run.run_id if run else None, q, normalize_for_analysis(q), offset, limit
    )
    return UnitsPublic(data=[unit_public(h) for h in hits], count=total)


@router.get("/records/{record_id}", response_model=RecordPublic)
def get_record(ws: ReadWorkspace, record_id: str, store: StoreDep) -> RecordPublic:
    """The record's stored text with its turns and the spans of its units."""
    record = store.get_record(ws, record_id)
    return RecordPublic(
        record_id=record.id,
        source=record.source,
        external_id=record.external_id,
        text=record.text,
        turns=[
            TurnPublic(start=t.start, end=t.end, role=t.role, speaker=t.speaker)
            for t in record.turns
        ],
        created_at=record.created_at,
        received_at=record.received_at,
        metadata=record.metadata,
        units=[unit_public(u) for u in store.record_units(ws, record_id)],
    )
