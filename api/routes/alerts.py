"""Alerts of the current run's latest week: spikes, emerging and silenced themes (voc.trends)
and themes the re-cluster found gone (voc.registry lineage)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadWorkspace, StoreDep
from api.schemas import PROBLEM_RESPONSES, AlertPublic, AlertsPublic
from voc.pipeline import workspace_alerts

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["themes"], responses=PROBLEM_RESPONSES)


@router.get("/alerts", response_model=AlertsPublic)
def alerts(ws: ReadWorkspace, store: StoreDep) -> AlertsPublic:
    """The alerts a weekly run posts to the webhook, listed."""
    run = store.current_run(ws)
    return AlertsPublic(
        run_id=run.run_id if run else None,
        data=[AlertPublic(**a.to_dict()) for a in workspace_alerts(store, ws)],
    )
