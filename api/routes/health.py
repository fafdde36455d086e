"""Liveness, readiness and Prometheus metrics: the only routes without an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import MetricsDep
from api.errors import NotReadyError
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(request: Request) -> Health:
    """The database answers and the embedding model is loaded."""
    store = getattr(request.app.state, "store", None)
    embedder = getattr(request.app.state, "embedder", None)
    if store is None or embedder is None:
        raise NotReadyError("the server is still starting; retry in a few seconds.")
    store.ping()
    return Health(status="ready", database="ok", model=embedder.model_id)


@router.get("/metrics", response_class=Response)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format: requests, latencies, units ingested, run durations."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
