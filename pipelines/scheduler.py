"""Long-running job: the weekly re-cluster of every workspace, on a fixed weekday and hour.

    python -m pipelines.scheduler [--weekday mon] [--at 03:00] [--tz UTC] [--now]
                                  [--retry-minutes 30]

What docker-compose.yml's `worker` runs (docs/deployment.md); with cron, schedule
pipelines.weekly_recluster itself instead. On start it opens the store once (migrating it, as
the API does, so a wrong VOC_DATABASE_URL stops the container at once with exit 2), then sleeps
until the next WEEKDAY at AT in TZ and runs `python -m pipelines.weekly_recluster --all` as a
child process: the run's memory goes back to the system when it ends, and a run that crashes
does not end the schedule. It logs when each run starts and how it ended, then the next run's
time. A run that could not open the database or load the model (exit 2) is tried again every
--retry-minutes until the next weekly slot; other failures wait for the next slot (the run's
own output names the workspaces that failed).

SIGTERM or SIGINT (docker stop, Ctrl-C): while sleeping, it exits 0 at once; during a run it
sends the run SIGTERM (which fails the run in progress with a reason, the previous run staying
current), waits for it to end and exits 0. A time that does not exist on the day (a daylight
saving gap) runs an hour later by the clock (02:30 becomes 03:30); a time that occurs twice runs
once, at its first occurrence.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import subprocess
import sys
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("voc.scheduler")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RUN_COMMAND = (sys.executable, "-m", "pipelines.weekly_recluster", "--all")
"""What runs at each slot; weekly_recluster skips workspaces without new feedback."""
EXIT_UNAVAILABLE = 2
"""weekly_recluster's exit status when the database cannot be opened or the model loaded."""
MAX_NAP_S = 3600.0
"""Sleeps are cut into naps at most this long and the wall clock read again after each, so a
clock that was set or a machine that was suspended does not move the run."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def next_weekly(after: datetime, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """The first `weekday` (0 = Monday) at wall-clock time `at` in `tz` strictly after the
    instant `after` (timezone-aware), as an aware datetime in `tz`. Compare the result with
    others in UTC: Python calls a time in a fold unequal to any time in another zone."""
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware")
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    candidate = datetime.combine(day, at, tzinfo=tz)
    # Compare instants in UTC: datetimes sharing a tzinfo compare by wall clock only.
    if candidate.astimezone(UTC) <= after.astimezone(UTC):
        candidate = datetime.combine(day + timedelta(days=7), at, tzinfo=tz)
    # Through UTC and back: a time in a daylight saving gap becomes the clock time it runs at.
    return candidate.astimezone(UTC).astimezone(tz)


def describe_exit(code: int) -> str:
    """A run's exit status in words, for the log."""
    if code == 0:
        return "ok"
    if code == 1:
        return "exit 1: some workspaces failed (named above); the others were re-clustered"
    if code == EXIT_UNAVAILABLE:
        return "exit 2: the database could not be opened or the model loaded (see above)"
    if code == 143:
        return "exit 143: stopped by SIGTERM; its run was failed, the previous run stays current"
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}; the next run marks its run failed"
    return f"exit {code}"


class Scheduler:
    """Runs `command` every week at the slot, sleeping in between; stops on SIGTERM/SIGINT.

    `serve` must be called from the main thread (it installs signal handlers, and restores the
    previous ones when it returns)."""

    def __init__(
        self,
        weekday: int,
        at: time,
        tz: ZoneInfo,
        command: Sequence[str] = RUN_COMMAND,
        retry_s: float = 30 * 60,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        if not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
        self.weekday = weekday
        self.at = at
        self.tz = tz
        self.command = list(command)
        self.retry_s = retry_s
        self.clock = clock
        self.stop_signal: int | None = None
        self._wake_r = self._wake_w = -1

    def next_slot(self, after_ts: float) -> datetime:
        """The weekly slot strictly after the instant `after_ts` (seconds since the epoch)."""
        return next_weekly(datetime.fromtimestamp(after_ts, UTC), self.weekday, self.at, self.tz)

    def next_due(self, code: int, now_ts: float) -> datetime:
        """When to run next after a run that ended at `now_ts` with exit status `code`: a run
        that found the database or model unavailable is retried after `retry_s`, unless the
        weekly slot comes first; anything else waits for the weekly slot."""
        slot = self.next_slot(now_ts)
        if (
            code == EXIT_UNAVAILABLE
            and self.retry_s > 0
            and now_ts + self.retry_s < slot.timestamp()
        ):
            return datetime.fromtimestamp(now_ts + self.retry_s, UTC).astimezone(self.tz)
        return slot

    def serve(self, run_now: bool = False) -> int:
        """Run on the schedule until SIGTERM or SIGINT; returns 0 (the exit status)."""
        previous = self._install_signals()
        try:
            due = None if run_now else self.next_slot(self.clock())
            while True:
                if due is not None:
                    log.info("next run at %s", _show(due))
                    if not self._sleep_until(due.timestamp()):
                        log.info("stopped by %s while waiting; no run in progress", self._stop_name)
                        return 0
                code = self._run()
                if self.stop_signal is not None:
                    log.info("stopped by %s", self._stop_name)
                    return 0
                due = self.next_due(code, self.clock())
        finally:
            self._restore_signals(previous)

    @property
    def _stop_name(self) -> str:
        return signal.Signals(self.stop_signal).name if self.stop_signal else "?"

    def _sleep_until(self, due_ts: float) -> bool:
        """False when a stop signal came first."""
        while self.stop_signal is None:
            remaining = due_ts - self.clock()
            if remaining <= 0:
                return True
            self._wait(min(remaining, MAX_NAP_S))
        return False

    def _wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds; a signal ends it early (the self-pipe: the signal's
        byte makes the pipe readable even if it arrived just before the select)."""
        readable, _, _ = select.select([self._wake_r], [], [], timeout)
        if readable:
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass

    def _run(self) -> int:
        """Run the command once and return its exit status (negative: killed by a signal).
        A stop signal is passed on to it as SIGTERM, once, and the run is waited for."""
        started = self.clock()
        # Its own process group: Ctrl-C in a terminal reaches only this process, which passes
        # a single SIGTERM on, the signal the run handles by failing its run with a reason.
        proc = subprocess.Popen(self.command, process_group=0)
        log.info("run started: %s (pid %d)", " ".join(self.command[1:]), proc.pid)
        passed_on = False
        while (code := proc.poll()) is None:
            if self.stop_signal is not None and not passed_on:
                log.info(
                    "%s: passing SIGTERM to the run (pid %d) and waiting for it to end",
                    self._stop_name,
                    proc.pid,
                )
                proc.send_signal(signal.SIGTERM)
                passed_on = True
            self._wait(1.0)
        minutes = (self.clock() - started) / 60
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(level, "run ended after %.1f min: %s", minutes, describe_exit(code))
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag: the loop acts on it. A second signal changes nothing; the run already
        # has its SIGTERM, and another could cut short its failing of the run.
        if self.stop_signal is None:
            self.stop_signal = signum

    def _install_signals(self) -> dict[int | str, Any]:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        previous: dict[int | str, Any] = {"wakeup": signal.set_wakeup_fd(self._wake_w)}
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int | str, Any]) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, previous[signum])
        signal.set_wakeup_fd(previous["wakeup"])
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1


def _show(moment: datetime) -> str:
    zone = getattr(moment.tzinfo, "key", None) or moment.tzname()
    return f"{moment:%a} {moment.isoformat(timespec='minutes')} ({zone})"


def _weekday(value: str) -> int:
    key = value.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise argparse.ArgumentTypeError(f"{value!r} is not a weekday (mon, tue, ..., sun)")
    return WEEKDAYS.index(key)


def _clock_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a time of day like 03:00") from None


def _zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {value!r}; use an IANA name like Asia/Shanghai"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weekday", type=_weekday, default=0, help="mon ... sun (default mon)")
    parser.add_argument("--at", type=_clock_time, default=time(3, 0), help="HH:MM (default 03:00)")
    parser.add_argument("--tz", type=_zone, default=ZoneInfo("UTC"), help="IANA zone of --at")
    parser.add_argument("--now", action="store_true", help="Also run once at start.")
    parser.add_argument(
        "--retry-minutes",
        type=float,
        default=30,
        help="After a run that found the database or model unavailable (0: wait a week).",
    )
    args = parser.parse_args(argv)
    log.setLevel(logging.INFO)  # the migration's and libraries' INFO lines stay out
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s scheduler: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        stream=sys.stderr,
    )

    from voc.errors import VocError
    from voc.settings import get_settings
    from voc.store import Store

    try:
        store = Store.open(get_settings().resolved_database_url)
        try:
            log.info(
                "database %s at revision %s, %d workspaces",
                store.safe_url,
                store.schema_revision(),
                len(store.workspace_ids()),
            )
        finally:
            store.close()
    except VocError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_UNAVAILABLE
    scheduler = Scheduler(args.weekday, args.at, args.tz, retry_s=args.retry_minutes * 60)
    log.info(
        "re-clustering every workspace weekly on %s at %s %s",
        WEEKDAYS[args.weekday].capitalize(),
        args.at.strftime("%H:%M"),
        args.tz.key,
    )
    return scheduler.serve(run_now=args.now)


if __name__ == "__main__":
    sys.exit(main())
