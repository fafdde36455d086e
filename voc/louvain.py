"""Louvain community detection in exact integer arithmetic, and seed-robust consensus.

Why not networkx: its Louvain compares floating-point modularity gains, and on the demo
corpus round-off made two moves look better than each other in turn, so one call never
returned (networkx issue #8739, fixed after 3.6.1). Here edge weights are scaled to integers,
the resolution is a fraction p/q, and the gain of moving node u into community C,

    q * 2m * w(u, C) - p * k(u) * tot(C),

is the modularity gain times q * m * 2m: an exact integer. A node moves only when its gain
strictly beats staying, so every move strictly raises modularity and the local-moving loop
must end. Working on CSR arrays and Python ints it is also about three times faster than
networkx on a 3,000-unit graph.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)

WEIGHT_SCALE = 1000
"""Edge weights in (0, 1] become integers 1..1000; lighter edges (< 0.0005) are dropped."""

PARALLEL_MIN_NODES = 3000
"""Smaller graphs run their Louvain runs in this process: starting workers costs more than
the runs (a 2,000-node run takes about 0.2 s)."""


def integer_graph(graph: sparse.spmatrix) -> sparse.csr_matrix:
    """A new symmetric CSR matrix of integer weights; `graph` itself is left untouched."""
    g = sparse.csr_matrix(graph, dtype=np.float64)
    data = np.rint(g.data * WEIGHT_SCALE).astype(np.int64)
    out = sparse.csr_matrix((data, g.indices.copy(), g.indptr.copy()), shape=g.shape)
    out.eliminate_zeros()
    return out


def _local_moves(adj: sparse.csr_matrix, p: int, q: int, rng: np.random.Generator) -> np.ndarray:
    """One Louvain level: move nodes, in a seeded random order, to the neighbouring
    community with the largest gain until no move helps; communities numbered 0..k-1."""
    n = adj.shape[0]
    degree = np.asarray(adj.sum(axis=1)).ravel().astype(np.int64)
    scale = q * int(degree.sum())
    indptr = adj.indptr.tolist()
    indices = adj.indices.tolist()
    weights = adj.data.tolist()
    deg = degree.tolist()
    community = list(range(n))
    total = list(deg)
    order = rng.permutation(n).tolist()
    moved = True
    while moved:
        moved = False
        for u in order:
            own = community[u]
            links: dict[int, int] = {}
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                if v != u:
                    c = community[v]
                    links[c] = links.get(c, 0) + weights[j]
            total[own] -= deg[u]
            cost = p * deg[u]
            best = own
            best_gain = scale * links.get(own, 0) - cost * total[own]
            for c, w in links.items():
                gain = scale * w - cost * total[c]
                if gain > best_gain:
                    best, best_gain = c, gain
            total[best] += deg[u]
            if best != own:
                community[u] = best
                moved = True
    return np.unique(np.asarray(community, dtype=np.int64), return_inverse=True)[1]


def louvain(graph: sparse.spmatrix, resolution: float, seed: int) -> np.ndarray:
    """Community of each node of a symmetric weighted graph (modularity with `resolution`).

    Levels alternate local moves and aggregation (communities become nodes, internal
    weight a self-loop) until a level moves nothing.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    fraction = Fraction(resolution).limit_denominator(1000)
    p, q = fraction.numerator, fraction.denominator
    rng = np.random.default_rng(seed)
    adj = integer_graph(graph)
    labels = np.arange(adj.shape[0])
    while True:
        level = _local_moves(adj, p, q, rng)
        labels = level[labels]
        k = int(level.max()) + 1 if level.size else 0
        if k == adj.shape[0]:
            return labels
        members = sparse.csr_matrix(
            (np.ones(adj.shape[0], dtype=np.int64), (np.arange(adj.shape[0]), level)),
            shape=(adj.shape[0], k),
        )
        adj = (members.T @ adj @ members).tocsr()


def consensus_communities(
    graph: sparse.spmatrix,
    resolution: float,
    n_runs: int,
    random_state: int,
    previous: np.ndarray | None = None,
    n_jobs: int | None = None,
    min_nodes: int = PARALLEL_MIN_NODES,
) -> np.ndarray:
    """Louvain communities that depend little on the seed, or on last week's data.

    A single run depends on the order it visits nodes: two seeds agreed only with ARI
    0.75-0.85 on Banking77. Here `n_runs` seeded runs vote on every edge; edges kept together
    by fewer than half of the votes are dropped, the rest weighted by their share of votes,
    and a last run partitions that consensus graph (Lancichinetti and Fortunato, 2012).

    `previous`, a community per node from the last run (-1: a new or unassigned node), casts
    `n_runs` more votes on each edge between two old nodes: an edge stays when the previous
    run and at least some of today's runs keep it, so a week of new data re-cuts a theme only
    where today's graph clearly disagrees, while new nodes are placed by today's runs alone
    and can form new themes. With 10% new Banking77 units the best one-to-one id matching
    kept 0.91 of the units instead of 0.85, at the same NMI (a warm-started Louvain reached
    0.89 but lost 0.01 NMI and rarely let new themes form).

    `n_jobs` processes run the voting runs side by side (see `louvain_runs`); the result does
    not depend on it.
    """
    rng = np.random.default_rng(random_state)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, n_runs + 1)]
    if n_runs == 1 and previous is None:
        return louvain(graph, resolution, seeds[0])
    edges = sparse.triu(graph, 1).tocoo()
    votes = np.zeros(edges.nnz)
    for labels in louvain_runs(graph, resolution, seeds[:-1], n_jobs, min_nodes):
        votes += labels[edges.row] == labels[edges.col]
    ballots = np.full(edges.nnz, float(n_runs))
    if previous is not None:
        before = np.asarray(previous, dtype=np.int64)
        old = (before[edges.row] >= 0) & (before[edges.col] >= 0)
        votes += n_runs * (old & (before[edges.row] == before[edges.col]))
        ballots += n_runs * old
    share = votes / ballots
    keep = share >= 0.5
    agreed = sparse.coo_matrix(
        (edges.data[keep] * share[keep], (edges.row[keep], edges.col[keep])), shape=graph.shape
    )
    return louvain((agreed + agreed.T).tocsr(), resolution, seeds[-1])


def louvain_runs(
    graph: sparse.spmatrix,
    resolution: float,
    seeds: list[int],
    n_jobs: int | None = None,
    min_nodes: int = PARALLEL_MIN_NODES,
) -> list[np.ndarray]:
    """`louvain(graph, resolution, seed)` for each seed, in order.

    Each run is single-threaded Python, so with `n_jobs` > 1 and a graph of at least
    `min_nodes` nodes the seeds are shared among that many worker processes
    (`python -m voc.louvain`, fed the graph on stdin). Plain subprocesses rather than
    multiprocessing: a forked worker could inherit locks held by the API's other threads, and
    spawn and forkserver workers re-run the caller's main script, which a user's unguarded
    script does not survive. Where a worker cannot start or fails, its runs go on here.
    """
    jobs = min(n_jobs or 1, len(seeds))
    if jobs <= 1 or graph.shape[0] < min_nodes:
        return [louvain(graph, resolution, seed) for seed in seeds]
    shares = [seeds[i::jobs] for i in range(jobs)]
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    payload = [pickle.dumps((sparse.csr_matrix(graph), resolution, share)) for share in shares]

    def run(i: int) -> list[np.ndarray]:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "voc.louvain"],
                input=payload[i],
                capture_output=True,
                env=env,
                check=True,
            )
            return list(pickle.loads(done.stdout))
        except (OSError, subprocess.CalledProcessError, pickle.UnpicklingError, EOFError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            log.warning(
                "louvain_worker_failed error=%s: %s %s",
                type(exc).__name__,
                exc,
                detail.decode(errors="replace")[-500:],
            )
            return [louvain(graph, resolution, seed) for seed in shares[i]]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run, range(jobs)))
    by_seed: list[np.ndarray] = [np.empty(0)] * len(seeds)
    for i, labels in enumerate(results):
        for j, lab in enumerate(labels):
            by_seed[i + j * jobs] = lab
    return by_seed


def _worker() -> None:
    """`python -m voc.louvain`: (graph, resolution, seeds) pickled on stdin, the labels of
    each seed's run pickled on stdout."""
    graph, resolution, seeds = pickle.load(sys.stdin.buffer)
    labels = [louvain(graph, resolution, seed) for seed in seeds]
    sys.stdout.buffer.write(pickle.dumps(labels))


if __name__ == "__main__":
    _worker()
