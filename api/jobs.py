"""Background jobs (re-clusters, upload ingestion) on a thread pool, outside request handlers.

A job row is written before the work is queued, so a client can poll it at once; a run job
opens its own Store (its own connection pool) for the long transaction-heavy work. At most one
run per workspace: the store's unique lock column refuses a second one atomically.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from api.errors import ConflictError
from api.metrics import Metrics
from voc.embed import Embedder
from voc.pipeline import Ingestor, ThemeAssigner, recluster
from voc.settings import VocSettings
from voc.store import Job, Store

log = logging.getLogger("voc.api.jobs")


class JobRunner:
    def __init__(
        self,
        store: Store,
        settings: VocSettings,
        embedder: Embedder,
        ingestor: Ingestor,
        assigner: ThemeAssigner,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder
        self.ingestor = ingestor
        self.assigner = assigner
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(
            max_workers=settings.api_job_workers, thread_name_prefix="voc-job"
        )
        self._futures: dict[str, Future[None]] = {}

    def start_run(self, workspace_id: str, seed: int, params: dict[str, Any]) -> Job:
        job = self.store.create_job(
            uuid.uuid4().hex,
            workspace_id,
            "run",
            {"run_id": uuid.uuid4().hex, "seed": seed, "clusterer": params},
            exclusive=True,
        )
        if job is None:
            raise ConflictError(
                f"a re-cluster of workspace {workspace_id!r} is already queued or running; "
                "wait for it (GET .../runs) and start another afterwards."
            )
        self._submit(job.id, self._run, job)
        return job

    def start_upload(self, workspace_id: str, path: Path, source: str) -> Job:
        job = self.store.create_job(
            uuid.uuid4().hex,
            workspace_id,
            "upload",
            {"source": source, "file": path.name},
            exclusive=False,
        )
        assert job is not None
        self._submit(job.id, self._upload, job, path)
        return job

    def _submit(self, job_id: str, work: Callable[..., None], *args: Any) -> None:
        self._futures = {k: f for k, f in self._futures.items() if not f.done()}
        self._futures[job_id] = self.pool.submit(work, *args)

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        store = Store(self.store.url)
        try:
            store.update_job(job.id, status="running")

            def progress(step: str, done: int, total: int) -> None:
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
            )
            caught_up = self.assigner.assign_stale(store, job.workspace_id, run.run_id)
            store.update_job(
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
            store.update_job(job.id, status="failed", error=f"{type(exc).__name__}: {exc}")
            self.metrics.run_duration.labels("failed").observe(time.perf_counter() - started)
        finally:
            store.close()

    def _upload(self, job: Job, path: Path) -> None:
        try:
            self.store.update_job(job.id, status="running")
            summary = self.ingestor.ingest_paths([path], job.params["source"], job.workspace_id)
            self.metrics.units.inc(summary.units)
            units = self.store.ingest_units(job.workspace_id, summary.ingest_id)
            live = self.assigner.assign(self.store, job.workspace_id, units)
            assigned = sum(a.theme_id is not None for a in live)
            self.store.update_job(
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
            self.store.update_job(job.id, status="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            path.unlink(missing_ok=True)
            path.parent.rmdir()

    def shutdown(self) -> None:
        """Let running jobs finish; queued ones are cancelled and marked failed."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for job_id, future in self._futures.items():
            if future.cancelled():
                self.store.update_job(
                    job_id, status="failed", error="the server stopped before the job started"
                )
