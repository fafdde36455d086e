"""The FastAPI app, built by `create_app(settings)`: nothing happens at import time.

The lifespan opens the store (migrating it), loads the embedder once with the loader the CLI
uses (a model that fails to load leaves reads working and /readyz naming the problem), starts
the job runner, recovers jobs of processes that died, and on shutdown gives running jobs
VOC_SHUTDOWN_GRACE_S (api/jobs.py); routes reach them through api.deps. It also caps BLAS at
`api_threads` (default 1) for the app's life: requests run in parallel already, and numpy
sized its pool when it was imported, so environment variables set now would come too late.
Re-cluster jobs run in child processes (api/runjob.py) that size their pools the same way.
uvicorn runs the lifespan in the main thread, which matters: the bundled OpenBLAS ignores a
thread count set from another thread once the main thread has set one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from threadpoolctl import threadpool_limits

from api import errors
from api.jobs import JobRunner
from api.keycache import KeyCache
from api.limits import BodyLimitMiddleware
from api.metrics import Metrics, MetricsMiddleware
from api.ratelimit import RateLimiter
from api.routes import (
    alerts,
    curation,
    feedback,
    health,
    records,
    report,
    runs,
    themes,
    trends,
    uploads,
)
from api.schemas import Problem
from api.themecache import ServedRuns
from voc import __version__
from voc.embed import Embedder, load_embedder
from voc.errors import VocError
from voc.pipeline import Ingestor, ThemeAssigner
from voc.settings import VocSettings, apply_thread_limits, get_settings
from voc.store import Store

log = logging.getLogger("voc.api")

DESCRIPTION = """Voice of customer over HTTP: submit feedback, read themes, quotes and runs.

Every route under `/v1/workspaces/{ws}` needs an API key (`Authorization: Bearer voc_...`,
from `voc keys create`) of that workspace with the route's scope: `read`, `submit` or `admin`.
Errors are RFC 9457 `application/problem+json`.
"""


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the Problem schema every error response refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
    return app.openapi_schema


def _load_model(
    settings: VocSettings, embedder: Embedder | None
) -> tuple[Embedder | None, str | None]:
    """The embedder, or None and why not. A model that cannot be loaded does not stop the
    server: reads need no model, and /readyz reports the problem (503) so an orchestrator
    keeps traffic away while /healthz says the process itself is fine."""
    try:
        model = embedder or load_embedder(settings.model, threads=settings.api_threads)
        model.encode(["warm up"])  # backends load weights lazily; pay that before serving
    except Exception as exc:
        message = exc.message if isinstance(exc, VocError) else f"{type(exc).__name__}: {exc}"
        log.error("model_unavailable model=%s error=%s", settings.model or "default", message)
        return None, f"the embedding model ({settings.model or 'default'}) did not load: {message}"
    return model, None


def create_app(settings: VocSettings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """The app for `settings` (default: from the environment). `embedder` lets a process that
    already holds a loaded model (tests, benchmarks) share it instead of loading another."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        apply_thread_limits(settings.api_threads)
        blas = threadpool_limits(settings.api_threads, user_api="blas")
        try:
            store = Store.open(settings.resolved_database_url)
            model, model_error = _load_model(settings, embedder)
            ingestor = Ingestor(store, settings)
            assigner = ThemeAssigner(model, settings.assign_threshold) if model else None
            app.state.store = store
            app.state.served = ServedRuns(store)
            app.state.themes = app.state.served.themes
            app.state.embedder = model
            app.state.model_error = model_error
            app.state.ingestor = ingestor
            app.state.assigner = assigner
            app.state.jobs = JobRunner(
                store, settings, model, ingestor, assigner, metrics, model_error
            )
            app.state.jobs.recover()
            try:
                yield
            finally:
                app.state.jobs.shutdown(settings.shutdown_grace_s)
                store.close()
        finally:
            blas.restore_original_limits()

    app = FastAPI(
        title="voc",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.limiter = RateLimiter(settings.api_rate_limit)
    app.state.keys = KeyCache(settings.api_key_cache_s)
    errors.install(app)
    routers = (health, feedback, themes, trends, records, runs, uploads, curation, alerts, report)
    for module in routers:
        app.include_router(module.router)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(BodyLimitMiddleware, limit_bytes=int(settings.api_upload_limit_mb * 1e6))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
