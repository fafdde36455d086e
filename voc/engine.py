"""Engines: where the per-unit work of a re-cluster runs.

A re-cluster has two kinds of work. The fit (voc.cluster.ThemeClusterer.fit) learns the themes
from a sample of the units on one machine, the driver. Embedding every unit and assigning every
unit to its nearest theme are the same small computation repeated per unit: they scale out.
An `Engine` does those two steps; `LocalEngine` does them in this process in bounded batches,
`voc.ray_engine.RayEngine` as Ray Data `map_batches` on a Ray cluster. Both give the same
vectors and the same assignments for the same data, so a run's themes do not depend on where
it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from voc.cluster import ThemeClusterer
    from voc.embed import CachedEmbedder, Embedder, TextsByHash
    from voc.settings import VocSettings

StepCallback = Callable[[str, int, int], None]
"""progress(step, done, total), called as work completes."""

EMBED_BATCH = 2000
"""Texts per embedding batch: bounds memory and paces progress."""

ASSIGN_BATCH = 20_000
"""Vectors per assignment batch: a (batch, n_themes) similarity matrix at a time."""


class Engine(Protocol):
    """Embeds texts and assigns vectors to fitted themes."""

    name: str

    def embed(
        self, texts: Sequence[str], embedder: Embedder, progress: StepCallback | None = None
    ) -> np.ndarray:
        """(len(texts), dim) L2-normalised vectors, in order; float16 (compact; see
        docs/scaling.md for the measured loss). `embedder` is normally a
        voc.embed.CachedEmbedder, so cached texts are not embedded again."""
        ...

    def embed_stored(
        self,
        hashes: Sequence[str],
        embedder: CachedEmbedder,
        texts: TextsByHash,
        progress: StepCallback | None = None,
    ) -> np.ndarray:
        """As `embed`, for stored units by their text hashes: cached vectors are read, and
        only the texts the cache misses are fetched (`texts`) and embedded, so a re-run holds
        no text at all."""
        ...

    def assign(
        self,
        model: ThemeClusterer,
        X: np.ndarray,
        lang: Sequence[str] | None,
        progress: StepCallback | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence) of each row by `model.predict`: the nearest theme centroid,
        -1 below the fit's assignment threshold."""
        ...


class LocalEngine:
    """Both steps in this process, batch by batch."""

    name = "local"

    def embed(
        self, texts: Sequence[str], embedder: Embedder, progress: StepCallback | None = None
    ) -> np.ndarray:
        vectors = np.empty((len(texts), embedder.dim), dtype=np.float16)
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            vectors[start : start + len(batch)] = embedder.encode(list(batch))
            if progress:
                progress("embed", start + len(batch), len(texts))
        return vectors

    def embed_stored(
        self,
        hashes: Sequence[str],
        embedder: CachedEmbedder,
        texts: TextsByHash,
        progress: StepCallback | None = None,
    ) -> np.ndarray:
        vectors = np.empty((len(hashes), embedder.dim), dtype=np.float16)
        for start in range(0, len(hashes), EMBED_BATCH):
            batch = hashes[start : start + EMBED_BATCH]
            vectors[start : start + len(batch)] = embedder.encode_stored(batch, texts)
            if progress:
                progress("embed", start + len(batch), len(hashes))
        return vectors

    def assign(
        self,
        model: ThemeClusterer,
        X: np.ndarray,
        lang: Sequence[str] | None,
        progress: StepCallback | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        labels = np.empty(X.shape[0], dtype=np.int64)
        confidence = np.empty(X.shape[0], dtype=np.float32)
        for start in range(0, X.shape[0], ASSIGN_BATCH):
            stop = min(start + ASSIGN_BATCH, X.shape[0])
            batch_lang = None if lang is None else lang[start:stop]
            labels[start:stop], confidence[start:stop] = model.predict(
                np.asarray(X[start:stop], dtype=np.float32), batch_lang
            )
            if progress:
                progress("assign", stop, X.shape[0])
        return labels, confidence


def make_engine(settings: VocSettings, model: str | None = None) -> Engine:
    """The engine `settings.engine` names. `model` (default `settings.model`) is what Ray
    workers load: the same name or path the driver's embedder was loaded from. Ray is
    imported only when it is used, and only then must be installed."""
    if settings.engine == "local":
        return LocalEngine()
    from voc.ray_engine import RayEngine

    return RayEngine(
        address=settings.ray_address, model=model or settings.model, threads=settings.threads
    )
