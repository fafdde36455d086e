"""Keys and isolation on every route of the app's route table: no key is 401, another
workspace's key is 404 (it never learns whether the workspace exists), a missing scope is 403,
and every one of them is problem+json."""

from __future__ import annotations

import httpx
import pytest

from api.main import create_app
from tests.api.conftest import Api
from voc.keys import create_key
from voc.settings import VocSettings

OPEN_ROUTES = {"/healthz", "/readyz", "/metrics"}
SUBMIT_ROUTES = {"/feedback", "/uploads"}
IDS = {
    "{theme_id}": "T-0001",
    "{record_id}": "r1",
    "{run_id}": "run1",
    "{job_id}": "job1",
    "{curation_id}": "1",
}


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every operation the app publishes, from its OpenAPI document."""
    paths = create_app(VocSettings(_env_file=None)).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN_ROUTES
        for method in operations
    ]


ROUTES = _routes()


def _url(path: str, ws: str) -> str:
    url = path.replace("{ws}", ws)
    for name, value in IDS.items():
        url = url.replace(name, value)
    return url


def _needed_scope(method: str, path: str) -> str:
    if method == "GET":
        return "read"
    return "submit" if path.removeprefix("/v1/workspaces/{ws}") in SUBMIT_ROUTES else "admin"


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"], body["code"]) == (f"urn:voc:problem:{code}", status, code)
    assert body["detail"]


def test_every_workspace_route_is_covered() -> None:
    assert {path.removeprefix("/v1/workspaces/{ws}") for _, path in ROUTES} == {
        "/feedback",
        "/themes",
        "/themes/{theme_id}",
        "/themes/{theme_id}/quotes",
        "/themes/{theme_id}/units",
        "/units",
        "/records/{record_id}",
        "/trends",
        "/runs",
        "/runs/{run_id}",
        "/jobs/{job_id}",
        "/uploads",
        "/themes/{theme_id}/rename",
        "/themes/{theme_id}/merge",
        "/themes/{theme_id}/split",
        "/themes/{theme_id}/pin",
        "/themes/{theme_id}/hide",
        "/curations",
        "/curations/{curation_id}",
        "/alerts",
        "/report",
        "/needs",
    }


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_route_without_a_key_is_401(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, _url(path, "acme"))
    _assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_key_of_another_workspace_gets_404_on_every_route(
    api: Api, method: str, path: str
) -> None:
    for ws in ("beta", "nowhere"):
        response = api.client.request(method, _url(path, ws), headers=api.headers("acme-admin"))
        _assert_problem(response, 404, "not_found")
        assert response.json()["detail"] == f"workspace {ws!r} not found for this API key."


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_key_without_the_scope_gets_403(api: Api, method: str, path: str) -> None:
    needed = _needed_scope(method, path)
    key = {"read": "acme-submit", "submit": "acme-read", "admin": "acme-submit"}[needed]
    response = api.client.request(method, _url(path, "acme"), headers=api.headers(key))
    _assert_problem(response, 403, "forbidden")
    assert f"this route needs {needed!r}" in response.json()["detail"]


def test_malformed_unknown_and_revoked_keys_are_401(api: Api) -> None:
    url = "/v1/workspaces/acme/themes"
    key, token = create_key(api.store, "acme", ["read"], "to revoke")
    assert api.client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    api.store.revoke_api_key(key.id)
    wrong_secret = token[: token.rindex("_") + 1] + "x" * 43
    for header in (f"Bearer {token}", "Bearer not-a-key", f"Bearer {wrong_secret}", token):
        _assert_problem(api.client.get(url, headers={"Authorization": header}), 401, "unauthorized")


def test_health_routes_need_no_key(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok", "database": None, "model": None}
    assert api.client.get("/readyz").json() == {
        "status": "ready",
        "database": "ok",
        "model": "use-m3@0.2.1",
    }
    assert api.client.get("/metrics").status_code == 200
