"""ThemeClusterer on synthetic blobs: known themes, so recovery can be checked exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from voc.cluster import ThemeClusterer, _top_k_numpy, nearest_neighbors, neighbor_graph

N_BLOBS = 8
DIM = 32


def _unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points around the same 8 centres for every seed (the centres come from random_state 7)."""
    _, _, centers = make_blobs(
        n_samples=N_BLOBS, centers=N_BLOBS, n_features=DIM, random_state=7, return_centers=True
    )
    X, y = make_blobs(
        n_samples=n, centers=centers, n_features=DIM, cluster_std=1.5, random_state=seed
    )
    return _unit(X), y, centers


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = _blobs(400, seed=1)
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs: tuple[np.ndarray, np.ndarray]) -> ThemeClusterer:
    return ThemeClusterer(random_state=3).fit(blobs[0])


def test_blobs_are_recovered_as_themes(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    assert fitted.n_themes_ == N_BLOBS
    assert adjusted_rand_score(blobs[1], fitted.labels_) >= 0.95


def test_at_most_five_percent_of_units_stay_unassigned(fitted: ThemeClusterer) -> None:
    assert (fitted.labels_ == -1).mean() <= 0.05


def test_learned_state_has_the_documented_shapes_and_ranges(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    n = blobs[0].shape[0]
    assert fitted.labels_.shape == (n,)
    assert fitted.labels_.dtype == np.int64
    assert fitted.labels_.min() >= -1
    assert fitted.labels_.max() == fitted.n_themes_ - 1
    assert fitted.confidence_.shape == (n,)
    assert ((fitted.confidence_ >= 0) & (fitted.confidence_ <= 1)).all()
    assert (fitted.confidence_[fitted.labels_ == -1] == 0).all()
    assert fitted.centroids_.shape == (fitted.n_themes_, DIM)
    np.testing.assert_allclose(np.linalg.norm(fitted.centroids_, axis=1), 1.0, atol=1e-5)
    sizes = np.bincount(fitted.labels_[fitted.labels_ >= 0])
    assert (np.diff(sizes) <= 0).all(), "themes are numbered largest first"


def test_units_inside_a_blob_are_confidently_assigned(fitted: ThemeClusterer) -> None:
    assert np.median(fitted.confidence_) > 0.9


def test_same_seed_gives_the_same_themes(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    again = ThemeClusterer(random_state=3).fit(blobs[0])
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.confidence_, fitted.confidence_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_other_seeds_give_the_same_themes(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    other = ThemeClusterer(random_state=seed).fit(blobs[0])
    np.testing.assert_array_equal(other.labels_, fitted.labels_)


def test_resolution_shrinks_as_the_corpus_grows_and_is_capped_for_small_ones(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    assert fitted.resolution_ == pytest.approx(400 / (15 * 5)), "capped by the theme size"
    larger = ThemeClusterer(random_state=3).fit(np.vstack([blobs[0]] * 8))
    assert larger.resolution_ == pytest.approx(6.0 * 3.2 ** (-1 / 3))
    assert larger.n_themes_ == N_BLOBS


def test_higher_resolution_splits_blobs_into_finer_themes(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    fine = ThemeClusterer(resolution=20.0, merge_similarity=1.0, random_state=3).fit(blobs[0])
    assert fine.resolution_ == 20.0
    assert fine.n_themes_ > N_BLOBS
    for theme in range(fine.n_themes_):
        assert len(set(blobs[1][fine.labels_ == theme].tolist())) == 1, "a theme spans blobs"


def test_nearest_neighbours_are_exact_and_nearest_first() -> None:
    X, _, _ = _blobs(300, seed=4)
    index, similarity = nearest_neighbors(X, 7, chunk=64)
    full = X @ X.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_allclose(similarity, np.take_along_axis(full, expected, 1), rtol=1e-6)
    assert (np.diff(similarity, axis=1) <= 0).all()


def test_duplicate_units_are_neighbours_lowest_row_first_with_or_without_numba() -> None:
    X, _, _ = _blobs(200, seed=5)
    X[[40, 90, 150]] = X[10]  # four identical vectors: equally similar to everything
    compiled = nearest_neighbors(X, 5, chunk=256)
    assert compiled[0][10, :3].tolist() == [40, 90, 150]
    assert compiled[0][150, :3].tolist() == [10, 40, 90]
    index = np.empty((200, 5), dtype=np.int64)
    similarity = np.empty((200, 5), dtype=np.float32)
    _top_k_numpy(X @ X.T, 0, index, similarity)
    np.testing.assert_array_equal(similarity, compiled[1])
    np.testing.assert_array_equal(index[[10, 40, 90, 150]], compiled[0][[10, 40, 90, 150]])
    # Elsewhere only a tie at the fifth place may pick another of the four copies.
    differ = (index != compiled[0]).any(axis=1)
    fifth = set(index[differ, 4].tolist()) | set(compiled[0][differ, 4].tolist())
    assert fifth <= {10, 40, 90, 150}


def test_neighbour_graph_is_symmetric_with_full_weight_to_the_nearest_neighbour() -> None:
    X, _, _ = _blobs(200, seed=6)
    index, similarity = nearest_neighbors(X, 10)
    graph = neighbor_graph(index, similarity)
    assert abs(graph - graph.T).max() == 0
    assert graph.diagonal().max() == 0
    assert graph.data.min() > 0 and graph.data.max() <= 1 + 1e-9
    np.testing.assert_allclose(graph[np.arange(200), index[:, 0]].A1, 1.0)


def test_new_points_are_assigned_to_the_theme_of_their_blob(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    theme_of_blob = {
        blob: int(np.bincount(fitted.labels_[blobs[1] == blob] + 1).argmax() - 1)
        for blob in range(N_BLOBS)
    }
    X_new, y_new, _ = _blobs(80, seed=99)
    labels, confidence = fitted.predict(X_new)
    expected = np.array([theme_of_blob[blob] for blob in y_new])
    assert (labels == expected).mean() >= 0.95
    assert confidence.shape == (80,)
    assert ((confidence > 0) & (confidence <= 1)).all()


def test_a_point_unlike_every_theme_is_left_unassigned(fitted: ThemeClusterer) -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=DIM)
    basis, _ = np.linalg.qr(fitted.centroids_.T.astype(np.float64))
    orthogonal = direction - basis @ (basis.T @ direction)
    labels, confidence = fitted.predict(_unit(orthogonal[None, :]))
    assert labels.tolist() == [-1]
    assert confidence.tolist() == [0.0]


def test_every_theme_has_a_parent(fitted: ThemeClusterer) -> None:
    assert fitted.parent_.shape == (fitted.n_themes_,)
    assert fitted.n_parents_ == round(np.sqrt(N_BLOBS))
    assert set(fitted.parent_.tolist()) == set(range(fitted.n_parents_))


def test_minimum_theme_size_scales_with_corpus_and_is_respected(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    assert fitted.min_theme_size_ == 5
    strict = ThemeClusterer(min_theme_size=60, random_state=3).fit(blobs[0])
    assert strict.min_theme_size_ == 60
    assert np.bincount(strict.labels_[strict.labels_ >= 0]).min() >= 60
    assert strict.n_themes_ < N_BLOBS


def test_language_centring_puts_translations_in_one_theme() -> None:
    """Two 'languages': the same blob points, one set shifted by a shared language vector."""
    X, y, _ = _blobs(200, seed=5)
    shift = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    raw = np.vstack([X, _unit(X + 1.2 * shift / np.linalg.norm(shift))])
    lang = np.array(["en"] * 200 + ["zh"] * 200)
    model = ThemeClusterer(random_state=3).fit(raw, lang=lang)
    assert sorted(model.lang_means_) == ["en", "zh"]
    assert model.n_themes_ == N_BLOBS
    assert (model.labels_[:200] == model.labels_[200:]).mean() >= 0.95
    labels, _ = model.predict(raw[200:220], lang=lang[200:220])
    np.testing.assert_array_equal(labels, model.labels_[:20])


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.ones(40, dtype=np.float32), "2-D"),
        (np.full((40, 8), np.nan, dtype=np.float32), "NaN"),
        (np.eye(8, dtype=np.float32)[:5], "at least 10 units"),
        (np.zeros((40, 8), dtype=np.float32), "all-zero"),
    ],
)
def test_bad_embeddings_are_refused_with_a_clear_error(X: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ThemeClusterer().fit(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"resolution": 0.0}, "resolution must be positive"),
        ({"n_runs": 0}, "n_runs must be at least 1"),
        ({"n_neighbors": 1}, "n_neighbors must be at least 2"),
        ({"min_theme_size": 1}, "min_theme_size must be at least 2"),
    ],
)
def test_bad_hyper_parameters_are_refused_with_a_clear_error(
    blobs: tuple[np.ndarray, np.ndarray], params: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ThemeClusterer(**params).fit(blobs[0])


def test_lang_must_have_one_code_per_row(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="one code per row"):
        ThemeClusterer().fit(blobs[0], lang=["en"] * 3)


def test_predict_before_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        ThemeClusterer().predict(np.eye(4, dtype=np.float32))


def test_refinement_runs_on_monolingual_corpora_only(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    X = blobs[0]
    half = ["zh"] * (len(X) // 2) + ["en"] * (len(X) - len(X) // 2)
    assert ThemeClusterer(random_state=0).fit(X).refined_ is True
    assert ThemeClusterer(random_state=0).fit(X, lang=["en"] * len(X)).refined_ is True
    assert ThemeClusterer(random_state=0).fit(X, lang=half).refined_ is False
    assert ThemeClusterer(refine=True, random_state=0).fit(X, lang=half).refined_ is True
    assert ThemeClusterer(refine=False, random_state=0).fit(X).refined_ is False


def test_stage_timings_are_reported(fitted: ThemeClusterer) -> None:
    assert set(fitted.timings_) == {"graph", "communities", "refine", "assign", "parents"}
    assert all(seconds >= 0 for seconds in fitted.timings_.values())


def test_previous_themes_are_kept_and_new_units_placed(
    fitted: ThemeClusterer, blobs: tuple[np.ndarray, np.ndarray]
) -> None:
    X, truth = blobs
    init = fitted.labels_.copy()
    init[::10] = -1
    again = ThemeClusterer(random_state=5).fit(X, previous=init)
    assert adjusted_rand_score(again.labels_, fitted.labels_) == 1.0
    assert adjusted_rand_score(again.labels_, truth) == 1.0


def test_previous_must_have_one_theme_per_row(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="previous must have one theme per row"):
        ThemeClusterer().fit(blobs[0], previous=[0, 1])
