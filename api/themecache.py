"""Themes of a run, read once: a finished run's themes never change (a new clustering is a new
run), while every GET of themes would otherwise decode all their keywords and quotes again.

Routes read the current run of a workspace, so the cache keeps few runs: per workspace the two
read last (the current run, and the one before it for requests that began before a re-cluster
completed), and `MAX_RUNS` in all, the least recently read dropped first. A server that
re-clusters every few minutes therefore holds about one run's themes per workspace, not the
last 32 runs' of a workspace that grows meanwhile.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

from voc.types import Theme


class ThemeSource(Protocol):
    """Where a run's themes are read from: voc.store.Store."""

    def list_themes(self, run_id: str) -> list[Theme]: ...

    def get_theme(self, run_id: str, theme_id: str) -> Theme: ...


class RunThemes:
    MAX_RUNS = 32
    RUNS_PER_WORKSPACE = 2

    def __init__(self, store: ThemeSource) -> None:
        self.store = store
        self._runs: OrderedDict[str, list[Theme]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> list[Theme]:
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is not None:
                self._runs.move_to_end(run_id)
                return cached
        themes = self.store.list_themes(run_id)
        with self._lock:
            self._runs[run_id] = themes
            self._runs.move_to_end(run_id)
            if themes:
                workspace = themes[0].workspace_id
                same = [r for r, t in self._runs.items() if t and t[0].workspace_id == workspace]
                for old in same[: -self.RUNS_PER_WORKSPACE]:
                    del self._runs[old]
            while len(self._runs) > self.MAX_RUNS:
                self._runs.popitem(last=False)
        return themes

    def theme(self, run_id: str, theme_id: str) -> Theme:
        """One theme of the run; NotFoundError (from the store) when it has none such."""
        for theme in self.get(run_id):
            if theme.theme_id == theme_id:
                return theme
        return self.store.get_theme(run_id, theme_id)
