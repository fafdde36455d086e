"""One re-cluster job of the API, run in a process of its own: `python -m api.runjob`.

api/jobs.py starts it for every `POST .../runs`. A re-cluster's arrays (vectors, the graph,
the fit, the describe step) reach gigabytes on a large workspace, and memory a thread of the
API process frees stays with that process (glibc keeps its arenas), so a server that ran
re-clusters in its own threads kept the high-water mark of the largest run so far
(docs/benchmarks.md, "Soak"). A child process hands everything back when it exits.

Protocol. The API process writes one JSON line on stdin (`request`: the job, the run, its
effective settings, its store URL and its owner record) and keeps stdin open: end of file, or
a new parent pid, means the API process is gone, and the child stops its run (below). The
child answers with one JSON line on its stdout, `{"status": "done", "result": {...}}` or
`{"status": "failed", "error": "..."}` plus `pid` and `max_rss_mb`, and exits 0 or 1;
anything else it prints goes to stderr, with its log lines.

The job row. The API process created the job (the workspace's run lock, voc.jobs) and marked
it running; the child takes the job's owner over while it works, so liveness checks and a
409's "pid N" name the process that really runs the re-cluster, writes progress to the job
row, and hands the owner back before it exits. The API process then records the outcome. If
the API process died, the child records its failure itself.

Stopping. SIGTERM (the API's shutdown after its grace period) raises `voc.jobs.Stopped` in
the run, which fails it with a reason (recluster's own except path) and exits. When the API
process is gone the child does the same to itself, and exits hard `ORPHAN_EXIT_S` later if the
run has not unwound by then (a long native call): an orphan never outlives its parent by
more, and recovery (voc.jobs) fails whatever it left.

Thread pools are sized from `api_threads` before numpy is imported, as in the API process.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import signal
import sys
import threading
import time
from types import FrameType
from typing import IO, Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
ORPHAN_EXIT_S = 10.0
"""How long an orphaned child (its API process died) may take to fail its run and exit."""
PARENT_GONE = "the API process that started it is gone"

log = logging.getLogger("voc.api.runjob")

_stop_reason: list[str] = []
"""Set before this process signals itself, so the run's failure says why."""


def request(
    job_id: str,
    workspace_id: str,
    params: dict[str, Any],
    settings: dict[str, Any],
    database_url: str,
    owner: dict[str, Any],
) -> dict[str, Any]:
    """What the API process sends: `params` are the run job's (run_id, seed, clusterer),
    `settings` its effective VocSettings (`model_dump(mode="json")`), `owner` its own
    ProcessOwner record, to hand the job back to."""
    return {
        "job_id": job_id,
        "workspace_id": workspace_id,
        "run_id": params["run_id"],
        "seed": params["seed"],
        "clusterer": params.get("clusterer") or None,
        "settings": settings,
        "database_url": database_url,
        "owner": owner,
    }


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    from voc.jobs import Stopped  # imported by main() before this handler is installed

    # Once: a second signal must not cut short the recording of the first one's failure.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped(_stop_reason[0] if _stop_reason else f"stopped by {signal.Signals(signum).name}")


def _parent_gone(parent_pid: int) -> bool:
    return PARENT_GONE in _stop_reason or os.getppid() != parent_pid


def _watch_parent(parent_pid: int) -> None:
    """Stop the run once the API process is gone: its end of our stdin closes when it exits,
    however it exits (SIGKILL included); a changed parent pid is the second sign."""
    while True:
        ready, _, _ = select.select([0], [], [], 1.0)
        if ready and not os.read(0, 4096):
            break
        if os.getppid() != parent_pid:
            break
    _stop_reason.append(PARENT_GONE)
    log.warning("run_job_orphaned parent=%d: %s; stopping the run", parent_pid, PARENT_GONE)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_EXIT_S)
    log.error("run_job_orphaned: the run did not stop within %g s; exiting", ORPHAN_EXIT_S)
    os._exit(3)


def _run(req: dict[str, Any]) -> dict[str, Any]:
    """The re-cluster, under the job the API process queued; the answer to send back."""
    from threadpoolctl import threadpool_limits

    from voc.embed import load_embedder
    from voc.jobs import ProcessOwner
    from voc.pipeline import failure_reason, recluster
    from voc.settings import VocSettings
    from voc.store import Store
    from voc.types import Run

    job_id, workspace_id = req["job_id"], req["workspace_id"]
    parent_pid = int(req["owner"]["pid"])
    settings = VocSettings(**req["settings"], _env_file=None)
    threadpool_limits(settings.api_threads, user_api="blas")
    store = Store(req["database_url"])
    run: Run | None = None
    error = ""
    try:
        store.update_job(job_id, owner=ProcessOwner.current().to_json())
        job = store.get_job(workspace_id, job_id)
        if job.status != "running":
            raise RuntimeError(f"job {job_id} is {job.status}, not running; nothing to do")
        embedder = load_embedder(settings.model, threads=settings.api_threads)

        def progress(step: str, done: int, total: int) -> None:
            store.update_job(job_id, progress={"step": step, "done": done, "total": total})

        run, _ = recluster(
            store,
            settings,
            workspace_id,
            embedder,
            seed=req["seed"],
            clusterer_params=req["clusterer"],
            progress=progress,
            run_id=req["run_id"],
            lock=job,
        )
        # Complete and current: a stop now would only misreport it.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except BaseException as exc:  # Stopped (SIGTERM, parent gone) included: answer, then exit
        if run is None:
            error = failure_reason(exc)
            log.warning("run_job_failed job_id=%s error=%s", job_id, error)
    finally:
        # Nobody else records a failure once the API process is gone; otherwise it does, and
        # it holds the job again from here.
        try:
            if not _parent_gone(parent_pid):
                store.update_job(job_id, owner=req["owner"])
            elif run is None:
                store.update_job(job_id, status="failed", error=error)
            else:
                store.update_job(job_id, status="done", result=_result(run))
        except Exception as exc:
            log.warning(
                "run_job_unrecorded job_id=%s error=%s: %s", job_id, type(exc).__name__, exc
            )
        store.close()
    if run is None:
        return {"status": "failed", "error": error}
    return {"status": "done", "result": _result(run)}


def _result(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "n_units": run.n_units,
        "n_themes": run.n_themes,
        "unassigned": run.unassigned,
    }


def main() -> int:
    line = sys.stdin.buffer.readline()
    if not line.strip():
        print(
            "api.runjob: expected a JSON request on stdin (api/jobs.py sends it)", file=sys.stderr
        )
        return 2
    req = json.loads(line)
    # Before numpy is imported: its thread pools are sized when it loads.
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(req["settings"]["api_threads"]))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d %(message)s",
    )
    answers: IO[str] = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints (libraries) go to stderr, not into the answer
    started = time.perf_counter()
    # The slow imports first: a SIGTERM meanwhile just ends the process (nothing started).
    import voc.pipeline  # noqa: F401  (and voc.jobs, which the SIGTERM handler needs)

    signal.signal(signal.SIGTERM, _on_sigterm)
    parent_pid = int(req["owner"]["pid"])
    watcher = threading.Thread(target=_watch_parent, args=(parent_pid,), name="voc-parent-watch")
    watcher.daemon = True
    watcher.start()
    log.info("run_job_started job_id=%s run_id=%s", req["job_id"], req["run_id"])
    answer = _run(req)
    answer["pid"] = os.getpid()
    answer["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    log.info(
        "run_job_ended job_id=%s status=%s seconds=%.1f max_rss_mb=%s",
        req["job_id"],
        answer["status"],
        time.perf_counter() - started,
        answer["max_rss_mb"],
    )
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
    return 0 if answer["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
