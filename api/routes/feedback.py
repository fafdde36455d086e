"""Submitting feedback: validated per item, idempotent, assigned to themes before answering."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import AssignerDep, IngestorDep, MetricsDep, SettingsDep, StoreDep, SubmitWorkspace
from api.errors import ConflictError, PayloadTooLargeError
from api.schemas import (
    PROBLEM_RESPONSES,
    FeedbackBatch,
    FeedbackResponse,
    ItemResult,
    UnitAssignmentPublic,
)
from api.units import unit_needs_public
from voc.pipeline import analyze_units

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["feedback"], responses=PROBLEM_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Resending a request with the same key within VOC_API_IDEMPOTENCY_DAYS "
        "(7 days by default) replays the first response.",
    ),
]


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={409: {"description": "Idempotency-Key reused with another body."}},
)
def submit_feedback(
    ws: SubmitWorkspace,
    batch: FeedbackBatch,
    settings: SettingsDep,
    store: StoreDep,
    ingestor: IngestorDep,
    assigner: AssignerDep,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Store a batch of records and report each as accepted, duplicate or rejected.

    Accepted records are split into units, embedded and put into the nearest theme of the
    current run (or left pending) before the response, so readers see them at once.
    """
    if len(batch.records) > settings.api_max_batch:
        raise PayloadTooLargeError(
            f"the batch has {len(batch.records):,} records, over the limit of "
            f"{settings.api_max_batch:,}; split it into several requests."
        )
    request_hash = ""
    if idempotency_key:
        canonical = json.dumps(batch.records, sort_keys=True, ensure_ascii=False, default=str)
        request_hash = hashlib.sha256(canonical.encode()).hexdigest()
        stored = store.stored_response(ws, idempotency_key)
        if stored is not None:
            saved_hash, status_code, body = stored
            if saved_hash != request_hash:
                raise ConflictError(
                    f"Idempotency-Key {idempotency_key!r} was already used with a different "
                    "body; use a new key for a new batch."
                )
            return JSONResponse(body, status_code, headers={"Idempotent-Replayed": "true"})

    summary, outcomes = ingestor.submit(batch.records, ws)
    units = [u for o in outcomes for u in o.units]
    live = {a.unit_id: a for a in assigner.assign(store, ws, units)}
    needs = analyze_units(store, ws, units)
    items = []
    for index, outcome in enumerate(outcomes):
        metrics.records.labels(outcome.status).inc()
        items.append(
            ItemResult(
                index=index,
                status=outcome.status,
                record_id=outcome.record_id,
                code=outcome.code,
                reason=outcome.reason,
                near_duplicate_of=outcome.near_duplicate_of,
                warnings=outcome.warnings,
                units=[
                    UnitAssignmentPublic(
                        unit_id=u.id,
                        text=u.text,
                        lang=u.lang,
                        theme_id=live[u.id].theme_id,
                        similarity=live[u.id].similarity,
                        status="assigned" if live[u.id].theme_id else "pending",
                        needs=unit_needs_public(needs[u.id]),
                    )
                    for u in outcome.units
                ],
            )
        )
    metrics.units.inc(len(units))
    body = FeedbackResponse(
        ingest_id=summary.ingest_id,
        accepted=summary.accepted,
        duplicate=summary.duplicate,
        rejected=summary.rejected,
        units=len(units),
        items=items,
    ).model_dump(mode="json")
    if idempotency_key:
        keep_for = timedelta(days=settings.api_idempotency_days)
        store.save_response(ws, idempotency_key, request_hash, 200, body, keep_for=keep_for)
    return JSONResponse(body)
