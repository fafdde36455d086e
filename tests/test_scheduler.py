"""pipelines/scheduler.py, the compose worker's loop: when the next run is due, and that SIGTERM
stops it at once while it sleeps and is passed on to a run in progress. The runs here are real
child processes (small Python scripts that record what happened to them); the scheduler's own
start is tested as `python -m pipelines.scheduler` on a SQLite database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time as _time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipelines.scheduler import EXIT_UNAVAILABLE, Scheduler, describe_exit, next_weekly

ROOT = Path(__file__).resolve().parent.parent
UTC_ZONE = ZoneInfo("UTC")
MON, SUN = 0, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def utc_at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (after, weekday, at, zone, expected): instants in UTC, `at` in the zone's wall clock.
SLOTS = {
    # 2026-12-07 is a Monday.
    "same-day": ("2026-12-07 02:59", MON, "03:00", "UTC", "2026-12-07 03:00"),
    "exactly-due-means-next-week": ("2026-12-07 03:00", MON, "03:00", "UTC", "2026-12-14 03:00"),
    "tuesday": ("2026-12-08 12:00", MON, "03:00", "UTC", "2026-12-14 03:00"),
    "sunday-night": ("2026-12-06 23:59", MON, "03:00", "UTC", "2026-12-07 03:00"),
    # Monday 03:00 in Shanghai is Sunday 19:00 UTC; Sunday 20:00 UTC is already Monday 04:00.
    "shanghai-before": ("2026-12-06 18:00", MON, "03:00", "Asia/Shanghai", "2026-12-06 19:00"),
    "shanghai-after": ("2026-12-06 20:00", MON, "03:00", "Asia/Shanghai", "2026-12-13 19:00"),
    # Berlin moves to summer time on Sunday 2026-03-29: the wall clock stays at 03:00.
    "berlin-dst-start": ("2026-03-23 02:01", MON, "03:00", "Europe/Berlin", "2026-03-30 01:00"),
    # 02:30 does not exist on 2026-03-29 in Berlin: it runs at 03:30 summer time.
    "berlin-gap": ("2026-03-28 00:00", SUN, "02:30", "Europe/Berlin", "2026-03-29 01:30"),
    # 02:30 happens twice on 2026-10-25: the first time runs, the second does not.
    "berlin-fold-first": ("2026-10-24 00:00", SUN, "02:30", "Europe/Berlin", "2026-10-25 00:30"),
    "berlin-fold-once": ("2026-10-25 00:31", SUN, "02:30", "Europe/Berlin", "2026-11-01 01:30"),
    "berlin-fold-second": ("2026-10-25 01:31", SUN, "02:30", "Europe/Berlin", "2026-11-01 01:30"),
}


@pytest.mark.parametrize("case_id", SLOTS)
def test_next_weekly_is_the_first_slot_strictly_after(case_id: str) -> None:
    after, weekday, at, zone, expected = SLOTS[case_id]
    tz = ZoneInfo(zone)
    got = next_weekly(utc_at(after), weekday, time.fromisoformat(at), tz)
    assert got.astimezone(UTC) == utc_at(expected)
    assert got.tzinfo is tz
    assert got.weekday() == weekday
    if "gap" not in case_id:
        assert (got.hour, got.minute) == (int(at[:2]), int(at[3:]))
    else:  # the clock jumped from 02:00 to 03:00
        assert (got.hour, got.minute) == (int(at[:2]) + 1, int(at[3:]))


def test_next_weekly_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_weekly(datetime(2026, 12, 7), MON, time(3), UTC_ZONE)


def test_a_run_that_found_the_database_down_is_retried_before_the_next_week() -> None:
    scheduler = Scheduler(MON, time(3), UTC_ZONE, retry_s=1800)
    ended = utc(2026, 12, 7, 3, 5).timestamp()
    retry = scheduler.next_due(EXIT_UNAVAILABLE, ended)
    assert retry == utc(2026, 12, 7, 3, 35)
    # Other failures (a workspace failed, the run was killed) and success wait for the slot.
    for code in (0, 1, 143, -9):
        assert scheduler.next_due(code, ended) == utc(2026, 12, 14, 3)
    # A retry never goes past the weekly slot, and 0 switches retrying off.
    just_before = utc(2026, 12, 14, 2, 50).timestamp()
    assert scheduler.next_due(EXIT_UNAVAILABLE, just_before) == utc(2026, 12, 14, 3)
    no_retry = Scheduler(MON, time(3), UTC_ZONE, retry_s=0)
    assert no_retry.next_due(EXIT_UNAVAILABLE, ended) == utc(2026, 12, 14, 3)


def test_exit_statuses_are_described_for_the_log() -> None:
    assert describe_exit(0) == "ok"
    assert "some workspaces failed" in describe_exit(1)
    assert "database" in describe_exit(EXIT_UNAVAILABLE)
    assert "SIGTERM" in describe_exit(143)
    assert "SIGKILL (out of memory?)" in describe_exit(-signal.SIGKILL)


# A stand-in for pipelines.weekly_recluster: appends "start" to its log, then, like the real
# one, answers SIGTERM by exiting 143; otherwise it sleeps for SLEEP seconds and exits CODE.
CHILD = """
import signal, sys, time
log, sleep, code = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def stop(signum, frame):
    with open(log, "a") as f:
        f.write("sigterm\\n")
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
with open(log, "a") as f:
    f.write("start\\n")
time.sleep(sleep)
with open(log, "a") as f:
    f.write("done\\n")
sys.exit(code)
"""


def _child(log: Path, sleep: float, code: int) -> list[str]:
    return [sys.executable, "-c", CHILD, str(log), str(sleep), str(code)]


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def sigterm_self() -> Iterator[Callable[[Callable[[], bool]], threading.Thread]]:
    """Starts a thread that SIGTERMs this process (the scheduler under test serves in the main
    thread) once a condition holds, or after 30 s so a broken test fails instead of hanging.
    Meanwhile SIGTERM outside the scheduler's own handler does nothing, not kill pytest."""
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    threads: list[threading.Thread] = []

    def start(condition: Callable[[], bool]) -> threading.Thread:
        def watch() -> None:
            deadline = _time.monotonic() + 30
            while not condition() and _time.monotonic() < deadline:
                _time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    try:
        yield start
    finally:
        for thread in threads:
            thread.join(timeout=35)
        signal.signal(signal.SIGTERM, previous)


def _far_slot() -> int:
    """A weekday whose next 03:00 UTC is at least a day away, so no slot interferes."""
    return (datetime.now(UTC) + timedelta(days=3)).weekday()


def test_sigterm_during_a_run_is_passed_on_and_waited_for(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    sigterm_self: Callable[[Callable[[], bool]], threading.Thread],
) -> None:
    log = tmp_path / "run.log"
    scheduler = Scheduler(_far_slot(), time(3), UTC_ZONE, command=_child(log, 60, 0))
    watcher = sigterm_self(lambda: "start" in _lines(log))
    previous = signal.getsignal(signal.SIGTERM)
    started = _time.monotonic()
    with caplog.at_level("INFO", logger="voc.scheduler"):
        assert scheduler.serve(run_now=True) == 0
    watcher.join(timeout=5)
    assert _time.monotonic() - started < 30  # not the run's 60 s: it was stopped
    assert _lines(log) == ["start", "sigterm"]  # the run got SIGTERM and did not finish
    assert scheduler.stop_signal == signal.SIGTERM
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("SIGTERM: passing SIGTERM to the run") for m in messages)
    assert any("exit 143: stopped by SIGTERM" in m for m in messages)
    assert messages[-1] == "stopped by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored


def test_an_unavailable_database_is_retried_then_sigterm_stops_the_wait(
    tmp_path: Path, sigterm_self: Callable[[Callable[[], bool]], threading.Thread]
) -> None:
    log = tmp_path / "run.log"
    command = _child(log, 0, EXIT_UNAVAILABLE)
    scheduler = Scheduler(_far_slot(), time(3), UTC_ZONE, command=command, retry_s=0.2)
    watcher = sigterm_self(lambda: _lines(log).count("done") >= 3)
    assert scheduler.serve(run_now=True) == 0
    watcher.join(timeout=5)
    runs = _lines(log)
    assert runs.count("done") >= 3  # tried again every 0.2 s, not a week later
    # Each run ended (by itself, or by the SIGTERM passed on if the stop came during one)
    # before the next began.
    assert re.fullmatch(r"(SE+)+", "".join("S" if line == "start" else "E" for line in runs))


def _scheduler_process(tmp_path: Path, database_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "VOC_DATA_DIR": str(tmp_path), "VOC_DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.scheduler", "--weekday", "mon", "--tz", "Asia/Shanghai"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_worker_migrates_the_store_then_exits_0_at_once_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "voc.db"
    proc = _scheduler_process(tmp_path, f"sqlite:///{db}")
    try:
        lines = []
        for line in proc.stdout or []:  # blocks per line; the kill below ends a hang
            lines.append(line)
            if "next run at" in line:
                break
        else:
            pytest.fail("the scheduler ended before sleeping:\n" + "".join(lines))
        sent = _time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
        took = _time.monotonic() - sent
    finally:
        proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert took < 10, output
    assert db.exists()
    assert "0 workspaces" in output and "at revision 0" in output  # migrated on start
    assert "weekly on Mon at 03:00 Asia/Shanghai" in output
    assert "next run at Mon " in output and "+08:00 (Asia/Shanghai)" in output
    assert "stopped by SIGTERM while waiting; no run in progress" in output


def test_the_worker_stops_at_start_with_exit_2_when_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    url = "postgresql+psycopg://voc:s3cret-pw@127.0.0.1:1/voc?connect_timeout=5"
    proc = _scheduler_process(tmp_path, url)
    try:
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_UNAVAILABLE, output
    assert "cannot start:" in output
    assert "s3cret-pw" not in output
