"""The run lock, who holds it, and how a restart cleans up after a process that died.

Every re-cluster, whoever starts it (`POST .../runs`, `voc recluster`, the weekly worker), runs
under its workspace's run lock: an exclusive `run` job row (`Store.create_job`), taken before
the run row is written and released once the run is complete or failed, so a second run of a
workspace is refused from any process (`RunInProgressError`: 409 in the API, a clear line
from the CLI). A job records its owner, the process holding it (host name, pid, the machine's
boot id and pid namespace, and the process's start time), and a heartbeat.

A process killed with SIGKILL releases nothing. The next process that starts (the API, `voc
recluster`, the weekly worker), or that finds the lock taken, asks whether each holder lives:

- on the same machine (same boot, same pid namespace) by looking the process up: gone, a
  zombie, or another process under a reused pid (another start time) means dead;
- elsewhere (another container or machine) by the heartbeat: none for `stale_after_s`
  (VOC_RUN_STALE_AFTER_S, 120 s; beats every VOC_RUN_HEARTBEAT_S, 15 s) means dead.

A dead holder's job is failed, and its run with it ("interrupted: the process running it
stopped ..."); the previous run stays current, because a run becomes current only in the
transaction that completes it. Live holders are never touched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from voc.errors import RunInProgressError
from voc.store import Job, Store

log = logging.getLogger("voc.jobs")

INTERRUPTED = "interrupted: the process running it stopped"
"""How every job and run whose process died is failed (followed by who and what to do)."""


@dataclass(frozen=True, slots=True)
class ProcessOwner:
    """One process, told apart from any other that ever had its pid."""

    host: str
    """The host name, for people reading errors."""
    pid: int
    machine: str
    """Boot id and pid namespace: owners with the same value see each other's processes."""
    started: int | None
    """The process's start time in clock ticks since boot (Linux), so a reused pid is seen."""
    program: str = ""
    """What the process runs (`voc recluster`, `voc serve`, ...), for people."""

    @classmethod
    def current(cls) -> ProcessOwner:
        pid = os.getpid()
        stat = _stat(pid)
        return cls(socket.gethostname(), pid, _machine(), stat[1] if stat else None, _program())

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ProcessOwner | None:
        if not raw:
            return None
        try:
            return cls(**raw)
        except TypeError:
            return None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        what = f"{self.program} " if self.program else ""
        return f"{what}on {self.host} pid {self.pid}"


def _machine() -> str:
    """Which processes this one can see: the boot (a reboot ends them all) and the pid
    namespace (a container sees only its own). Without /proc, the host name."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"host:{socket.gethostname()}"
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{boot}/{namespace}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in ticks) of a process from /proc, or None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _program() -> str:
    argv = sys.argv or [""]
    name = Path(argv[0]).name
    if name == "__main__.py":
        name = Path(argv[0]).parent.name
    return " ".join([name, *argv[1:2]]).strip()[:100]


def process_alive(owner: ProcessOwner) -> bool:
    """Whether `owner` still runs, for an owner on this machine."""
    stat = _stat(owner.pid)
    if stat is None:
        if Path("/proc/self/stat").exists():
            return False
        try:  # no /proc (macOS): the pid alone
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, started = stat
    if state in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    return owner.started is None or started == owner.started


def is_orphaned(job: Job, now: datetime, stale_after_s: float) -> bool:
    """Whether the process holding `job` is gone (see the module's docstring for how)."""
    owner = ProcessOwner.from_json(job.owner)
    if owner is None:
        return True  # made before owners were recorded: every such process has stopped
    if owner.machine == ProcessOwner.current().machine:
        return not process_alive(owner)
    if job.heartbeat_at is None:
        return True
    return (now - job.heartbeat_at).total_seconds() > stale_after_s


def dead_jobs(store: Store, stale_after_s: float, kinds: Sequence[str] | None = None) -> list[Job]:
    """Unfinished jobs whose owner is gone."""
    now = datetime.now(UTC)
    return [j for j in store.unfinished_jobs(kinds) if is_orphaned(j, now, stale_after_s)]


def interrupted_reason(job: Job) -> str:
    owner = ProcessOwner.from_json(job.owner)
    who = f" ({owner})" if owner else ""
    if job.kind == "run":
        return (
            f"{INTERRUPTED}{who}; run {job.params.get('run_id')} was not kept and the "
            "previous run stays current. Start another run."
        )
    return f"{INTERRUPTED}{who}; start it again."


@dataclass(slots=True)
class Recovery:
    """What `recover_interrupted` failed."""

    jobs: list[Job] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.jobs or self.runs)


def recover_interrupted(
    store: Store, stale_after_s: float, kinds: Sequence[str] | None = None
) -> Recovery:
    """Fail the jobs of processes that died, their runs, and any run left `running` that no
    job holds; the previous runs stay current. Safe to call from several processes at once:
    each failure applies only while the job or run is still unfinished."""
    recovery = Recovery()
    for job in dead_jobs(store, stale_after_s, kinds):
        reason = interrupted_reason(job)
        if not store.update_job(job.id, status="failed", error=reason):
            continue
        recovery.jobs.append(job)
        run_id = job.params.get("run_id")
        if job.kind == "run" and run_id and store.interrupt_run(run_id, reason):
            recovery.runs.append(run_id)
    orphans = store.fail_orphaned_runs(
        f"{INTERRUPTED} (no process holds it); the previous run stays current. Start another run."
    )
    recovery.runs += [r.run_id for r in orphans]
    if recovery:
        log.warning(
            "recovered_interrupted jobs=%s runs=%s",
            ",".join(j.id for j in recovery.jobs) or "-",
            ",".join(recovery.runs) or "-",
        )
    return recovery


def acquire_run_lock(
    store: Store,
    workspace_id: str,
    run_id: str,
    params: dict[str, Any],
    stale_after_s: float,
) -> Job:
    """Take the workspace's run lock for `run_id` (a queued `run` job held by this process).

    When it is taken, the holder may be a process that died: interrupted runs are recovered
    and the lock tried once more. Raises RunInProgressError naming the live holder."""
    owner = ProcessOwner.current().to_json()
    job_params = {"run_id": run_id, **params}
    job = store.create_job(uuid.uuid4().hex, workspace_id, "run", job_params, True, owner)
    if job is None and recover_interrupted(store, stale_after_s, ["run"]):
        job = store.create_job(uuid.uuid4().hex, workspace_id, "run", job_params, True, owner)
    if job is not None:
        return job
    holder = store.lock_holder(workspace_id, "run")
    if holder is None:
        raise RunInProgressError(
            f"a re-cluster of workspace {workspace_id!r} was running a moment ago and has "
            "just finished; start yours again."
        )
    who = ProcessOwner.from_json(holder.owner)
    raise RunInProgressError(
        f"a re-cluster of workspace {workspace_id!r} is already {holder.status} (job "
        f"{holder.id}, run {holder.params.get('run_id')}"
        + (f", {who}" if who else "")
        + f", since {holder.created_at:%Y-%m-%d %H:%M:%S} UTC); only one runs at a time. Wait "
        "for it to finish (GET .../runs, or the output of the process running it) and start "
        "another afterwards.",
        job_id=holder.id,
    )


class Heartbeat:
    """Tells the store every `interval_s` that this process still holds its jobs: how a
    process on another machine (another container) tells a live holder from a dead one.

    A daemon thread, so it never keeps a stopping process alive; `on_beat` runs after each
    beat (the API uses it for housekeeping). Errors are logged, never raised: a database that
    is down for a while must not stop the work it would come back to.
    """

    def __init__(
        self,
        store: Store,
        interval_s: float,
        job_ids: Iterable[str] = (),
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.on_beat = on_beat
        self._ids = set(job_ids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="voc-heartbeat", daemon=True)

    def add(self, job_id: str) -> None:
        with self._lock:
            self._ids.add(job_id)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._ids.discard(job_id)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                ids = list(self._ids)
            try:
                self.store.beat(ids)
                if self.on_beat is not None:
                    self.on_beat()
            except Exception as exc:
                log.warning("heartbeat_failed error=%s: %s", type(exc).__name__, exc)


class Stopped(KeyboardInterrupt):
    """SIGTERM arrived (docker stop, systemd): unwinds like Ctrl-C, so a run in progress is
    failed with a reason and its lock released instead of the process just vanishing."""


def stop_on_sigterm() -> None:
    """Make SIGTERM raise `Stopped` in the main thread (for `voc recluster` and the weekly
    worker; `voc serve` has uvicorn's graceful shutdown)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
