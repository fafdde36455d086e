"""The service around the routes: metrics, the OpenAPI document, unknown routes, `voc keys`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_info, threadpool_limits
from typer.testing import CliRunner

from api.main import create_app
from tests.api.conftest import Api
from voc.cli import app as cli
from voc.embed import Embedder
from voc.keys import hash_secret, parse_token
from voc.settings import VocSettings, get_settings
from voc.store import Store


def _sample(metrics: str, name: str) -> float:
    [line] = [m for m in metrics.splitlines() if m.startswith((name + " ", name + "{"))]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_requests_by_route_template_and_units_ingested(api: Api) -> None:
    before = api.client.get("/metrics").text
    api.client.get("/v1/workspaces/acme/records/abc", headers=api.headers("acme-read"))
    api.client.post(
        "/v1/workspaces/acme/feedback",
        json={"records": [{"source": "review", "text": "Metrics should count this unit."}]},
        headers=api.headers("acme-submit"),
    )
    after = api.client.get("/metrics").text
    series = (
        'voc_http_requests_total{method="GET",'
        'route="/v1/workspaces/{ws}/records/{record_id}",status="404"}'
    )
    previous = _sample(before, series) if series in before else 0.0
    assert _sample(after, series) == previous + 1
    units = "voc_units_ingested_total"
    assert _sample(after, units) == _sample(before, units) + 1
    assert 'voc_records_submitted_total{status="accepted"}' in after
    assert "voc_http_request_duration_seconds_bucket" in after


def test_unknown_routes_are_404_problems(api: Api) -> None:
    response = api.client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "no route GET /v2/nothing; see /docs for the API."


def test_openapi_documents_the_record_fields_and_bearer_keys(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    batch = spec["components"]["schemas"]["FeedbackBatch"]
    item = batch["properties"]["records"]["items"]
    assert set(item["properties"]) == {
        "source",
        "text",
        "turns",
        "external_id",
        "created_at",
        "metadata",
    }
    assert batch["examples"][0]["records"][0]["source"] == "ticket"
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    errors = spec["paths"]["/v1/workspaces/{ws}/themes"]["get"]["responses"]
    for status in ("401", "403", "404", "422", "429"):
        content = errors[status]["content"]
        assert content == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert set(spec["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
    }


@pytest.fixture
def cli_store(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    monkeypatch.setenv("VOC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VOC_DATABASE_URL", database_url)
    get_settings.cache_clear()
    store = Store.open(get_settings().resolved_database_url)
    yield store
    store.close()
    get_settings.cache_clear()


def test_voc_keys_create_list_and_revoke(cli_store: Store) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli, ["keys", "create", "--workspace", "acme", "--scope", "read", "--scope", "submit"]
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    parsed = parse_token(token)
    assert parsed is not None
    [key] = cli_store.list_api_keys("acme")
    assert (key.id, key.scopes, key.revoked_at) == (parsed[0], ["read", "submit"], None)
    assert key.secret_hash == hash_secret(parsed[1]) and parsed[1] not in key.secret_hash

    listed = runner.invoke(cli, ["keys", "list"])
    assert key.id in listed.output and parsed[1] not in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", key.id])
    assert revoked.exit_code == 0 and cli_store.list_api_keys("acme")[0].revoked_at is not None

    bad = runner.invoke(cli, ["keys", "create", "--workspace", "acme", "--scope", "write"])
    assert bad.exit_code == 2
    assert "scopes must be one or more of read, submit, admin; got write." in bad.output


def test_cors_is_off_unless_origins_are_configured(api: Api) -> None:
    origin = {"Origin": "https://pm.example.com"}
    assert "access-control-allow-origin" not in api.client.get("/healthz", headers=origin).headers
    settings = VocSettings(api_cors_origins=["https://pm.example.com"], _env_file=None)
    preflight = TestClient(create_app(settings)).options(
        "/v1/workspaces/acme/themes",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://pm.example.com"


def test_readyz_is_a_503_problem_until_the_lifespan_has_run() -> None:
    response = TestClient(create_app(VocSettings(_env_file=None))).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:voc:problem:not_ready"


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_the_app_caps_blas_at_api_threads_while_it_serves(
    tmp_path: Path, database_url: str, embedder: Embedder
) -> None:
    """The lifespan runs here, in the main thread, as under `voc serve`: this OpenBLAS ignores
    a thread count set from another thread (TestClient's) once the main thread has set one."""
    settings = VocSettings(
        data_dir=tmp_path, database_url=database_url, api_threads=1, _env_file=None
    )
    app = create_app(settings, embedder)
    inside: list[set[int]] = []

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            inside.append(_blas_threads())

    with threadpool_limits(2, user_api="blas"):
        assert _blas_threads() == {2}
        asyncio.run(serve())
        assert inside == [{1}]
        assert _blas_threads() == {2}


def test_voc_serve_asks_for_httptools_and_uvloop_and_falls_back_without_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from voc.cli import server_stack

    assert server_stack() == {"http": "httptools", "loop": "uvloop"}
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name)
    )
    assert server_stack() == {"http": "httptools", "loop": "asyncio"}
    assert "uvloop not installed" in capsys.readouterr().err
