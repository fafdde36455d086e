"""Background jobs (re-clusters, upload ingestion) on worker threads, outside request handlers.

A job row is written before the work is queued, so a client can poll it at once; a run job
opens its own Store (its own connection pool) for the long transaction-heavy work. A run
job is the workspace's run lock (voc.jobs), the same lock `voc recluster` and the weekly
worker take, so a second run of a workspace is refused (409) whoever started the first.

The workers are daemon threads, not a ThreadPoolExecutor: the executor's threads are joined
when the interpreter exits, so a re-cluster past the shutdown grace period would keep a
stopping server alive for as long as it runs. On shutdown (`shutdown`) the runner stops
taking jobs, fails queued runs, gives running jobs the grace period, then fails runs still
going ("interrupted: the server shut down ...": a run failed this way can no longer become
current, `Store.complete_run` refuses it) and hands back uploads: their files stay, and the
next server start queues them again (`recover`). A heartbeat thread tells other processes
this one still holds its jobs, and every few beats fails the jobs of processes that died.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from voc.pipeline import Ingestor, ThemeAssigner, failure_reason, recluster
from voc.settings import VocSettings
from voc.store import Job, Store

log = logging.getLogger("voc.api.jobs")

RECOVER_EVERY_BEATS = 4
"""Housekeeping (recovering other processes' dead jobs) runs every this many heartbeats."""


class JobCancelled(Exception):
    """Raised inside a run job at its next step once the shutdown grace period has passed."""


@dataclass(slots=True)
class _Work:
    job: Job
    work: Callable[[Job, threading.Event], None]


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
        started = time.perf_counter()
        store = Store(self.store.url)
        assert self.embedder is not None and self.assigner is not None
        try:
            store.update_job(job.id, status="running")

            def progress(step: str, done: int, total: int) -> None:
                if cancel.is_set():
                    raise JobCancelled("the server shut down before the run finished")
                store.update_job(job.id, progress={"step": step, "done": done, "total": total})

            run, _ = recluster(
                store,
                self.settings,
                job.workspace_id,
                self.embedder,
                seed=job.params["seed"],
                clusterer_params=job.params["clusterer"] or None,
                progress=progress,
                run_id=job.params["run_id"],
                lock=job,
            )
            caught_up = self.assigner.assign_stale(store, job.workspace_id, run.run_id)
            self._finish(
                store,
                job.id,
                status="done",
                result={
                    "run_id": run.run_id,
                    "n_units": run.n_units,
                    "n_themes": run.n_themes,
                    "unassigned": run.unassigned,
                    "assigned_after_run": caught_up,
                },
            )
            self.metrics.run_duration.labels("done").observe(time.perf_counter() - started)
        except Exception as exc:
            log.warning("job_failed job_id=%s kind=run error=%s", job.id, type(exc).__name__)
            self._finish(store, job.id, status="failed", error=failure_reason(exc))
            self.metrics.run_duration.labels("failed").observe(time.perf_counter() - started)
        finally:
            store.close()

    def _upload(self, job: Job, _cancel: threading.Event) -> None:
        path = upload_path(self.settings.data_dir, job.workspace_id, job.id, job.params["file"])
        assert self.assigner is not None
        try:
            self.store.update_job(job.id, status="running")
            summary = self.ingestor.ingest_paths([path], job.params["source"], job.workspace_id)
            self.metrics.units.inc(summary.units)
            units = self.store.ingest_units(job.workspace_id, summary.ingest_id)
            live = self.assigner.assign(self.store, job.workspace_id, units)
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
        fail the runs still going (the previous run stays current) and hand back uploads
        (kept for the next start). Returns within about `grace_s`."""
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
        for job, cancel in running:
            cancel.set()
            if job.kind != "run":
                log.warning("upload_handed_back job_id=%s", job.id)
                continue
            reason = (
                f"interrupted: the server shut down before the run finished (grace period "
                f"{grace_s:g} s, VOC_SHUTDOWN_GRACE_S); run {job.params['run_id']} was not "
                "kept and the previous run stays current. Start another run."
            )
            self._finish(self.store, job.id, status="failed", error=reason)
            try:
                self.store.interrupt_run(job.params["run_id"], reason)
            except Exception as exc:
                log.error("run_unrecorded job_id=%s error=%s", job.id, type(exc).__name__)
        self.heartbeat.stop()
        for _ in self._threads:
            self._queue.put(None)
