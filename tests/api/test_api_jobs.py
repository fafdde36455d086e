"""Background jobs: re-cluster runs (202, one at a time, then served, each in a process of
its own) and uploads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import runjob
from api.jobs import CHILD_STOP_S
from api.main import create_app
from tests.api.conftest import Api
from tests.backends import Backend
from voc.embed import Embedder
from voc.errors import NotFoundError
from voc.jobs import INTERRUPTED, ProcessOwner, acquire_run_lock, process_alive
from voc.keys import create_key
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR
from voc.store import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
BETA = "/v1/workspaces/beta"


def _wait(api: Api, job_id: str, ws: str = "beta", key: str = "beta-admin") -> dict:
    for _ in range(300):
        job = api.client.get(f"/v1/workspaces/{ws}/jobs/{job_id}", headers=api.headers(key)).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_run_is_queued_refused_twice_and_then_served(api: Api) -> None:
    headers = api.headers("beta-admin")
    assert api.client.get(f"{BETA}/themes", headers=headers).json() == {
        "data": [],
        "count": 0,
        "run_id": None,
    }
    pending = api.client.post(
        f"{BETA}/feedback",
        json={"records": [{"source": "review", "text": "Please add a dark mode."}]},
        headers=headers,
    ).json()
    assert pending["items"][0]["units"][0]["status"] == "pending"

    started = api.client.post(f"{BETA}/runs", json={"seed": 1}, headers=headers)
    again = api.client.post(f"{BETA}/runs", headers=headers)
    assert started.status_code == 202
    assert started.headers["Location"] == f"{BETA}/jobs/{started.json()['job_id']}"
    params = started.json()["params"]
    assert (started.json()["kind"], params["seed"], params["clusterer"]) == ("run", 1, {})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    job = _wait(api, started.json()["job_id"])
    assert job["status"] == "done", job["error"]
    run_id = job["result"]["run_id"]
    assert run_id == params["run_id"]
    run = api.client.get(f"{BETA}/runs/{run_id}", headers=headers).json()
    assert (run["status"], run["is_current"], run["params"]) == (
        "done",
        True,
        # a workspace below VOC_FIT_SAMPLE units learns its themes from all of them
        {"seed": 1, "previous_run": None, "fit_units": run["n_units"], "engine": "local"},
    )
    assert run["stability"] is None, "a workspace's first run has nothing to be stable against"
    assert (run["job_id"], run["progress"]) == (
        job["job_id"],
        {"step": "cluster", "done": 1, "total": 1},
    )
    steps = {k for k in run["timings"] if "." not in k}
    assert steps == {"load", "embed", "cluster", "assign", "describe", "needs", "store"}
    assert {"cluster.graph", "cluster.communities", "cluster.assign"} <= set(run["timings"])
    assert run["n_units"] == api.store.count("beta", "units")
    themes = api.client.get(f"{BETA}/themes", headers=headers).json()
    assert themes["run_id"] == run_id and themes["count"] == len(api.store.list_themes(run_id))
    runs = api.client.get(f"{BETA}/runs", headers=headers).json()
    assert [r["run_id"] for r in runs["data"]] == [run_id]

    after = api.client.post(f"{BETA}/runs", headers=headers)
    assert after.status_code == 202
    assert _wait(api, after.json()["job_id"])["status"] == "done"


def test_an_upload_is_ingested_by_a_job_and_assigned_to_themes(api: Api) -> None:
    acme = "/v1/workspaces/acme"
    headers = api.headers("acme-admin")
    before = api.store.count("acme")
    body = (DATA / "tickets" / "tickets_gb18030.csv").read_bytes()
    response = api.client.post(
        f"{acme}/uploads",
        params={"source": "ticket", "filename": "kefu export.csv"},
        content=body,
        headers=headers,
    )
    assert response.status_code == 202, response.text
    assert response.json()["params"] == {"source": "ticket", "file": "kefu_export.csv"}
    job = _wait(api, response.json()["job_id"], "acme", "acme-admin")
    assert job["status"] == "done", job["error"]
    result = job["result"]
    assert {k: result[k] for k in ("read", "accepted", "duplicate", "rejected")} == {
        "read": 3,
        "accepted": 3,
        "duplicate": 0,
        "rejected": 0,
    }
    assert result["assigned"] + result["pending"] == result["units"] > 0
    assert api.store.count("acme") == before + 3
    [unit] = api.client.get(f"{acme}/units", params={"q": "换了新手机"}, headers=headers).json()[
        "data"
    ]
    assert unit["text"] == "换了新手机以后一直登录不上，验证码也收不到。"
    assert (unit["provisional"], unit["theme_id"] is not None) == (True, True)


def test_a_multipart_upload_takes_its_name_from_the_form(api: Api) -> None:
    body = (DATA / "reviews" / "reviews.csv").read_bytes()
    response = api.client.post(
        f"{BETA}/uploads",
        params={"source": "review"},
        files={"file": ("../app reviews.csv", body, "text/csv")},
        headers=api.headers("beta-admin"),
    )
    assert response.status_code == 202, response.text
    assert response.json()["params"] == {"source": "review", "file": "app_reviews.csv"}
    job = _wait(api, response.json()["job_id"])
    assert {k: job["result"][k] for k in ("read", "accepted", "rejected")} == {
        "read": 7,
        "accepted": 6,
        "rejected": 1,
    }
    [reject] = api.store.list_rejects("beta", job["result"]["ingest_id"])
    assert reject.reason == (
        "app_reviews.csv line 7: the review text is empty; fill it in or remove the row."
    )


def test_an_upload_without_a_file_name_or_form_field_is_422(api: Api) -> None:
    headers = api.headers("beta-admin")
    raw = api.client.post(
        f"{BETA}/uploads", params={"source": "ticket"}, content=b"id,subject\n", headers=headers
    )
    form = api.client.post(
        f"{BETA}/uploads",
        params={"source": "ticket"},
        files={"attachment": ("a.csv", b"id,subject\n")},
        headers=headers,
    )
    for response in (raw, form):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "input_error"
    assert raw.json()["detail"] == (
        "name the file with ?filename=export.csv; its extension picks the reader."
    )
    assert form.json()["detail"] == "send the file in a multipart form field named `file`."


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, backend: Backend
) -> Iterator[Api]:
    """An app with a 1 kB body limit and 4 requests a minute per key."""
    settings = backend.settings(
        tmp_path_factory.mktemp("strict"), api_upload_limit_mb=0.001, api_rate_limit=4
    )
    with TestClient(create_app(settings, embedder)) as client:
        store = client.app.state.store
        tokens = {"w": create_key(store, "w", ["submit", "read"])[1]}
        yield Api(client, store, settings, tokens)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_upload_over_the_limit_is_413_with_the_limit(strict: Api, declared: bool) -> None:
    rows = [b"id,subject\n", *([b"1,x\n"] * 1000)]
    response = strict.client.post(
        "/v1/workspaces/w/uploads",
        params={"source": "ticket", "filename": "big.csv"},
        content=b"".join(rows) if declared else iter(rows),
        headers=strict.headers("w"),
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "the request body is over the limit of 0.001 MB; split it or raise VOC_API_UPLOAD_LIMIT_MB."
    )
    assert not any((strict.settings.data_dir / "uploads").rglob("*.csv"))


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(strict: Api) -> None:
    url = "/v1/workspaces/w/themes"
    headers = {"Authorization": f"Bearer {create_key(strict.store, 'w', ['read'])[1]}"}
    statuses = [strict.client.get(url, headers=headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    limited = strict.client.get(url, headers=headers)
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 15
    assert limited.json()["detail"].startswith("this API key is limited to 4 requests a minute;")
    assert strict.client.get(url, headers=strict.headers("w")).status_code == 200


# -- each run in a process of its own (api/runjob.py) ------------------------------------------

GAMMA = "/v1/workspaces/gamma"


@pytest.fixture(scope="module")
def gamma(api: Api, embedder: Embedder) -> str:
    """Workspace `gamma`: the demo interviews, clustered once in this process (its current
    run), and an admin key `gamma-admin`."""
    ingestor = Ingestor(api.store, api.settings)
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", "gamma")
    recluster(api.store, api.settings, "gamma", embedder)
    api.tokens["gamma-admin"] = create_key(api.store, "gamma", ["admin"])[1]
    return "gamma"


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _in_progress(store: Store, ws: str, job_id: str) -> tuple[int, str]:
    """(pid, run id) as soon as the job's run row says `running` while another process than
    this one holds the job."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = store.get_job(ws, job_id)
        assert job.status in ("queued", "running"), f"the job ended first: {job}"
        pid = (job.owner or {}).get("pid")
        if pid is not None and pid != os.getpid():
            try:
                if store.get_run(ws, job.params["run_id"]).status == "running":
                    return pid, job.params["run_id"]
            except NotFoundError:
                pass
        time.sleep(0.01)
    raise AssertionError(f"job {job_id}'s run never ran in a process of its own")


def test_a_run_job_runs_in_a_child_process_that_holds_the_job_until_it_ends(
    api: Api, gamma: str
) -> None:
    headers = api.headers("gamma-admin")
    started = api.client.post(f"{GAMMA}/runs", json={"seed": 3}, headers=headers)
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    pid, run_id = _in_progress(api.store, gamma, job_id)
    assert _ppid(pid) == os.getpid(), "a child of the API process"
    owner = ProcessOwner.from_json(api.store.get_job(gamma, job_id).owner)
    assert owner is not None and owner.program.startswith("runjob")
    # A second run is refused naming the process that really runs the first.
    refused = api.client.post(f"{GAMMA}/runs", headers=headers)
    assert refused.status_code == 409 and f"pid {pid}" in refused.json()["detail"]

    job = _wait(api, job_id, "gamma", "gamma-admin")
    assert job["status"] == "done", job["error"]
    assert job["result"]["run_id"] == run_id and job["result"]["n_themes"] > 0
    assert {"n_units", "unassigned", "assigned_after_run"} <= set(job["result"])
    assert not process_alive(owner), "the child exited (and was reaped)"
    held = api.store.get_job(gamma, job_id).owner
    assert held is not None and held["pid"] == os.getpid(), "handed back to the API process"
    current = api.store.current_run(gamma)
    assert current is not None and current.run_id == run_id


def test_a_run_process_killed_mid_run_fails_its_job_and_the_previous_run_stays_current(
    api: Api, gamma: str
) -> None:
    previous = api.store.current_run(gamma)
    assert previous is not None
    headers = api.headers("gamma-admin")
    started = api.client.post(f"{GAMMA}/runs", json={}, headers=headers).json()
    pid, run_id = _in_progress(api.store, gamma, started["job_id"])
    os.kill(pid, signal.SIGKILL)

    job = _wait(api, started["job_id"], "gamma", "gamma-admin")
    assert job["status"] == "failed"
    assert job["error"].startswith(INTERRUPTED), job["error"]
    assert f"pid {pid}, was killed by SIGKILL" in job["error"]
    assert f"run {run_id} was not kept and the previous run stays current" in job["error"]
    run = api.store.get_run(gamma, run_id)
    assert (run.status, run.is_current, run.error) == ("failed", False, job["error"])
    assert api.store.current_run(gamma) == previous
    assert api.store.get_job(gamma, started["job_id"]).owner["pid"] == os.getpid()
    # The lock was released with the job.
    again = api.client.post(f"{GAMMA}/runs", json={}, headers=headers)
    assert again.status_code == 202
    assert _wait(api, again.json()["job_id"], "gamma", "gamma-admin")["status"] == "done"


def test_shutdown_past_its_grace_period_stops_the_run_process(
    api: Api, gamma: str, embedder: Embedder, capfd: pytest.CaptureFixture[str]
) -> None:
    previous = api.store.current_run(gamma)
    settings = api.settings.model_copy(update={"shutdown_grace_s": 0})
    headers = api.headers("gamma-admin")
    with TestClient(create_app(settings, embedder)) as client:
        started = client.post(f"{GAMMA}/runs", json={}, headers=headers).json()
        pid, run_id = _in_progress(api.store, gamma, started["job_id"])
        stopping = time.monotonic()
    took = time.monotonic() - stopping

    job = api.store.get_job(gamma, started["job_id"])
    assert job.status == "failed" and "the server shut down" in job.error, job
    assert "grace period 0 s" in job.error
    run = api.store.get_run(gamma, run_id)
    assert (run.status, run.is_current) == ("failed", False)
    assert run.error == job.error, "the shutdown's reason, recorded before the process stopped"
    assert api.store.current_run(gamma) == previous
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped before the shutdown returned
    assert took < CHILD_STOP_S, "it stopped on SIGTERM; SIGKILL was not needed"
    assert "stopped by SIGTERM" in capfd.readouterr().err, "the child's own log says why"


def test_a_run_process_whose_api_process_is_gone_stops_and_fails_its_run(
    api: Api, gamma: str
) -> None:
    """What the child sees when the API process dies (SIGKILL included): its stdin reaches end
    of file. It fails its run and its job itself, since nobody else will."""
    previous = api.store.current_run(gamma)
    owner = ProcessOwner.current().to_json()
    params = {"seed": 0, "clusterer": {}}
    job = acquire_run_lock(api.store, gamma, "e" * 32, params, api.settings.run_stale_after_s)
    api.store.update_job(job.id, status="running")
    request = runjob.request(
        job.id,
        gamma,
        job.params,
        api.settings.model_dump(mode="json"),
        api.store.url,
        owner,
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "api.runjob"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(request).encode() + b"\n")
    child.stdin.flush()
    try:
        assert _in_progress(api.store, gamma, job.id) == (child.pid, "e" * 32)
        child.stdin.close()
        answer = json.loads(child.stdout.read())
        assert child.wait(timeout=runjob.ORPHAN_EXIT_S + 10) == 1
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    reason = "interrupted: the process running it was stopped (the API process that started it "
    assert answer["status"] == "failed" and answer["error"].startswith(reason), answer
    failed = api.store.get_job(gamma, job.id)
    assert (failed.status, failed.error) == ("failed", answer["error"])
    run = api.store.get_run(gamma, "e" * 32)
    assert (run.status, run.is_current, run.error) == ("failed", False, answer["error"])
    assert api.store.current_run(gamma) == previous
