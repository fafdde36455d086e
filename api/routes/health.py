"""Liveness, readiness and Prometheus metrics: the only routes without an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import MetricsDep
from api.errors import NotReadyError
from api.schemas import Health
from voc.errors import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers (on the event loop: no thread for a request that does nothing)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(request: Request) -> Health:
    """The database answers, the embedding model is loaded and the server is not shutting
    down; otherwise a 503 problem whose `database` and `model` fields say what is wrong."""
    state = request.app.state
    store = getattr(state, "store", None)
    jobs = getattr(state, "jobs", None)
    if store is None or jobs is None:
        raise NotReadyError("the server is still starting; retry in a few seconds.", retry_after=5)
    try:
        store.ping()
        database = "ok"
    except StoreError as exc:
        database = exc.message
    model = "ok" if state.embedder is not None else state.model_error
    problems = [database] if database != "ok" else []
    if state.embedder is None:
        problems.append(model)
    if jobs.closing:
        problems.append("the server is shutting down")
    if problems:
        raise NotReadyError(
            "not ready: " + "; ".join(problems), database=database, model=model, retry_after=5
        )
    return Health(status="ready", database="ok", model=state.embedder.model_id)


@router.get("/metrics", response_class=Response)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format: requests, latencies, units ingested, run durations."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
