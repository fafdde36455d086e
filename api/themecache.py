"""Themes of a run, read once: a finished run's themes never change (a new clustering is a new
run), while every GET of themes would otherwise decode all their keywords and quotes again."""

from __future__ import annotations

import threading

from voc.store import Store
from voc.types import Theme


class RunThemes:
    MAX_RUNS = 32

    def __init__(self, store: Store) -> None:
        self.store = store
        self._runs: dict[str, list[Theme]] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> list[Theme]:
        with self._lock:
            cached = self._runs.get(run_id)
        if cached is not None:
            return cached
        themes = self.store.list_themes(run_id)
        with self._lock:
            if len(self._runs) >= self.MAX_RUNS:
                self._runs.clear()
            self._runs[run_id] = themes
        return themes

    def theme(self, run_id: str, theme_id: str) -> Theme:
        """One theme of the run; NotFoundError (from the store) when it has none such."""
        for theme in self.get(run_id):
            if theme.theme_id == theme_id:
                return theme
        return self.store.get_theme(run_id, theme_id)
