"""Graceful shutdown of a real `voc serve` on a free loopback port: on SIGTERM it stops taking
connections, finishes the request in flight, fails the re-cluster that outlasts the grace
period (the previous run stays current) and hands back the queued upload, which the next
start ingests."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from voc.embed import Embedder
from voc.errors import NotFoundError
from voc.keys import create_key
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store, ingests

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
GRACE_S = 5
STOPPED = (0, -signal.SIGTERM)
"""uvicorn re-raises the SIGTERM it handled once shut down, so a clean stop may end by it."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(settings: VocSettings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VOC_DATA_DIR": str(settings.data_dir),
        "VOC_DATABASE_URL": settings.resolved_database_url,
        "VOC_SHUTDOWN_GRACE_S": str(GRACE_S),
        "VOC_API_RATE_LIMIT": "0",
    }
    command = [sys.executable, "-m", "voc", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"not ready after 120 s:\n{log.read_text()}")


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "source": "ticket",
            "external_id": f"SHUT-{i}",
            "text": f"第{i}号订单提现三天了还没到账，客服也联系不上。Order {i}: no refund yet.",
        }
        for i in range(n)
    ]


def _synthetic(n: int) -> list[dict[str, Any]]:
    words = [
        "refund",
        "withdrawal",
        "login",
        "crash",
        "verification",
        "fee",
        "delay",
        "card",
        "balance",
        "transfer",
    ]
    rng = random.Random(0)
    return [
        {
            "source": "ticket",
            "external_id": f"SYN-{i}",
            "text": f"Ticket {i}: the {rng.choice(words)} {rng.choice(words)} problem with my "
            f"{rng.choice(words)} is still there after {i % 97} days.",
        }
        for i in range(n)
    ]


def _run_started(store: Store, run_id: str) -> bool:
    try:
        store.get_run("w", run_id)
    except NotFoundError:
        return False
    return True


@pytest.mark.slow
def test_sigterm_finishes_requests_fails_the_late_run_and_hands_back_uploads(
    embedder: Embedder, tmp_path: Path
) -> None:
    # SQLite only: shutdown is the server process's behaviour; the conditional writes it
    # relies on (a failed run never becomes current) are tested on both in tests/test_jobs.py.
    settings = VocSettings(data_dir=tmp_path / "voc", _env_file=None)
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", "w")
    previous, _ = recluster(store, settings, "w", embedder)
    # 6,000 units never embedded: a re-cluster of them takes about 20 s on two idle cores,
    # well past both grace periods (the request's, then the jobs').
    ingestor.submit(_synthetic(6000), "w")
    _, token = create_key(store, "w", ["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    api = f"{base}/v1/workspaces/w"

    server = _serve(settings, port, log)
    _wait_ready(base, server, log)
    run_job = httpx.post(f"{api}/runs", json={}, headers=headers).json()
    upload = httpx.post(
        f"{api}/uploads",
        params={"source": "ticket", "filename": "t.csv"},
        content=(DATA / "tickets" / "tickets_gb18030.csv").read_bytes(),
        headers=headers,
    ).json()
    assert upload["status"] == "queued", "one job worker: the upload waits behind the run"

    # The run's child process must have started its run before SIGTERM, as the assertions
    # below expect: on a busy machine importing and loading the model takes seconds.
    deadline = time.monotonic() + 60
    while not _run_started(store, run_job["params"]["run_id"]):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)

    answer: dict[str, Any] = {}

    def submit() -> None:
        response = httpx.post(
            f"{api}/feedback", json={"records": _records(100)}, headers=headers, timeout=60
        )
        answer.update(status=response.status_code, body=response.json(), at=time.monotonic())

    def feedback_in_flight() -> bool:
        """The request's ingest has started and not finished (the upload's waits, queued)."""
        with store.engine.connect() as conn:
            running = sa.select(ingests.c.id).where(ingests.c.workspace_id == "w")
            return conn.execute(running.where(ingests.c.status == "running")).first() is not None

    in_flight = threading.Thread(target=submit)
    in_flight.start()
    # On a busy machine the thread may not have connected 0.1 s later: wait until the server
    # is inside the request, or SIGTERM finds nothing in flight.
    deadline = time.monotonic() + 30
    while not feedback_in_flight():
        assert in_flight.is_alive() and time.monotonic() < deadline, "the request never started"
        time.sleep(0.01)
    sigterm_at = time.monotonic()
    server.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=2)
    in_flight.join(timeout=60)
    assert server.wait(timeout=3 * GRACE_S + 20) in STOPPED, log.read_text()

    assert answer["at"] > sigterm_at, "the request was in flight when SIGTERM came"
    assert answer["status"] == 200 and answer["body"]["accepted"] == 100
    job = store.get_job("w", run_job["job_id"])
    assert job.status == "failed" and "the server shut down" in job.error, job
    assert f"grace period {GRACE_S} s" in job.error
    run = store.get_run("w", run_job["params"]["run_id"])
    assert (run.status, run.is_current) == ("failed", False)
    assert store.current_run("w") == previous
    assert store.get_job("w", upload["job_id"]).status == "queued", "handed back, file kept"

    server = _serve(settings, port, log)
    try:
        _wait_ready(base, server, log)
        handed_back = store.get_job("w", upload["job_id"])
        assert handed_back.status == "failed" and "queued again" in handed_back.error
        again = handed_back.result["requeued_as"]
        deadline = time.monotonic() + 60
        while store.get_job("w", again).status not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert store.get_job("w", again).result["accepted"] == 3
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in STOPPED, log.read_text()
    assert store.count("w", "records") >= 100 + 3
    store.close()
