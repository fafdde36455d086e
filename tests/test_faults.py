"""Faults with real processes: a re-cluster killed with SIGKILL, a full disk under SQLite, a
model that cannot be loaded. Each runs `python -m voc` as a subprocess on the test's own
database, so a crash is a real crash and a restart a real restart."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from voc.embed import Embedder, load_embedder
from voc.errors import RunInProgressError
from voc.jobs import INTERRUPTED, recover_interrupted
from voc.keys import create_key
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store

ROOT = Path(__file__).resolve().parent.parent
DEMO = CORPORA_DIR / "demo"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


def _env(settings: VocSettings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "VOC_DATA_DIR": str(settings.data_dir),
        "VOC_DATABASE_URL": settings.resolved_database_url,
        "VOC_WORKSPACE": "w",
        "VOC_THREADS": "1",
        **extra,
    }


def _voc(settings: VocSettings, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voc", *args],
        cwd=ROOT,
        env=_env(settings, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _running_run(store: Store, worker: subprocess.Popen[str], known: set[str]) -> str:
    """The id of the run the worker started, as soon as its row says `running`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for run in store.list_runs("w"):
            if run.run_id not in known and run.status == "running":
                return run.run_id
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited first: {_finish(worker)}")
        time.sleep(0.02)
    raise AssertionError("the worker's run never started")


@pytest.mark.slow
def test_a_recluster_killed_mid_run_keeps_the_previous_run_and_the_next_run_succeeds(
    store: Store, settings: VocSettings, embedder: Embedder
) -> None:
    ingestor = Ingestor(store, settings)
    ingestor.ingest_paths([DEMO / "interviews"], "interview", "w")
    previous, _ = recluster(store, settings, "w", embedder)
    # New units the killed run must embed first: it stays `running` for seconds.
    ingestor.ingest_paths([DEMO / "reviews" / "app_store_en.csv"], "review", "w")

    worker = _voc(settings, "recluster", "--workspace", "w")
    killed = _running_run(store, worker, {previous.run_id})
    # While it runs, it is a live process's run: left alone, and every other run is refused.
    assert not recover_interrupted(store, settings.run_stale_after_s)
    with pytest.raises(RunInProgressError, match=f"pid {worker.pid}"):
        recluster(store, settings, "w", embedder)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)

    assert store.get_run("w", killed).status == "running", "a killed process records nothing"
    assert store.current_run("w") == previous
    assert store.list_themes(previous.run_id)

    code, out, err = _finish(_voc(settings, "recluster", "--workspace", "w"))
    assert code == 0, err
    assert f"run {killed} was interrupted" in " ".join(err.split())
    failed = store.get_run("w", killed)
    assert (failed.status, failed.is_current) == ("failed", False)
    assert failed.error.startswith(INTERRUPTED) and "previous run stays current" in failed.error
    latest = store.current_run("w")
    assert latest is not None and latest.run_id not in (previous.run_id, killed)
    assert latest.n_units == store.count("w", "units")

    _, token = create_key(store, "w", ["read"])
    with TestClient(create_app(settings, embedder)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        runs = client.get("/v1/workspaces/w/runs", headers=headers).json()["data"]
        assert [(r["run_id"], r["status"]) for r in runs] == [
            (latest.run_id, "done"),
            (killed, "failed"),
            (previous.run_id, "done"),
        ]
        themes = client.get("/v1/workspaces/w/themes", headers=headers).json()
        assert themes["run_id"] == latest.run_id and themes["count"] > 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs for the database, mounted for the test (root only), unmounted after."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """Fill the file system but `leave_bytes`."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, free - leave_bytes))
    return filler


@pytest.mark.slow
def test_a_full_disk_fails_the_run_clearly_and_the_previous_run_stays_current(
    tiny_disk: Path, tmp_path: Path, embedder: Embedder
) -> None:
    # Only the database is on the tiny disk; caches (jieba's) stay in the data directory.
    settings = VocSettings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tiny_disk / 'voc.db'}",
        workspace="w",
        _env_file=None,
    )
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    ingestor.ingest_paths([DEMO / "interviews"], "interview", "w")
    previous, _ = recluster(store, settings, "w", embedder)
    # New text whose vectors must be cached: more than the disk has left.
    ingestor.ingest_paths([DEMO / "reviews" / "app_store_en.csv"], "review", "w")
    store.close()
    with sqlite3.connect(tiny_disk / "voc.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = _fill(tiny_disk, 256 * 1024)

    code, _, err = _finish(_voc(settings, "recluster", "--workspace", "w"))
    assert code == 2
    assert "store_error" in err and "the disk is full" in " ".join(err.split())
    store = Store.open(settings.resolved_database_url)
    try:
        assert store.current_run("w") == previous
        [attempt] = [r for r in store.list_runs("w") if r.run_id != previous.run_id]
        assert attempt.status in ("failed", "running")  # recorded, or left to recovery
        filler.unlink()

        code, _, err = _finish(_voc(settings, "recluster", "--workspace", "w"))
        assert code == 0, err
        latest = store.current_run("w")
        assert latest is not None and latest.run_id not in (previous.run_id, attempt.run_id)
        assert store.get_run("w", attempt.run_id).status == "failed"
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["missing", "broken"])
def test_a_model_that_cannot_load_is_a_clear_cli_error(tmp_path: Path, model: str) -> None:
    settings = VocSettings(data_dir=tmp_path / "voc", _env_file=None)
    path = tmp_path / model
    if model == "broken":
        path.mkdir()
        (path / "modules.json").write_text("{not json")
    code, _, err = _finish(_voc(settings, "recluster", "--workspace", "w", VOC_MODEL=str(path)))
    message = " ".join(err.split())
    assert code == 2 and "error (model_unavailable)" in message
    assert str(path) in message
    expected = "set VOC_MODEL" if model == "missing" else "must hold a complete model"
    assert expected in message


@pytest.mark.slow
def test_a_database_that_does_not_answer_is_a_clear_cli_error(tmp_path: Path) -> None:
    settings = VocSettings(
        data_dir=tmp_path,
        database_url=f"postgresql+psycopg://voc:secret@/voc?host={tmp_path / 'no-server'}",
        _env_file=None,
    )
    code, _, err = _finish(_voc(settings, "recluster", "--workspace", "w"))
    message = " ".join(err.split())
    assert code == 2 and "error (store_error)" in message
    assert "is unavailable: cannot connect to the server" in message
    assert "secret" not in message, "the password never reaches a message"
