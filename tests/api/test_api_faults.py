"""The API under faults: the database down or locked, a model that did not load, a restart
after a crash. Clear 503 problems (with Retry-After when waiting helps), /readyz saying what
is wrong, and nothing accepted lost: a submit stores its whole batch or answers an error."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.jobs import upload_path
from api.main import create_app
from tests.backends import Backend, PostgresCluster
from voc.embed import Embedder
from voc.jobs import INTERRUPTED
from voc.keys import create_key
from voc.settings import VocSettings
from voc.store import Store
from voc.types import Run

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
BATCH = {
    "records": [
        {"source": "ticket", "external_id": f"OUT-{i}", "text": text}
        for i, text in enumerate(
            [
                "提现三天了还没到账。",
                "The app logs me out every time I open it.",
                "客服电话打不通。",
            ]
        )
    ]
}


@contextlib.contextmanager
def _sqlite_locked(path: Path) -> Iterator[None]:
    """Another writer holds SQLite's write lock (reads still work: WAL)."""
    other = sqlite3.connect(path)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


@pytest.fixture
def outage(backend: Backend, tmp_path: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """A database URL and a context manager that makes that database unusable: SQLite locked
    by another writer past a 1 s busy timeout; a private PostgreSQL cluster stopped (the
    session's shared cluster is never touched)."""
    if backend.cluster is None:
        path = tmp_path / "voc.db"
        yield f"sqlite:///{path}?timeout=1", lambda: _sqlite_locked(path)
        return
    cluster = PostgresCluster.start(backend.cluster.bindir)

    @contextlib.contextmanager
    def stopped() -> Iterator[None]:
        cluster.stop_server()
        try:
            yield
        finally:
            cluster.start_server()

    try:
        yield cluster.create_database(), stopped
    finally:
        cluster.stop()


def test_a_database_outage_is_a_503_with_retry_after_and_loses_nothing(
    outage: tuple[str, Callable[[], Any]], tmp_path: Path, embedder: Embedder
) -> None:
    url, down = outage
    settings = VocSettings(data_dir=tmp_path, database_url=url, api_rate_limit=0, _env_file=None)
    store = Store.open(url)
    _, token = create_key(store, "w", ["submit", "read"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, embedder)) as client:
        assert client.get("/readyz").status_code == 200
        with down():
            ready = client.get("/readyz")
            submit = client.post("/v1/workspaces/w/feedback", json=BATCH, headers=headers)
            assert client.get("/healthz").status_code == 200
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
        assert ready.json()["model"] == "ok" and "is unavailable" in ready.json()["database"]
        assert submit.status_code == 503, submit.text
        assert submit.headers["content-type"] == "application/problem+json"
        assert submit.headers["Retry-After"] == "5"
        problem = submit.json()
        assert (
            problem["code"] == "store_error"
            and "retry once the database is back" in (problem["detail"])
        )
        assert "password" not in problem["detail"]

        assert client.get("/readyz").status_code == 200, "the server recovers by itself"
        assert store.count("w") == 0, "an answered error stored nothing"
        again = client.post("/v1/workspaces/w/feedback", json=BATCH, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["accepted"] == 3
        assert store.count("w") == 3
    store.close()


@pytest.mark.parametrize("model", ["missing", "broken"])
def test_without_its_model_the_api_serves_reads_and_refuses_writes_clearly(
    settings: VocSettings, tmp_path: Path, model: str
) -> None:
    path = tmp_path / model
    if model == "broken":
        path.mkdir()
        (path / "modules.json").write_text("{not json")
    store = Store.open(settings.resolved_database_url)
    _, token = create_key(store, "w", ["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    broken = settings.model_copy(update={"model": str(path)})
    with TestClient(create_app(broken)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "ok" and str(path) in ready.json()["model"]
        assert str(path) in ready.json()["detail"]
        for method, route, body in (
            ("post", "/feedback", {"json": BATCH}),
            ("post", "/runs", {"json": {}}),
            ("post", "/uploads?source=ticket&filename=a.csv", {"content": b"text\nhello\n"}),
        ):
            refused = getattr(client, method)(f"/v1/workspaces/w{route}", headers=headers, **body)
            assert refused.status_code == 503, (route, refused.text)
            assert refused.json()["code"] == "model_unavailable"
            assert str(path) in refused.json()["detail"]
            assert "Retry-After" not in refused.headers, "waiting does not bring a model back"
        assert client.get("/v1/workspaces/w/themes", headers=headers).status_code == 200
    assert store.count("w") == 0
    store.close()


def test_a_restart_requeues_uploads_and_fails_runs_of_the_process_that_died(
    settings: VocSettings, embedder: Embedder, dead_owner: dict[str, Any]
) -> None:
    """What a server killed with SIGKILL leaves: a running run job and an upload job whose
    file is saved. The next start fails the run (the previous one stays current) and ingests
    the upload under a new job."""
    store = Store.open(settings.resolved_database_url)
    store.ensure_workspace("w")
    run_job = store.create_job("r" * 32, "w", "run", {"run_id": "k" * 32}, True, dead_owner)
    store.start_run(Run("k" * 32, "w", "running", run_job.created_at, {}, "m@1", "test"))
    upload = store.create_job(
        uuid.uuid4().hex, "w", "upload", {"source": "ticket", "file": "t.csv"}, False, dead_owner
    )
    saved = upload_path(settings.data_dir, "w", upload.id, "t.csv")
    saved.parent.mkdir(parents=True)
    saved.write_bytes((DATA / "tickets" / "tickets_gb18030.csv").read_bytes())

    with TestClient(create_app(settings, embedder)):
        old = store.get_job("w", upload.id)
        new_id = old.result["requeued_as"]
        assert old.status == "failed" and f"queued again as job {new_id}" in old.error
        for _ in range(300):
            if store.get_job("w", new_id).status in ("done", "failed"):
                break
            time.sleep(0.05)
        new = store.get_job("w", new_id)
        assert (new.status, new.result["accepted"]) == ("done", 3), new.error
    assert not saved.parent.exists()
    assert store.count("w") == 3
    failed = store.get_job("w", run_job.id)
    assert failed.status == "failed" and failed.error.startswith(INTERRUPTED)
    assert store.get_run("w", "k" * 32).status == "failed"
    store.close()
