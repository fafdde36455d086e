"""Exact-arithmetic Louvain: known partitions, termination where networkx 3.6.1 loops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from voc.louvain import (
    _fits_int64,
    consensus_communities,
    integer_graph,
    louvain,
    louvain_runs,
)


def _graph(edges: list[tuple[int, int]], n: int, weight: float = 1.0) -> sparse.csr_matrix:
    rows = [a for a, b in edges] + [b for a, b in edges]
    cols = [b for a, b in edges] + [a for a, b in edges]
    return sparse.csr_matrix((np.full(len(rows), weight), (rows, cols)), shape=(n, n))


def _cliques(sizes: list[int]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Cliques chained by one edge each; the expected community of every node."""
    edges, truth, start = [], [], 0
    for label, size in enumerate(sizes):
        nodes = range(start, start + size)
        edges += [(a, b) for a in nodes for b in nodes if a < b]
        if start:
            edges.append((start - 1, start))
        truth += [label] * size
        start += size
    return _graph(edges, start), np.array(truth)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_chained_cliques_are_found_as_communities(seed: int) -> None:
    graph, truth = _cliques([6, 7, 8, 6, 9])
    assert _same_partition(louvain(graph, 1.0, seed), truth)


def test_graph_atlas_g674_terminates_for_every_seed() -> None:
    """The 7-node graph on which networkx's float gains oscillate forever (issue #8739)."""
    graph = _graph(
        [(0, 1), (0, 2), (0, 5), (0, 6), (1, 2), (1, 4), (2, 3), (2, 5), (2, 6), (3, 4)], 7
    )
    for seed in range(50):
        labels = louvain(graph, 1.0, seed)
        assert labels.shape == (7,) and labels.min() == 0


def test_higher_resolution_gives_more_communities() -> None:
    graph, _ = _cliques([10, 10, 10, 10])
    assert louvain(graph, 0.01, 0).max() < louvain(graph, 1.0, 0).max() == 3
    assert louvain(graph, 40.0, 0).max() + 1 > 4


def test_input_graph_is_left_untouched() -> None:
    graph, _ = _cliques([5, 5])
    graph = graph.multiply(0.0004).tocsr() + _cliques([5, 5])[0].multiply(0.5).tocsr()
    before = (graph.data.copy(), graph.indices.copy(), graph.indptr.copy())
    louvain(graph, 1.0, 0)
    integer_graph(graph)
    np.testing.assert_array_equal(graph.data, before[0])
    np.testing.assert_array_equal(graph.indices, before[1])
    np.testing.assert_array_equal(graph.indptr, before[2])


def test_weights_are_scaled_to_integers_and_negligible_ones_dropped() -> None:
    graph = _graph([(0, 1), (1, 2)], 3)
    graph[0, 1] = graph[1, 0] = 0.0004
    scaled = integer_graph(graph)
    assert scaled.dtype == np.int64
    assert scaled.nnz == 2 and scaled[1, 2] == 1000


def test_consensus_is_deterministic_for_a_seed_and_finds_the_cliques() -> None:
    graph, truth = _cliques([8, 8, 8, 8, 8])
    first = consensus_communities(graph, 1.0, 5, random_state=7)
    np.testing.assert_array_equal(first, consensus_communities(graph, 1.0, 5, random_state=7))
    assert _same_partition(first, truth)


def test_non_positive_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="resolution must be positive"):
        louvain(_graph([(0, 1)], 2), 0.0, 0)


def test_previous_partition_is_kept_where_todays_graph_allows_it() -> None:
    """Two cliques joined by a bridge of moderate weight: alone the runs split them; a previous
    run that held them together keeps them together; new nodes are placed by today's graph."""
    graph, truth = _cliques([8, 8, 8])
    alone = consensus_communities(graph, 1.0, 5, random_state=0)
    assert _same_partition(alone, truth)
    previous = truth.copy()
    previous[[0, 9, 17]] = -1
    kept = consensus_communities(graph, 1.0, 5, random_state=0, previous=previous)
    assert _same_partition(kept, truth)


def test_previous_votes_cannot_glue_what_today_has_no_edge_for() -> None:
    graph, truth = _cliques([8, 8])
    graph = graph.tolil()
    graph[7, 8] = graph[8, 7] = 0
    previous = np.zeros(16, dtype=np.int64)
    labels = consensus_communities(graph.tocsr(), 1.0, 5, random_state=0, previous=previous)
    assert _same_partition(labels, truth)


def _noisy_graph(n: int = 400, edges: int = 3000, seed: int = 3) -> sparse.csr_matrix:
    """A random weighted graph where each Louvain seed finds a different partition."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, edges)
    cols = (rows + rng.integers(1, 40, edges)) % n
    weights = rng.uniform(0.1, 1.0, edges)
    graph = sparse.csr_matrix((weights, (rows, cols)), shape=(n, n))
    return (graph + graph.T).tocsr()


def test_runs_in_threads_give_exactly_the_runs_of_one_thread() -> None:
    """Two threads (forced on for a small graph) return every seed's labels, in seed order,
    exactly as one after another."""
    graph = _noisy_graph()
    seeds = [11, 12, 13, 14, 15]
    alone = louvain_runs(graph, 1.0, seeds)
    assert len({tuple(labels.tolist()) for labels in alone}) > 1, "seeds should differ here"
    together = louvain_runs(graph, 1.0, seeds, n_jobs=2, min_nodes=0)
    assert [labels.tolist() for labels in together] == [labels.tolist() for labels in alone]
    assert np.array_equal(
        consensus_communities(graph, 1.0, 5, random_state=2, n_jobs=2, min_nodes=0),
        consensus_communities(graph, 1.0, 5, random_state=2),
    )


@pytest.mark.parametrize("resolution", [0.5, 1.0, 2.7])
def test_compiled_moves_give_the_partition_of_python_integers(resolution: float) -> None:
    """Same gains, same tie-breaking (first neighbouring community wins): identical labels,
    on a noisy graph and on aggregated levels with self-loops."""
    graph = _noisy_graph(n=600, edges=5000, seed=5)
    for seed in range(4):
        compiled = louvain(graph, resolution, seed)
        python = louvain(graph, resolution, seed, compiled=False)
        np.testing.assert_array_equal(compiled, python)


def test_levels_whose_gains_could_overflow_int64_run_in_python_integers() -> None:
    degree = np.array([2**40, 2**40], dtype=np.int64)
    assert not _fits_int64(degree, p=3, scale=1000 * 2**41)
    assert _fits_int64(np.array([6000, 5000]), p=2500, scale=1000 * 11000)
    # Weights near the int64 limit still cluster, exactly, through the Python path.
    graph, truth = _cliques([6, 6, 6])
    heavy = graph.multiply(1.0).tocsr()
    heavy.data[:] = 1.0
    labels = louvain(heavy * 4e12, 1.0, 0)
    assert _same_partition(labels, truth)
