"""What the API keeps of runs between requests, per process.

`RunThemes`: a run's themes, read once. They change only when a curation replaces them, which
bumps the run's `themes_version` (voc.store, in the same transaction), while every GET of
themes would otherwise decode all their keywords and quotes again.

`RunAnswers`: answers derived from a run's served state (theme sizes per filter, hidden
themes, whole response bodies), each kept with the run's (`themes_version`, `live_version`)
it was computed at. Routes read the current run first (one row, which carries both
counters), so an answer is reused only while nothing it depends on changed: a submitted unit
(live assignment) bumps `live_version` in the transaction that writes it, a curation bumps
`themes_version`, and a new run has a new id. The counters live in the database, so changes
made by another process (another `--workers` process, `voc curate`, a re-cluster's child)
are seen as soon as they are committed. An answer is computed after its versions were read,
so it is never older than they say (at worst newer, as an uncached answer would be).

Routes read the current run of a workspace, so the caches keep little: `RunThemes` per
workspace the two runs read last (the current run, and the one before it for requests that
began before a re-cluster completed) and `MAX_RUNS` in all, the least recently read dropped
first; `RunAnswers` one entry per (run, question), the newest version replacing the older
one, at most `MAX_ENTRIES` and about `MAX_BYTES`, least recently used dropped first.

`SharedReads` lets the requests that need the same row at once (a workspace's current run)
share one read that began after each of them asked; `ServedRuns` bundles the three for
routes.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool

from voc.store import RunVersion, Store, ThemeStat
from voc.types import Theme

T = TypeVar("T")


class Versioned(Protocol):
    """A run as read from the store with its versions: voc.types.Run or voc.store.RunVersion."""

    @property
    def run_id(self) -> str: ...

    @property
    def themes_version(self) -> int: ...

    @property
    def live_version(self) -> int: ...


class ThemeSource(Protocol):
    """Where a run's themes are read from: voc.store.Store."""

    def list_themes(self, run_id: str) -> list[Theme]: ...

    def get_theme(self, run_id: str, theme_id: str) -> Theme: ...


class RunThemes:
    MAX_RUNS = 32
    RUNS_PER_WORKSPACE = 2

    def __init__(self, store: ThemeSource) -> None:
        self.store = store
        self._runs: OrderedDict[str, tuple[int, list[Theme]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str, version: int = 0) -> list[Theme]:
        """The run's themes as of `version` (its `themes_version`) or newer."""
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is not None and cached[0] >= version:
                self._runs.move_to_end(run_id)
                return cached[1]
        themes = self.store.list_themes(run_id)
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is not None and cached[0] > version:
                return themes  # a newer read landed meanwhile: keep that one
            self._runs[run_id] = (version, themes)
            self._runs.move_to_end(run_id)
            if themes:
                workspace = themes[0].workspace_id
                same = [
                    r for r, (_, t) in self._runs.items() if t and t[0].workspace_id == workspace
                ]
                for old in same[: -self.RUNS_PER_WORKSPACE]:
                    del self._runs[old]
            while len(self._runs) > self.MAX_RUNS:
                self._runs.popitem(last=False)
        return themes

    def of(self, run: Versioned) -> list[Theme]:
        """The themes `run` (as read from the store) serves."""
        return self.get(run.run_id, run.themes_version)

    def theme(self, run: Versioned, theme_id: str) -> Theme:
        """One theme of the run; NotFoundError (from the store) when it has none such."""
        for theme in self.of(run):
            if theme.theme_id == theme_id:
                return theme
        return self.store.get_theme(run.run_id, theme_id)


class RunAnswers:
    MAX_ENTRIES = 256
    MAX_BYTES = 16_000_000
    """Answers kept in all, and about how much memory they take (a page of 20 themes is some
    17 kB, of 200 some 150 kB; a dict of theme sizes counts 100 bytes a theme)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, Hashable], tuple[tuple[int, int], Any]] = (
            OrderedDict()
        )
        self._bytes = 0
        self._computing: dict[tuple[str, Hashable], tuple[tuple[int, int], threading.Event]] = {}
        self._lock = threading.Lock()

    def peek(self, run: Versioned, question: Hashable) -> Any | None:
        """The kept answer when there is one for `run`'s versions (or newer); never computes,
        so the event loop may ask."""
        key = (run.run_id, question)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[0] >= (run.themes_version, run.live_version):
                self._entries.move_to_end(key)
                return cached[1]
        return None

    def get(self, run: Versioned, question: Hashable, compute: Callable[[], T]) -> T:
        """The answer to `question` about `run` at the versions `run` was read with, computed
        when none is kept (blocking: call it from a worker thread). Requests asking the same
        at once wait for one computation: after each submitted unit, every reader of the
        workspace would otherwise count its themes' units at the same time."""
        key = (run.run_id, question)
        version = (run.themes_version, run.live_version)
        while True:
            with self._lock:
                cached = self._entries.get(key)
                if cached is not None and cached[0] >= version:
                    self._entries.move_to_end(key)
                    return cached[1]  # type: ignore[no-any-return]
                running = self._computing.get(key)
                if running is None or running[0] < version:
                    done = threading.Event()
                    self._computing[key] = (version, done)
                    break
            running[1].wait()  # then kept (or, had it failed, computed here)
        try:
            value = compute()
            with self._lock:
                cached = self._entries.get(key)
                if cached is None or cached[0] < version:
                    if cached is not None:
                        self._bytes -= _weight(cached[1])
                    self._entries[key] = (version, value)
                    self._entries.move_to_end(key)
                    self._bytes += _weight(value)
                    while len(self._entries) > self.MAX_ENTRIES or (
                        self._bytes > self.MAX_BYTES and len(self._entries) > 1
                    ):
                        self._bytes -= _weight(self._entries.popitem(last=False)[1][1])
            return value
        finally:
            with self._lock:
                if self._computing.get(key, (version, None))[1] is done:
                    del self._computing[key]
            done.set()

    def __len__(self) -> int:
        return len(self._entries)


def _weight(value: Any) -> int:
    """Roughly the memory an answer holds: its length for bytes, 100 bytes an item else."""
    if isinstance(value, bytes):
        return len(value)
    return 100 * len(value) if hasattr(value, "__len__") else 100


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Read(Generic[V]):
    """One read and the requests waiting for it; `begun` once its thread started reading."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[V] = loop.create_future()
        self.future.add_done_callback(_retrieve)
        self.begun = False


class SharedReads(Generic[K, V]):
    """A blocking read (run in a worker thread) shared by the requests that ask for the same
    key at the same time. Each request gets the result of a read that began after it asked,
    so it sees everything committed before it came: a request joins a read whose thread has
    not started reading yet, or else waits for the next one, which starts when the current
    one ends, for all who came meanwhile.

    What it saves: on a busy server most requests for a workspace's current run find others
    waiting, so there is about one database read and one trip to a worker thread (waking a
    thread costs the event loop more than the read) per batch rather than per request."""

    def __init__(self, read: Callable[[K], V]) -> None:
        self.read = read
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[dict[K, _Read[V]], dict[K, _Read[V]]]
        ] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        running, following = self._loops.setdefault(loop, ({}, {}))
        read = running.get(key)
        if read is None or read.begun:
            read = following.get(key)
            if read is None:
                read = following[key] = _Read(loop)
                if key not in running:
                    self._start(loop, key)
        return await asyncio.shield(read.future)

    def _start(self, loop: asyncio.AbstractEventLoop, key: K) -> None:
        running, following = self._loops[loop]
        read = running[key] = following.pop(key)

        def work() -> V:
            read.begun = True  # from here on, a request that asks waits for the next read
            return self.read(key)

        async def run() -> None:
            try:
                read.future.set_result(await run_in_threadpool(work))
            except asyncio.CancelledError:
                read.future.cancel()
                raise
            except Exception as exc:
                read.future.set_exception(exc)
            finally:
                del running[key]
                if key in following:
                    self._start(loop, key)

        task = loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared read's error as seen: each waiter raises it, or none was left to."""
    if not future.cancelled():
        future.exception()


class ServedRuns:
    """What routes serve of a workspace's current run, from the caches above: its themes
    (hidden ones left out or not), their sizes under filters, and any answer a route builds
    from them. One object for the routes that need all of it (one dependency, not three)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.themes = RunThemes(store)
        self.answers = RunAnswers()
        self._current: SharedReads[str, RunVersion | None] = SharedReads(store.current_run_version)

    async def current(self, workspace_id: str) -> RunVersion | None:
        """The current run's id and versions, read from the store after the caller asked
        (shared with the requests asking at the same time)."""
        return await self._current.get(workspace_id)

    def visible(self, run: Versioned) -> list[Theme]:
        """The run's themes less those a curation hid."""
        hidden = self.answers.get(
            run, "hidden", lambda: frozenset(self.store.hidden_themes(run.run_id))
        )
        return [t for t in self.themes.of(run) if t.theme_id not in hidden]

    def stats(
        self,
        run: Versioned,
        visible: bool = False,
        source: str | None = None,
        lang: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, ThemeStat]:
        """Units and newest unit date per theme, counting units that match the filters (the
        days `since` to `until`, both included), parents as the sum of their children (the
        visible ones with `visible`, else all). The counting query runs once per run version
        and filters."""

        def compute() -> dict[str, ThemeStat]:
            themes = self.visible(run) if visible else self.themes.of(run)
            counted = self.store.theme_stats(
                run.run_id, source, lang, _day(since), _day(until, end=True)
            )
            return theme_sizes(themes, counted)

        return self.answers.get(run, ("stats", visible, source, lang, since, until), compute)

    def answer(self, run: Versioned, question: Hashable, compute: Callable[[], T]) -> T:
        return self.answers.get(run, question, compute)


def theme_sizes(themes: list[Theme], stats: dict[str, ThemeStat]) -> dict[str, ThemeStat]:
    """Stats of level-0 themes as counted, of parents as the sum of their children."""
    out = {t.theme_id: stats.get(t.theme_id, ThemeStat(0, None)) for t in themes if t.level == 0}
    for theme in themes:
        if theme.level == 0:
            continue
        kids = [out[t.theme_id] for t in themes if t.parent_id == theme.theme_id]
        dates = [k.latest for k in kids if k.latest is not None]
        out[theme.theme_id] = ThemeStat(sum(k.size for k in kids), max(dates, default=None))
    return out


def _day(value: date | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(value + timedelta(days=1) if end else value, time.min)
