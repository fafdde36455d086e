"""The run lock and recovery (voc.jobs) on both databases: every run path takes the same
lock, and a restart fails the jobs and runs of processes that died, never those of live ones.

Owners are real processes: this test process (alive), and a `sleep` started and killed
(`dead_owner`), so liveness is judged exactly as in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from voc.errors import RunInProgressError, RunInterruptedError
from voc.jobs import INTERRUPTED, ProcessOwner, Stopped, acquire_run_lock, recover_interrupted
from voc.pipeline import failure_reason, recluster, weekly_recluster
from voc.settings import VocSettings
from voc.store import Job, Store, jobs
from voc.types import Run

STALE = 120.0


class UnusedEmbedder:
    """Never asked for a vector: the lock is refused before anything is embedded."""

    model_id = "unused@0"
    dim = 4

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("a refused run must not embed anything")


def _run(workspace: str, status: str = "running", current: bool = False) -> Run:
    return Run(
        run_id=uuid.uuid4().hex,
        workspace_id=workspace,
        status=status,
        started_at=datetime.now(UTC),
        params={},
        model_id="m@1",
        code_version="test",
        is_current=current,
    )


def _lock(store: Store, workspace: str, owner: dict | None, beat_age_s: float = 0.0) -> Job:
    """A run job holding the workspace's lock, as `owner` would have written it."""
    run_id = uuid.uuid4().hex
    job = store.create_job(uuid.uuid4().hex, workspace, "run", {"run_id": run_id}, True, owner)
    assert job is not None
    store.update_job(job.id, status="running")
    if beat_age_s:
        with store.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=beat_age_s))
            )
    store.start_run(replace(_run(workspace), run_id=run_id))
    return job


def test_a_run_held_by_a_live_process_refuses_every_other_run_path(
    store: Store, settings: VocSettings
) -> None:
    store.ensure_workspace("w")
    holder = acquire_run_lock(store, "w", "r1", {"seed": 0}, STALE)
    for attempt in (
        lambda: recluster(store, settings, "w", UnusedEmbedder()),
        lambda: weekly_recluster(store, settings, "w", UnusedEmbedder(), force=True),
        lambda: acquire_run_lock(store, "w", "r2", {}, STALE),
    ):
        with pytest.raises(RunInProgressError, match="already queued") as refused:
            attempt()
        assert holder.id in refused.value.message
        assert f"pid {os.getpid()}" in refused.value.message
        assert refused.value.status == 409
    assert [r.run_id for r in store.list_runs("w")] == []
    assert store.update_job(holder.id, status="done")
    assert acquire_run_lock(store, "w", "r3", {}, STALE).params["run_id"] == "r3"


def test_recovery_fails_what_dead_processes_held_and_leaves_live_ones(
    store: Store, dead_owner: dict[str, Any]
) -> None:
    for ws in ("dead", "reused", "live", "far-stale", "far-fresh", "legacy", "nojob"):
        store.ensure_workspace(ws)
    previous = _run("dead", status="done", current=True)
    store.start_run(previous)
    me = ProcessOwner.current().to_json()
    far = {**me, "machine": "another-boot/pid:[1]", "host": "worker-2"}
    dead = _lock(store, "dead", dead_owner)
    reused = _lock(store, "reused", {**me, "started": (me["started"] or 0) + 1})
    live = _lock(store, "live", me)
    far_stale = _lock(store, "far-stale", far, beat_age_s=STALE + 30)
    far_fresh = _lock(store, "far-fresh", far, beat_age_s=5)
    legacy = _lock(store, "legacy", None)
    lonely = _run("nojob")
    store.start_run(lonely)

    recovery = recover_interrupted(store, STALE)

    assert {j.id for j in recovery.jobs} == {dead.id, reused.id, far_stale.id, legacy.id}
    for job in (dead, reused, far_stale, legacy):
        failed = store.get_job(job.workspace_id, job.id)
        assert failed.status == "failed" and failed.error.startswith(INTERRUPTED)
        run = store.get_run(job.workspace_id, job.params["run_id"])
        assert (run.status, run.is_current) == ("failed", False)
        assert run.error.startswith(INTERRUPTED) and "previous run stays current" in run.error
    assert "sleep on" in store.get_job("dead", dead.id).error
    for job in (live, far_fresh):
        assert store.get_job(job.workspace_id, job.id).status == "running"
        assert store.list_runs(job.workspace_id)[0].status == "running"
    assert store.list_runs("nojob")[0].status == "failed"
    assert lonely.run_id in recovery.runs
    assert store.current_run("dead") == previous
    assert not recover_interrupted(store, STALE), "a second recovery finds nothing left"


def test_a_run_failed_as_interrupted_can_never_become_current(store: Store) -> None:
    store.ensure_workspace("w")
    previous = _run("w", status="done", current=True)
    store.start_run(previous)
    late = _run("w")
    store.start_run(late)
    assert store.interrupt_run(late.run_id, f"{INTERRUPTED} (test)")
    with pytest.raises(RunInterruptedError, match="interrupted"):
        store.complete_run(late, [], [])
    assert store.current_run("w") == previous
    assert store.get_run("w", late.run_id).error == f"{INTERRUPTED} (test)"
    store.fail_run(late, "a later, lesser reason")
    assert store.get_run("w", late.run_id).error == f"{INTERRUPTED} (test)"


def test_a_finished_job_keeps_its_first_outcome(store: Store) -> None:
    job = store.create_job("j1", "w", "upload", {}, False, ProcessOwner.current().to_json())
    assert job is not None and job.owner and job.heartbeat_at is not None
    assert store.update_job("j1", status="failed", error="first")
    assert not store.update_job("j1", status="done", result={"late": True})
    assert (store.get_job("w", "j1").status, store.get_job("w", "j1").error) == ("failed", "first")


def test_a_stop_is_reported_even_when_cleaning_up_after_it_fails() -> None:
    """SIGTERM landing inside a database call: the connection's clean-up raises its own error
    with the stop as context (seen on PostgreSQL), and the failure still says interrupted."""
    try:
        try:
            raise Stopped("stopped by SIGTERM")
        except Stopped:
            raise RuntimeError("can't change 'autocommit' now: connection in transaction") from None
    except RuntimeError as exc:
        chained_away = exc
    assert failure_reason(chained_away) == "RuntimeError: can't change 'autocommit' now: " + (
        "connection in transaction"
    ), "`from None` hides the stop: nothing to find"
    try:
        try:
            raise Stopped("stopped by SIGTERM")
        except Stopped:
            raise RuntimeError("can't change 'autocommit' now")  # noqa: B904 (the point)
    except RuntimeError as exc:
        during_stop = exc
    assert failure_reason(during_stop) == (
        "interrupted: the process running it was stopped (stopped by SIGTERM); start it again."
    )
    assert failure_reason(ValueError("bad")) == "ValueError: bad"
