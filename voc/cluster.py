"""Theme clustering: unit embeddings -> themes, with no number of themes given.

Stages (each a small function, so benchmarks can measure them one by one):
1. optional per-language centring: a language's mean vector is mostly "this is Chinese", not
   "this is about refunds"; removing it lets a Chinese and an English sentence with one meaning
   land together.
2. UMAP to a few dimensions: density clustering fails in 512-d, where all distances look alike.
3. HDBSCAN (excess-of-mass selection, a minimum theme size that grows with the corpus): no k.
4. merge near-duplicate themes, then reassign outliers to the nearest centroid in the original
   space so that at most `max_unassigned` of the units stay unassigned (-1).
5. parents: agglomerative clustering of theme centroids gives a two-level hierarchy.

`ThemeClusterer` follows the scikit-learn estimator contract: hyper-parameters in `__init__`,
learned state with a trailing underscore, nothing read from global state. UMAP and HDBSCAN are
imported on first fit, because importing them compiles numba code (see `configure_numba_cache`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

MIN_ROWS = 10
"""Fewer units than this cannot form even two themes of the smallest size."""

MIN_THEME_FLOOR = 5
"""Smallest theme size ever chosen automatically: fewer units are an anecdote, not a theme."""

Selection = Literal["leaf", "eom"]


def configure_numba_cache(cache_dir: Path) -> None:
    """Point numba's on-disk cache at a writable directory before UMAP is first imported.

    UMAP's kernels are compiled on first import (tens of seconds); with a writable cache that
    cost is paid once per machine instead of once per process. Has no effect once numba has
    been imported, so call it at start-up.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir))


def check_embeddings(X: np.ndarray, min_rows: int = 1) -> np.ndarray:
    """Validated float32 copy of `X` with unit rows; a clear ValueError for anything else."""
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (units x dims), got {array.ndim}-D")
    if array.shape[0] < min_rows:
        raise ValueError(
            f"need at least {min_rows} units to cluster, got {array.shape[0]}; "
            "collect more feedback before building themes"
        )
    if array.shape[1] < 2:
        raise ValueError(f"embeddings need at least 2 dimensions, got {array.shape[1]}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"embeddings must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise ValueError(f"embeddings contain NaN or infinite values in {bad} rows")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"embeddings contain {int((norms == 0).sum())} all-zero rows")
    return array / norms


def center_languages(
    X: np.ndarray, lang: Sequence[str] | np.ndarray, means: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Subtract each language's mean vector and re-normalise.

    With `means` given (from a fit), those are used, and a language the fit never saw is left
    as it is: there is no mean to remove.
    """
    codes = np.asarray(lang, dtype=object)
    if codes.shape != (X.shape[0],):
        raise ValueError(f"lang must have one code per row: {codes.shape[0]} codes, {len(X)} rows")
    if means is None:
        means = {str(code): X[codes == code].mean(axis=0) for code in np.unique(codes.astype(str))}
    centred = X.copy()
    for code, mean in means.items():
        centred[codes == code] -= mean
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12), means


def reduce(X: np.ndarray, n_neighbors: int, n_components: int, random_state: int) -> np.ndarray:
    """UMAP on cosine distance; min_dist 0 packs themes tightly, which is what HDBSCAN needs."""
    import umap

    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, X.shape[0] - 1),
        n_components=min(n_components, X.shape[0] - 2),
        min_dist=0.0,
        metric="cosine",
        random_state=random_state,
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(X), dtype=np.float32)


def density_labels(
    Y: np.ndarray, min_cluster_size: int, min_samples: int, selection: Selection
) -> np.ndarray:
    """HDBSCAN labels on the reduced space; -1 is noise."""
    import hdbscan

    model = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method=selection,
        core_dist_n_jobs=1,
    )
    return np.asarray(model.fit_predict(Y), dtype=np.int64)


def centroids_of(X: np.ndarray, labels: np.ndarray, n_themes: int) -> np.ndarray:
    """Unit-length mean vector of each theme's members."""
    sums = np.zeros((n_themes, X.shape[1]), dtype=np.float64)
    members = labels >= 0
    np.add.at(sums, labels[members], X[members])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber themes 0..k-1, largest first, ties by first occurrence, so output is stable."""
    kept = labels[labels >= 0]
    if kept.size == 0:
        return labels, 0
    ids, first, counts = np.unique(kept, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    mapping[ids[order]] = np.arange(len(ids))
    out = np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)
    return out, len(ids)


def merge_similar(X: np.ndarray, labels: np.ndarray, similarity: float) -> np.ndarray:
    """Merge themes whose centroids are closer than `similarity` (cosine), transitively.

    Density clustering can split one intent phrased two ways into two themes whose centroids
    are nearly the same vector.
    """
    labels, k = _compact(labels)
    if k < 2 or similarity >= 1.0:
        return labels
    centroids = centroids_of(X, labels, k)
    close = centroids @ centroids.T >= similarity
    parent = np.arange(k)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[root(int(j))] = root(int(i))
    roots = np.array([root(i) for i in range(k)])
    return _compact(np.where(labels >= 0, roots[np.maximum(labels, 0)], -1))[0]


def assign_outliers(
    X: np.ndarray, labels: np.ndarray, centroids: np.ndarray, min_similarity: float, cap: float
) -> tuple[np.ndarray, float]:
    """Give noise units their nearest theme; leave unassigned only the ones far from every theme.

    A noise unit is assigned when its best cosine similarity reaches `min_similarity`; if more
    than `cap` of all units would stay unassigned, the closest of them are assigned anyway.
    Returns the labels and the similarity threshold that was effectively used, which `predict`
    applies to new units.
    """
    labels = labels.copy()
    noise = np.nonzero(labels < 0)[0]
    if noise.size == 0 or centroids.shape[0] == 0:
        return labels, min_similarity
    sims = X[noise] @ centroids.T
    best = np.argmax(sims, axis=1)
    best_sim = sims[np.arange(noise.size), best]
    allowed = int(math.floor(cap * X.shape[0]))
    threshold = min_similarity
    if int((best_sim < min_similarity).sum()) > allowed:
        threshold = float(np.sort(best_sim)[::-1][noise.size - allowed - 1])
    take = best_sim >= threshold
    labels[noise[take]] = best[take]
    return labels, threshold


def confidence_of(
    X: np.ndarray, labels: np.ndarray, centroids: np.ndarray, temperature: float
) -> np.ndarray:
    """Softmax weight of the assigned theme over cosine similarities to all centroids.

    Near 1 when the unit is much closer to its theme than to any other, near 1/k on a border;
    0 for unassigned units. A similarity margin of 3 * temperature gives about 0.95 against
    one rival.
    """
    confidence = np.zeros(X.shape[0], dtype=np.float32)
    assigned = labels >= 0
    if centroids.shape[0] == 0 or not assigned.any():
        return confidence
    logits = (X[assigned] @ centroids.T) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    confidence[assigned] = weights[np.arange(int(assigned.sum())), labels[assigned]]
    return confidence


def parents_of(centroids: np.ndarray, n_parents: int) -> np.ndarray:
    """Group theme centroids into `n_parents` parent themes (average linkage, cosine)."""
    k = centroids.shape[0]
    if k <= 1 or n_parents <= 1:
        return np.zeros(k, dtype=np.int64)
    if n_parents >= k:
        return np.arange(k, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    raw = AgglomerativeClustering(
        n_clusters=n_parents, metric="cosine", linkage="average"
    ).fit_predict(centroids)
    return _compact(np.asarray(raw, dtype=np.int64))[0]


class ThemeClusterer:
    """Cluster unit embeddings into themes without being told how many there are.

    Parameters
    ----------
    min_theme_size:
        Smallest theme; None scales it with the corpus as
        max(5, round(min_theme_fraction * n_units)).
    min_theme_fraction:
        Share of the corpus a theme needs when `min_theme_size` is None; 1/400 measured best
        on Banking77 train (3k and 10k units) and MASSIVE zh+en train (23k).
    min_samples:
        HDBSCAN's density smoothing; small values keep small themes. None uses
        max(1, min_theme_size // 2).
    n_neighbors, n_components:
        UMAP neighbourhood size and output dimensions.
    selection:
        HDBSCAN cluster selection: "leaf" (many tight themes, merged afterwards) or "eom".
    merge_similarity:
        Themes whose centroids have at least this cosine similarity are merged.
    min_similarity:
        An outlier needs this cosine similarity to its nearest centroid to be assigned.
    max_unassigned:
        Largest share of units left unassigned (-1); the closest outliers are assigned beyond it.
    temperature:
        Softness of the confidence (see `confidence_of`).
    n_parents:
        Number of parent themes; None uses round(sqrt(n_themes)).
    random_state:
        Seed of UMAP; the same seed and data give the same themes.

    Attributes (after fit)
    ----------------------
    labels_: (n,) int64, theme per unit, -1 unassigned; themes are numbered largest first.
    confidence_: (n,) float32 in [0, 1], 0 for unassigned units.
    centroids_: (n_themes_, dim) float32 unit vectors, in the (language-centred) fit space.
    n_themes_: number of themes.
    parent_: (n_themes_,) int64, the parent theme of each theme, 0..n_parents_-1.
    n_parents_: number of parent themes.
    min_theme_size_: the minimum theme size actually used.
    assign_threshold_: cosine similarity a new unit needs to be assigned by `predict`.
    lang_means_: language code -> mean vector removed before clustering ({} without `lang`).
    """

    def __init__(
        self,
        *,
        min_theme_size: int | None = None,
        min_theme_fraction: float = 0.0025,
        min_samples: int | None = None,
        n_neighbors: int = 15,
        n_components: int = 5,
        selection: Selection = "eom",
        merge_similarity: float = 0.9,
        min_similarity: float = 0.2,
        max_unassigned: float = 0.05,
        temperature: float = 0.05,
        n_parents: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.min_theme_size = min_theme_size
        self.min_theme_fraction = min_theme_fraction
        self.min_samples = min_samples
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.selection = selection
        self.merge_similarity = merge_similarity
        self.min_similarity = min_similarity
        self.max_unassigned = max_unassigned
        self.temperature = temperature
        self.n_parents = n_parents
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.selection not in ("leaf", "eom"):
            raise ValueError(f"selection must be 'leaf' or 'eom', got {self.selection!r}")
        if self.min_theme_size is not None and self.min_theme_size < 2:
            raise ValueError(f"min_theme_size must be at least 2, got {self.min_theme_size}")
        if not 0.0 <= self.max_unassigned < 1.0:
            raise ValueError(f"max_unassigned must be in [0, 1), got {self.max_unassigned}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def fit(
        self, X: np.ndarray, y: object = None, lang: Sequence[str] | np.ndarray | None = None
    ) -> ThemeClusterer:
        """Learn themes from L2-normalised embeddings.

        `lang`, one language code per row (e.g. "zh", "en"), removes each language's mean
        vector before clustering; on MASSIVE zh+en it lifts the share of translation pairs that
        land in the same theme. `y` is ignored (scikit-learn convention).
        """
        self._check_params()
        X = check_embeddings(X, MIN_ROWS)
        n = X.shape[0]
        self.lang_means_: dict[str, np.ndarray] = {}
        if lang is not None:
            X, self.lang_means_ = center_languages(X, lang)
        size = self.min_theme_size or max(MIN_THEME_FLOOR, round(self.min_theme_fraction * n))
        self.min_theme_size_ = int(min(size, n // 2))
        samples = self.min_samples or max(1, self.min_theme_size_ // 2)

        Y = reduce(X, self.n_neighbors, self.n_components, self.random_state)
        labels = density_labels(Y, self.min_theme_size_, samples, self.selection)
        if not (labels >= 0).any():
            labels = np.zeros(n, dtype=np.int64)
        labels = merge_similar(X, labels, self.merge_similarity)
        labels, k = _compact(labels)
        centroids = centroids_of(X, labels, k)
        labels, self.assign_threshold_ = assign_outliers(
            X, labels, centroids, self.min_similarity, self.max_unassigned
        )

        self.labels_ = labels
        self.n_themes_ = k
        self.centroids_ = centroids_of(X, labels, k)
        self.confidence_ = confidence_of(X, labels, self.centroids_, self.temperature)
        wanted = self.n_parents or max(1, round(math.sqrt(k)))
        self.parent_ = parents_of(self.centroids_, wanted)
        self.n_parents_ = int(self.parent_.max()) + 1 if k else 0
        return self

    def fit_predict(
        self, X: np.ndarray, y: object = None, lang: Sequence[str] | np.ndarray | None = None
    ) -> np.ndarray:
        return self.fit(X, lang=lang).labels_

    def predict(
        self, X: np.ndarray, lang: Sequence[str] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence) for new units: nearest theme centroid, or -1 when the unit is
        farther from every theme than the fit's `assign_threshold_`.

        Pass `lang` when the fit had it, so new units are centred the same way.
        """
        if not hasattr(self, "centroids_"):
            raise ValueError("this ThemeClusterer is not fitted yet; call fit first")
        X = check_embeddings(X)
        if X.shape[1] != self.centroids_.shape[1]:
            raise ValueError(
                f"embeddings have {X.shape[1]} dimensions, the themes have "
                f"{self.centroids_.shape[1]}; embed with the model used for fit"
            )
        if lang is not None and self.lang_means_:
            X, _ = center_languages(X, lang, self.lang_means_)
        sims = X @ self.centroids_.T
        labels = np.argmax(sims, axis=1).astype(np.int64)
        labels[sims[np.arange(X.shape[0]), labels] < self.assign_threshold_] = -1
        return labels, confidence_of(X, labels, self.centroids_, self.temperature)
