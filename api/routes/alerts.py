"""Alerts of the current run's latest week: spikes, emerging and silenced themes (voc.trends),
themes the re-cluster found gone (voc.registry lineage), and themes proposed from dense groups
of pending feedback since the run (voc.pipeline.pending_groups)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadWorkspace, StoreDep
from api.schemas import PROBLEM_RESPONSES, AlertPublic, AlertsPublic
from voc.pipeline import workspace_alerts

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["themes"], responses=PROBLEM_RESPONSES)


@router.get("/alerts", response_model=AlertsPublic)
def alerts(ws: ReadWorkspace, store: StoreDep) -> AlertsPublic:
    """The alerts a weekly run posts to the webhook, listed, plus any theme proposed from the
    pending feedback submitted since."""
    run = store.current_run(ws)
    return AlertsPublic(
        run_id=run.run_id if run else None,
        data=[AlertPublic(**a.to_dict()) for a in workspace_alerts(store, ws)],
    )
