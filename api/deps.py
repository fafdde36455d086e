"""Dependencies, one `Annotated` alias each: what a route needs, resolved per request from the
app's state (built once in the lifespan) and the caller's API key.

Those that only read app state or check the key are `async def`: FastAPI runs a plain `def`
dependency in its thread pool, a hop that costs more than the work of these. The database is
never read on the event loop (a slow one would stall every request): `current_key` reads a
key the key cache does not hold in a worker thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ForbiddenError, UnauthorizedError
from api.jobs import JobRunner
from api.keycache import KeyCache
from api.metrics import Metrics
from api.ratelimit import RateLimiter
from api.themecache import RunThemes, ServedRuns
from voc.errors import ModelUnavailableError, NotFoundError
from voc.keys import has_scope, parse_token, verify
from voc.pipeline import Ingestor, ThemeAssigner
from voc.settings import VocSettings
from voc.store import ApiKey, Store

_bearer = HTTPBearer(auto_error=False, description="An API key from `voc keys create`.")


async def _settings(request: Request) -> VocSettings:
    return request.app.state.settings


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _ingestor(request: Request) -> Ingestor:
    return request.app.state.ingestor


async def _assigner(request: Request) -> ThemeAssigner:
    """The live assigner; without a loaded model, a 503 that names the problem, raised before
    anything is stored, so a submit is never half done."""
    assigner = request.app.state.assigner
    if assigner is None:
        raise ModelUnavailableError(
            f"{request.app.state.model_error} Submitting feedback needs the embedding model to "
            "place new units in themes; nothing was stored. Fix VOC_MODEL (see /readyz) and "
            "send the batch again; reads still work."
        )
    return assigner


async def _jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


async def _themes(request: Request) -> RunThemes:
    return request.app.state.themes


async def _served(request: Request) -> ServedRuns:
    return request.app.state.served


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def _limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


SettingsDep = Annotated[VocSettings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
AssignerDep = Annotated[ThemeAssigner, Depends(_assigner)]
JobsDep = Annotated[JobRunner, Depends(_jobs)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
ThemesDep = Annotated[RunThemes, Depends(_themes)]
ServedDep = Annotated[ServedRuns, Depends(_served)]


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's key, checked against its stored hash, then charged one request. The row
    comes from the key cache when it was read in the last VOC_API_KEY_CACHE_S (api/keycache.py),
    else from the store in a worker thread. App state is read here rather than through the
    dependencies above: this runs on every request, and each dependency costs FastAPI time."""
    state = request.app.state
    keys: KeyCache = state.keys
    if credentials is None:
        raise UnauthorizedError(
            "send an API key as `Authorization: Bearer voc_...`; create one with "
            "`voc keys create --workspace W --scope read`."
        )
    parsed = parse_token(credentials.credentials)
    key = None
    if parsed is not None:
        key = keys.cached(parsed[0]) or await run_in_threadpool(keys.load, state.store, parsed[0])
    if key is None or parsed is None or not verify(key, parsed[1]):
        raise UnauthorizedError("the API key is unknown or revoked; ask for a new one.")
    state.limiter.charge(key.id)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]

WorkspaceId = Annotated[
    str, Path(min_length=1, max_length=64, description="The workspace, e.g. demo.")
]


def _workspace_for(scope: str) -> Callable[[str, ApiKey], Awaitable[str]]:
    async def dependency(ws: WorkspaceId, key: CurrentKey) -> str:
        # A key never learns whether another workspace exists: same answer as a missing one.
        if key.workspace_id != ws:
            raise NotFoundError(f"workspace {ws!r} not found for this API key.")
        if not has_scope(key, scope):
            raise ForbiddenError(
                f"this API key has scopes {', '.join(key.scopes)}; this route needs {scope!r}. "
                f"Create a key with `--scope {scope}`."
            )
        return ws

    return dependency


ReadWorkspace = Annotated[str, Depends(_workspace_for("read"))]
SubmitWorkspace = Annotated[str, Depends(_workspace_for("submit"))]
AdminWorkspace = Annotated[str, Depends(_workspace_for("admin"))]
