"""Theme clustering: unit embeddings -> themes, with no number of themes given.

Stages (each a small function, so benchmarks can measure them one by one):
1. optional per-language centring: a language's mean vector is mostly "this is Chinese", not
   "this is about refunds"; removing it lets a Chinese and an English sentence with one meaning
   land together.
2. an exact cosine k-nearest-neighbour graph, weighted as UMAP weights its graph. Clustering
   the graph itself, not a UMAP projection of it, removes UMAP's random layout, the main reason
   two seeds gave different themes.
3. consensus Louvain communities (voc.louvain): several seeded runs vote on each edge, a last
   run partitions the agreed graph. The resolution, not a number of themes, sets the
   granularity. This replaced UMAP + HDBSCAN, which measured worse on every benchmark set
   (docs/benchmarks.md) and disagreed with itself across seeds (ARI 0.79).
4. discriminant refinement (monolingual corpora): a shrinkage LDA fitted on the first themes
   learns which directions of the embedding separate them; the graph is rebuilt in that space
   and clustered again. It lifts Banking77 train NMI by about 0.03. In a bilingual corpus the
   same step also learns directions that separate the languages and split translations
   (MASSIVE train pair agreement fell from 0.85 to 0.82), so there it is skipped.
5. communities below a minimum theme size are dissolved, near-duplicate themes merged, then
   outliers reassigned to the nearest centroid in the original space so that at most
   `max_unassigned` of the units stay unassigned (-1).
6. parents: agglomerative clustering of theme centroids gives a two-level hierarchy.

`ThemeClusterer` follows the scikit-learn estimator contract: hyper-parameters in `__init__`,
learned state with a trailing underscore, nothing read from global state.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse

from voc.jit import compile_kernel
from voc.louvain import consensus_communities

MIN_ROWS = 10
"""Fewer units than this cannot form even two themes of the smallest size."""

MIN_THEME_FLOOR = 5
"""Smallest theme size ever chosen automatically: fewer units are an anecdote, not a theme."""


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


def nearest_neighbors(X: np.ndarray, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of each unit (itself excluded), nearest first; among
    equally similar neighbours the lower row comes first.

    Exact rather than approximate (pynndescent) so the graph, and hence the themes, do not
    depend on a seed; blocks of `chunk` rows keep memory at chunk x n similarities. Each
    block's top k is picked by a compiled scan (one pass, no copy of the block: at 10,000
    units 0.1 s against 1.3 s for numpy's argpartition and sort), or by numpy without numba.
    """
    n = X.shape[0]
    k = min(k, n - 1)
    index = np.empty((n, k), dtype=np.int64)
    similarity = np.empty((n, k), dtype=np.float32)
    scan = _compiled_top_k()
    for start in range(0, n, chunk):
        block = X[start : start + chunk] @ X.T
        stop = start + block.shape[0]
        if scan is not None:
            scan(block, start, index[start:stop], similarity[start:stop])
        else:
            _top_k_numpy(block, start, index[start:stop], similarity[start:stop])
    return index, similarity


def _top_k_kernel(block: np.ndarray, start: int, index: np.ndarray, similarity: np.ndarray) -> None:
    """For each row r of `block`, the `index.shape[1]` largest entries other than column
    start + r, largest first, ties to the lower column, written into `index` and
    `similarity`. Compiled by numba (see `_compiled_top_k`)."""
    rows, n = block.shape
    k = index.shape[1]
    for r in range(rows):
        count = 0
        for j in range(n):
            if j == start + r:
                continue
            v = block[r, j]
            if count == k and not v > similarity[r, k - 1]:
                continue
            p = count if count < k else k - 1
            while p > 0 and similarity[r, p - 1] < v:
                similarity[r, p] = similarity[r, p - 1]
                index[r, p] = index[r, p - 1]
                p -= 1
            similarity[r, p] = v
            index[r, p] = j
            if count < k:
                count += 1


def _top_k_numpy(block: np.ndarray, start: int, index: np.ndarray, similarity: np.ndarray) -> None:
    """`_top_k_kernel` in numpy (which of several equally similar columns at the k-th place
    is kept is up to argpartition); `block` is overwritten."""
    k = index.shape[1]
    rows = np.arange(block.shape[0])
    block[rows, rows + start] = -np.inf
    top = np.argpartition(-block, k - 1, axis=1)[:, :k]
    top_sim = np.take_along_axis(block, top, axis=1)
    order = np.lexsort((top, -top_sim), axis=1)
    index[:] = np.take_along_axis(top, order, axis=1)
    similarity[:] = np.take_along_axis(top_sim, order, axis=1)


@functools.cache
def _compiled_top_k() -> Callable[..., None] | None:
    return compile_kernel(_top_k_kernel, "the nearest-neighbour scan")


def neighbor_graph(index: np.ndarray, similarity: np.ndarray) -> sparse.csr_matrix:
    """Symmetric fuzzy kNN graph, weighted as UMAP weights its neighbour graph.

    Each unit's distances are rescaled by its own neighbourhood (the nearest neighbour gets
    weight 1, the k neighbours together weigh log2(k + 1)), so dense and sparse regions of the
    embedding space count alike; edges are then joined by fuzzy union, w + w' - w * w'. On
    Banking77 this weighting beat raw cosine, mutual-kNN and shared-neighbour weights.
    """
    n, k = index.shape
    distance = np.maximum(1.0 - similarity.astype(np.float64), 0.0)
    excess = np.maximum(distance - distance[:, :1], 0.0)
    target = math.log2(k + 1)
    low = np.full(n, -20.0)
    high = np.full(n, 10.0)
    for _ in range(64):
        sigma = np.exp((low + high) / 2)
        too_wide = np.exp(-excess / sigma[:, None]).sum(axis=1) > target
        high = np.where(too_wide, np.log(sigma), high)
        low = np.where(too_wide, low, np.log(sigma))
    weight = np.exp(-excess / np.exp((low + high) / 2)[:, None])
    directed = sparse.csr_matrix(
        (weight.ravel(), (np.repeat(np.arange(n), k), index.ravel())), shape=(n, n)
    )
    graph = directed + directed.T - directed.multiply(directed.T)
    graph.eliminate_zeros()
    return graph.tocsr()


def dissolve_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Communities smaller than `min_size` become outliers, to be reassigned by centroid."""
    ids, counts = np.unique(labels, return_counts=True)
    return np.where(np.isin(labels, ids[counts < min_size]), -1, labels)


def centroids_of(X: np.ndarray, labels: np.ndarray, n_themes: int) -> np.ndarray:
    """Unit-length mean vector of each theme's members."""
    members = np.flatnonzero(labels >= 0)
    # A sparse theme-by-unit indicator times X: the sums at BLAS speed (np.add.at took 0.6 s
    # for 10,000 units of 512 dimensions).
    indicator = sparse.csr_matrix(
        (np.ones(members.size), (labels[members], members)), shape=(n_themes, X.shape[0])
    )
    sums = np.asarray(indicator @ X.astype(np.float64, copy=False))
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


def discriminant_space(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length coordinates of X in the discriminant directions of the current themes.

    Shrinkage LDA (Ledoit-Wolf, so 512 dimensions and a few units per theme stay well
    conditioned) weighs each direction by how well it separates themes relative to how much
    it varies inside them; nearest neighbours in this space follow meaning more than wording.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    members = labels >= 0
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
    Z = lda.fit(X[members], labels[members]).transform(X).astype(np.float32)
    return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)


def is_monolingual(lang: Sequence[str] | np.ndarray | None, share: float = 0.9) -> bool:
    """True when no `lang` is given or one language holds at least `share` of the units."""
    if lang is None:
        return True
    _, counts = np.unique(np.asarray(lang, dtype=str), return_counts=True)
    return bool(counts.max() >= share * counts.sum())


def parents_of(centroids: np.ndarray, n_parents: int) -> np.ndarray:
    """Group theme centroids into `n_parents` parent themes (average linkage, cosine).

    scipy's hierarchy rather than scikit-learn's AgglomerativeClustering: the same
    dendrogram, and importing sklearn.cluster cost about a second of every run.
    """
    k = centroids.shape[0]
    if k <= 1 or n_parents <= 1:
        return np.zeros(k, dtype=np.int64)
    if n_parents >= k:
        return np.arange(k, dtype=np.int64)
    from scipy.cluster.hierarchy import cut_tree, linkage

    tree = linkage(centroids.astype(np.float64), method="average", metric="cosine")
    raw = cut_tree(tree, n_clusters=n_parents).ravel()
    return _compact(np.asarray(raw, dtype=np.int64))[0]


class ThemeClusterer:
    """Cluster unit embeddings into themes without being told how many there are.

    Parameters
    ----------
    min_theme_size:
        Smallest theme; None scales it with the corpus as
        max(5, round(min_theme_fraction * n_units)).
    min_theme_fraction:
        Share of the corpus a theme needs when `min_theme_size` is None.
    n_neighbors:
        Neighbours per unit in the graph; 10-15 scored alike on Banking77 and MASSIVE.
    resolution:
        Louvain resolution: higher gives more, smaller themes. None uses
        6 * (n_units / 1000) ** (-1/3): large corpora hold larger themes, and a fixed
        resolution that suits 3k Banking77 units (about 4) splits 23k MASSIVE units too finely
        (best near 2). It is capped at n_units / (15 * min_theme_size_): modularity favours
        communities of at most about n_units / resolution units, and a small corpus (72 demo
        units, 3 themes) was otherwise cut into crumbs below the minimum theme size.
    n_runs:
        Louvain runs that vote on the consensus graph; more runs, more stable themes, slower.
        5 runs kept seed-to-seed ARI at 0.80-0.85 on Banking77 train and 10 at about 0.90;
        20 (compiled runs made them cheap) lifted it to 0.946 on Banking77 test and 0.939 on
        MASSIVE train, and a week's id stability from 0.919 to 0.932 (Banking77 train) and
        0.899 to 0.904 (demo), at the same NMI and ARI (bench.quality, bench.stability).
    refine:
        "auto" runs the discriminant refinement only on monolingual corpora (see the module
        docstring); True or False force it on or off.
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
        Seed of the Louvain runs; the same seed and data give the same themes, and other seeds
        give nearly the same ones.
    n_jobs:
        Threads running the voting Louvain runs side by side on graphs of 3,000 units or
        more (None: one); the themes do not depend on it.

    Attributes (after fit)
    ----------------------
    labels_: (n,) int64, theme per unit, -1 unassigned; themes are numbered largest first.
    confidence_: (n,) float32 in [0, 1], 0 for unassigned units.
    centroids_: (n_themes_, dim) float32 unit vectors, in the (language-centred) fit space.
    n_themes_: number of themes.
    parent_: (n_themes_,) int64, the parent theme of each theme, 0..n_parents_-1.
    n_parents_: number of parent themes.
    min_theme_size_: the minimum theme size actually used.
    resolution_: the Louvain resolution actually used.
    refined_: whether the discriminant refinement ran.
    timings_: seconds spent per stage (graph, communities, refine, assign, parents).
    assign_threshold_: cosine similarity a new unit needs to be assigned by `predict`.
    lang_means_: language code -> mean vector removed before clustering ({} without `lang`).
    """

    def __init__(
        self,
        *,
        min_theme_size: int | None = None,
        min_theme_fraction: float = 0.0025,
        n_neighbors: int = 15,
        resolution: float | None = None,
        n_runs: int = 20,
        refine: bool | str = "auto",
        merge_similarity: float = 0.9,
        min_similarity: float = 0.2,
        max_unassigned: float = 0.05,
        temperature: float = 0.05,
        n_parents: int | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.min_theme_size = min_theme_size
        self.min_theme_fraction = min_theme_fraction
        self.n_neighbors = n_neighbors
        self.resolution = resolution
        self.n_runs = n_runs
        self.refine = refine
        self.merge_similarity = merge_similarity
        self.min_similarity = min_similarity
        self.max_unassigned = max_unassigned
        self.temperature = temperature
        self.n_parents = n_parents
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        if self.min_theme_size is not None and self.min_theme_size < 2:
            raise ValueError(f"min_theme_size must be at least 2, got {self.min_theme_size}")
        if self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be at least 2, got {self.n_neighbors}")
        if self.resolution is not None and self.resolution <= 0:
            raise ValueError(f"resolution must be positive, got {self.resolution}")
        if self.n_runs < 1:
            raise ValueError(f"n_runs must be at least 1, got {self.n_runs}")
        if self.refine not in (True, False, "auto"):
            raise ValueError(f'refine must be True, False or "auto", got {self.refine!r}')
        if not 0.0 <= self.max_unassigned < 1.0:
            raise ValueError(f"max_unassigned must be in [0, 1), got {self.max_unassigned}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def fit(
        self,
        X: np.ndarray,
        y: object = None,
        lang: Sequence[str] | np.ndarray | None = None,
        previous: Sequence[int] | np.ndarray | None = None,
    ) -> ThemeClusterer:
        """Learn themes from L2-normalised embeddings.

        `lang`, one language code per row (e.g. "zh", "en"), removes each language's mean
        vector before clustering; on MASSIVE zh+en it lifts the share of translation pairs that
        land in the same theme. `previous`, one theme per row from the last run (-1 for a new or
        unassigned unit), votes in the consensus (see `voc.louvain.consensus_communities`),
        so a weekly run keeps last week's themes where today's data does not clearly disagree.
        `y` is ignored (scikit-learn convention).
        """
        self._check_params()
        X = check_embeddings(X, MIN_ROWS)
        n = X.shape[0]
        before = None if previous is None else np.asarray(previous, dtype=np.int64)
        if before is not None and before.shape != (n,):
            raise ValueError(
                f"previous must have one theme per row: {before.shape[0]} for {n} rows"
            )
        self.lang_means_: dict[str, np.ndarray] = {}
        if lang is not None:
            X, self.lang_means_ = center_languages(X, lang)
        size = self.min_theme_size or max(MIN_THEME_FLOOR, round(self.min_theme_fraction * n))
        self.min_theme_size_ = int(min(size, n // 2))
        by_size = 6.0 * (n / 1000) ** (-1 / 3)
        self.resolution_ = float(self.resolution or min(by_size, n / (15 * self.min_theme_size_)))

        self.refined_ = self.refine is True or (self.refine == "auto" and is_monolingual(lang))
        self.timings_: dict[str, float] = {}
        clock = time.perf_counter()
        graph = neighbor_graph(*nearest_neighbors(X, self.n_neighbors))
        self.timings_["graph"] = time.perf_counter() - clock
        clock = time.perf_counter()
        labels = self._communities(X, graph, before)
        self.timings_["communities"] = time.perf_counter() - clock
        if self.refined_ and labels.max(initial=-1) >= 1:
            clock = time.perf_counter()
            Z = discriminant_space(X, labels)
            refined_graph = neighbor_graph(*nearest_neighbors(Z, self.n_neighbors))
            labels = self._communities(X, refined_graph, before)
            self.timings_["refine"] = time.perf_counter() - clock
        clock = time.perf_counter()
        labels, k = _compact(labels)
        centroids = centroids_of(X, labels, k)
        labels, self.assign_threshold_ = assign_outliers(
            X, labels, centroids, self.min_similarity, self.max_unassigned
        )
        self.labels_ = _compact(labels)[0]
        self.n_themes_ = k
        self.centroids_ = centroids_of(X, self.labels_, k)
        self.confidence_ = confidence_of(X, self.labels_, self.centroids_, self.temperature)
        self.timings_["assign"] = time.perf_counter() - clock
        clock = time.perf_counter()
        wanted = self.n_parents or max(1, round(math.sqrt(k)))
        self.parent_ = parents_of(self.centroids_, wanted)
        self.n_parents_ = int(self.parent_.max()) + 1 if k else 0
        self.timings_["parents"] = time.perf_counter() - clock
        return self

    def _communities(
        self, X: np.ndarray, graph: sparse.csr_matrix, previous: np.ndarray | None
    ) -> np.ndarray:
        """Consensus communities of the graph, small ones dissolved, themes whose centroids in
        X are near-duplicates merged; all units in one theme when nothing reaches the minimum
        size."""
        labels = consensus_communities(
            graph, self.resolution_, self.n_runs, self.random_state, previous, self.n_jobs
        )
        labels = dissolve_small(labels, self.min_theme_size_)
        if not (labels >= 0).any():
            return np.zeros(X.shape[0], dtype=np.int64)
        return merge_similar(X, labels, self.merge_similarity)

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
