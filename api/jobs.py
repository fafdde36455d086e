"""Background jobs (re-clusters, upload ingestion) on worker threads, outside request handlers.

A job row is written before the work is queued, so a client can poll it at once. A run job is
the workspace's run lock (voc.jobs), the same lock `voc recluster` and the weekly worker take,
so a second run of a workspace is refused (409) whoever started the first.

A run job's re-cluster runs in a child process (`python -m api.runjob`, api/runjob.py) with
its own Store and embedder, which the job's worker thread starts and waits for: memory a
re-cluster takes (gigabytes on a large workspace) goes back to the system when the child
exits, where a thread of this process would have left its high-water mark here for good
(glibc keeps freed arenas). The child holds the job row's owner while it works (liveness
checks, a 409's "pid N" name it) and writes progress; this process records the outcome, after
assigning the units submitted meanwhile. A child that is killed fails its job and run here,
naming the signal. A child whose API process dies stops its run itself (api/runjob.py).
Uploads are ingested in the worker thread itself.

The workers are daemon threads, not a ThreadPoolExecutor: the executor's threads are joined
when the interpreter exits, so a re-cluster past the shutdown grace period would keep a
stopping server alive for as long as it runs. On shutdown (`shutdown`) the runner stops
taking jobs, fails queued runs, gives running jobs the grace period, then fails runs still
going ("interrupted: the server shut down ...": a run failed this way can no longer become
current, `Store.complete_run` refuses it) and stops their processes (SIGTERM, SIGKILL after
CHILD_STOP_S), and hands back uploads: their files stay, and the next server start queues them
again (`recover`). A heartbeat thread tells other processes this one still holds its jobs, and
every few beats fails the jobs of processes that died.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api import runjob
from api.errors import NotReadyError
from api.metrics import Metrics
from voc.embed import Embedder
from voc.errors import ModelUnavailableError
from voc.jobs import (
    INTERRUPTED,
    Heartbeat,
    ProcessOwner,
    acquire_run_lock,
    dead_jobs,
    recover_interrupted,
)
from voc.pipeline import Ingestor, ThemeAssigner, failure_reason
from voc.settings import VocSettings
from voc.store import Job, Store

log = logging.getLogger("voc.api.jobs")

RECOVER_EVERY_BEATS = 4
"""Housekeeping (recovering other processes' dead jobs) runs every this many heartbeats."""
CHILD_STOP_S = 5.0
"""On shutdown, how long a run's process has after SIGTERM to fail its run and exit before it
gets SIGKILL."""
ASSIGN_CHUNK = 2000
"""Units of an upload assigned (embedded) at a time, so a large upload's vectors never sit in
this process all at once."""


class JobCancelled(Exception):
    """A run whose process would start after the shutdown gave up on it."""


@dataclass(slots=True)
class _Work:
    job: Job
    work: Callable[[Job, threading.Event], None]


def _child_failure(job: Job, pid: int, code: int) -> str:
    """Why a run failed whose process ended without an answer."""
    if code < 0:
        name = signal.Signals(-code).name
        how = f"was killed by {name}" + (
            " (by hand, or by the kernel when memory ran out)" if name == "SIGKILL" else ""
        )
    else:
        how = f"exited with status {code} before it answered (its error is in the server log)"
    return (
        f"{INTERRUPTED} (the re-cluster process, pid {pid}, {how}); run "
        f"{job.params['run_id']} was not kept and the previous run stays current. Start "
        "another run."
    )


def upload_path(data_dir: Path, workspace_id: str, job_id: str, filename: str) -> Path:
    """Where an upload waits for its job: the folder is named by the job, so a job queued
    again after a crash finds its file."""
    return data_dir / "uploads" / workspace_id / job_id / filename


class JobRunner:
    def __init__(
        self,
        store: Store,
        settings: VocSettings,
        embedder: Embedder | None,
        ingestor: Ingestor,
        assigner: ThemeAssigner | None,
        metrics: Metrics,
        model_error: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder
        self.ingestor = ingestor
        self.assigner = assigner
        self.metrics = metrics
        self.model_error = model_error
        self.owner = ProcessOwner.current().to_json()
        self.closing = False
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._queued: dict[str, _Work] = {}
        self._running: dict[str, tuple[Job, threading.Event]] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._beats = 0
        self._unsettled: dict[str, dict[str, Any]] = {}
        self.heartbeat = Heartbeat(store, settings.run_heartbeat_s, on_beat=self._housekeeping)
        self._threads = [
            threading.Thread(target=self._worker, name=f"voc-job-{i}", daemon=True)
            for i in range(max(1, settings.api_job_workers))
        ]
        for thread in self._threads:
            thread.start()
        self.heartbeat.start()

    # -- starting jobs -----------------------------------------------------------------------

    def _require_service(self) -> None:
        if self.closing:
            raise NotReadyError("the server is shutting down; retry in a moment.", retry_after=5)
        if self.assigner is None or self.embedder is None:
            raise ModelUnavailableError(
                f"{self.model_error} Runs and uploads need the embedding model; reads still work."
            )

    def start_run(self, workspace_id: str, seed: int, params: dict[str, Any]) -> Job:
        """Queue a run under the workspace's run lock; RunInProgressError (409) when held."""
        self._require_service()
        job = acquire_run_lock(
            self.store,
            workspace_id,
            uuid.uuid4().hex,
            {"seed": seed, "clusterer": params},
            self.settings.run_stale_after_s,
        )
        self._submit(job, self._run)
        return job

    def new_upload_id(self) -> str:
        """The id the next upload's job will have (its file's folder is named by it)."""
        self._require_service()
        return uuid.uuid4().hex

    def start_upload(self, workspace_id: str, path: Path, source: str) -> Job:
        """Queue the ingestion of a saved upload; `path`'s folder is the job id."""
        job = self.store.create_job(
            path.parent.name,
            workspace_id,
            "upload",
            {"source": source, "file": path.name},
            exclusive=False,
            owner=self.owner,
        )
        assert job is not None
        self._submit(job, self._upload)
        return job

    def _submit(self, job: Job, work: Callable[[Job, threading.Event], None]) -> None:
        with self._lock:
            self._queued[job.id] = _Work(job, work)
        self.heartbeat.add(job.id)
        self._queue.put(self._queued[job.id])

    # -- doing them --------------------------------------------------------------------------

    def _worker(self) -> None:
        while (item := self._queue.get()) is not None:
            with self._lock:
                if self._queued.pop(item.job.id, None) is None:
                    continue  # handed back or failed by a shutdown
                cancel = threading.Event()
                self._running[item.job.id] = (item.job, cancel)
            try:
                item.work(item.job, cancel)
            except BaseException as exc:  # a job never takes its worker down
                log.error("job_crashed job_id=%s error=%s", item.job.id, type(exc).__name__)
            finally:
                self.heartbeat.discard(item.job.id)
                with self._lock:
                    self._running.pop(item.job.id, None)
                    self._changed.notify_all()

    def _finish(self, store: Store, job_id: str, **values: Any) -> None:
        """Record a job's outcome; when the database is down, keep it and retry at every
        heartbeat, because until it is recorded the job (and a run's lock) stays held by this
        live process, and nobody else may settle it."""
        try:
            store.update_job(job_id, **values)
        except Exception as exc:
            log.error("job_unrecorded job_id=%s error=%s: %s", job_id, type(exc).__name__, exc)
            with self._lock:
                self._unsettled[job_id] = values

    def _settle(self) -> None:
        with self._lock:
            pending = list(self._unsettled.items())
        for job_id, values in pending:
            self.store.update_job(job_id, **values)
            with self._lock:
                self._unsettled.pop(job_id, None)
            log.warning("job_recorded_late job_id=%s status=%s", job_id, values.get("status"))

    def _run(self, job: Job, cancel: threading.Event) -> None:
        """A re-cluster in a child process (api/runjob.py), so its memory goes back to the
        system when it ends; this thread waits for it, then assigns the units submitted
        meanwhile and records the outcome."""
        started = time.perf_counter()
        assert self.assigner is not None
        run_id = job.params["run_id"]
        try:
            self.store.update_job(job.id, status="running")
            answer, pid = self._run_child(job, cancel)
            self._quietly(self.store.update_job, job.id, owner=self.owner)
            if answer.get("status") != "done":
                error = answer.get("error") or "the re-cluster process gave no reason"
                log.warning("job_failed job_id=%s kind=run pid=%s error=%s", job.id, pid, error)
                self._finish(self.store, job.id, status="failed", error=error)
                self._quietly(self.store.interrupt_run, run_id, error)
                self.metrics.run_duration.labels("failed").observe(time.perf_counter() - started)
                return
            caught_up = self.assigner.assign_stale(self.store, job.workspace_id, run_id)
            result = {**answer["result"], "assigned_after_run": caught_up}
            self._finish(self.store, job.id, status="done", result=result)
            self.metrics.run_duration.labels("done").observe(time.perf_counter() - started)
        except Exception as exc:
            log.warning("job_failed job_id=%s kind=run error=%s", job.id, type(exc).__name__)
            self._finish(self.store, job.id, status="failed", error=failure_reason(exc))
            self.metrics.run_duration.labels("failed").observe(time.perf_counter() - started)

    def _run_child(self, job: Job, cancel: threading.Event) -> tuple[dict[str, Any], int]:
        """Start `python -m api.runjob` for the job and wait for its answer: (the answer, its
        pid). A child that ends without one (killed, crashed) gets an answer saying how."""
        request = runjob.request(
            job.id,
            job.workspace_id,
            job.params,
            self.settings.model_dump(mode="json"),
            self.store.url,
            self.owner,
        )
        # Its thread pools as this process's; the rest of the environment as it is.
        env = {**os.environ, **dict.fromkeys(runjob.THREAD_VARS, str(self.settings.api_threads))}
        with self._lock:
            if cancel.is_set():
                raise JobCancelled("the server shut down before the run started")
            child = subprocess.Popen(
                [sys.executable, "-m", "api.runjob"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                # Its own session: a Ctrl-C or a signal to the server's process group does
                # not reach it; this process stops it, after the grace period (`shutdown`).
                start_new_session=True,
            )
            self._children[job.id] = child
        log.info(
            "run_job_started job_id=%s run_id=%s pid=%d", job.id, job.params["run_id"], child.pid
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            try:
                # Kept open: its end of file tells the child this process is gone.
                child.stdin.write(json.dumps(request).encode() + b"\n")
                child.stdin.flush()
            except BrokenPipeError:
                pass  # it died at once; its exit status says how
            out = child.stdout.read()
            code = child.wait()
        finally:
            with self._lock:
                self._children.pop(job.id, None)
            if child.stdin is not None:
                child.stdin.close()
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        answer: dict[str, Any] = {}
        if lines:
            try:
                answer = json.loads(lines[-1])
            except ValueError:
                answer = {}
        log.info(
            "run_job_ended job_id=%s pid=%d exit=%s status=%s max_rss_mb=%s",
            job.id,
            child.pid,
            code,
            answer.get("status"),
            answer.get("max_rss_mb"),
        )
        if not answer.get("status"):
            answer = {"status": "failed", "error": _child_failure(job, child.pid, code)}
        return answer, child.pid

    def _quietly(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            write(*args, **kwargs)
        except Exception as exc:
            log.error("job_write_failed error=%s: %s", type(exc).__name__, exc)

    def _upload(self, job: Job, _cancel: threading.Event) -> None:
        path = upload_path(self.settings.data_dir, job.workspace_id, job.id, job.params["file"])
        assert self.assigner is not None
        try:
            self.store.update_job(job.id, status="running")
            summary = self.ingestor.ingest_paths([path], job.params["source"], job.workspace_id)
            self.metrics.units.inc(summary.units)
            units = self.store.ingest_units(job.workspace_id, summary.ingest_id)
            live = [
                row
                for start in range(0, len(units), ASSIGN_CHUNK)
                for row in self.assigner.assign(
                    self.store, job.workspace_id, units[start : start + ASSIGN_CHUNK]
                )
            ]
            assigned = sum(a.theme_id is not None for a in live)
            self._finish(
                self.store,
                job.id,
                status="done",
                result={
                    "ingest_id": summary.ingest_id,
                    **summary.counts(),
                    "assigned": assigned,
                    "pending": len(live) - assigned,
                },
            )
        except Exception as exc:
            log.warning("job_failed job_id=%s kind=upload error=%s", job.id, type(exc).__name__)
            self._finish(self.store, job.id, status="failed", error=failure_reason(exc))
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)

    # -- recovery ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Settle jobs whose process died (this server's previous life, another worker):
        uploads whose file is still there are queued again here under a new job (the old one
        fails naming it; ingestion is idempotent, so records it had stored come back as
        duplicates), everything else is failed as interrupted (voc.jobs)."""
        stale = self.settings.run_stale_after_s
        kinds = None
        if self.assigner is not None and not self.closing:
            for job in dead_jobs(self.store, stale, ["upload"]):
                self._requeue_upload(job)
        else:
            kinds = ["run"]  # uploads wait for a process that can ingest them
        recover_interrupted(self.store, stale, kinds)

    def _requeue_upload(self, job: Job) -> None:
        old = upload_path(self.settings.data_dir, job.workspace_id, job.id, job.params["file"])
        if not old.is_file():
            return  # recover_interrupted fails it; the file is gone, it must be sent again
        new_id = uuid.uuid4().hex
        reason = f"{INTERRUPTED}; the upload was queued again as job {new_id}."
        if not self.store.update_job(
            job.id, status="failed", error=reason, result={"requeued_as": new_id}
        ):
            return  # another process settled it first
        new = upload_path(self.settings.data_dir, job.workspace_id, new_id, old.name)
        old.parent.rename(new.parent)
        self.start_upload(job.workspace_id, new, job.params["source"])
        log.warning("upload_requeued job_id=%s as=%s", job.id, new_id)

    def _housekeeping(self) -> None:
        self._beats += 1
        self._settle()
        if self._beats % RECOVER_EVERY_BEATS == 0:
            self.recover()

    # -- shutdown ----------------------------------------------------------------------------

    def shutdown(self, grace_s: float) -> None:
        """Stop taking jobs; fail queued runs; give running jobs `grace_s` to finish; then
        fail the runs still going (the previous run stays current), stop their processes
        (SIGTERM, then SIGKILL after CHILD_STOP_S) and hand back uploads (kept for the next
        start). Returns within about `grace_s` + CHILD_STOP_S."""
        with self._lock:
            self.closing = True
            queued = list(self._queued.values())
            self._queued.clear()
        for item in queued:
            if item.job.kind == "run":
                self._finish(
                    self.store,
                    item.job.id,
                    status="failed",
                    error="the server shut down before the run started; start it again.",
                )
        deadline = time.monotonic() + grace_s
        with self._lock:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            running = list(self._running.values())
            for _, cancel in running:
                cancel.set()  # under the lock: a run not yet started never starts its process
            children = [self._children[job.id] for job, _ in running if job.id in self._children]
        for job, _ in running:
            if job.kind != "run":
                log.warning("upload_handed_back job_id=%s", job.id)
                continue
            reason = (
                f"interrupted: the server shut down before the run finished (grace period "
                f"{grace_s:g} s, VOC_SHUTDOWN_GRACE_S); run {job.params['run_id']} was not "
                "kept and the previous run stays current. Start another run."
            )
            # Recorded before the process is stopped, so this reason is the one that stays.
            self._finish(self.store, job.id, status="failed", error=reason)
            try:
                self.store.interrupt_run(job.params["run_id"], reason)
            except Exception as exc:
                log.error("run_unrecorded job_id=%s error=%s", job.id, type(exc).__name__)
        _stop_children(children, CHILD_STOP_S)
        self.heartbeat.stop()
        for _ in self._threads:
            self._queue.put(None)


def _stop_children(children: list[subprocess.Popen[bytes]], wait_s: float) -> None:
    """SIGTERM each run process (it fails its run and exits), SIGKILL those still there after
    `wait_s`, and reap them all."""
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
    deadline = time.monotonic() + wait_s
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("run_job_killed pid=%d: still running %g s after SIGTERM", child.pid, wait_s)
            child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
