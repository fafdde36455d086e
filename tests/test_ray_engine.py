"""RayEngine on a local Ray: the same vectors, assignments and themes as LocalEngine.

Runs when Ray is installed (`pip install 'voc[ray]'`; `make test` installs it), on a Ray of
two CPUs started once for the module, with the real use-m3 embedder on the demo interviews.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from tests.backends import Backend
from voc.cluster import ThemeClusterer
from voc.embed import CachedEmbedder, Embedder, load_embedder
from voc.engine import LocalEngine, make_engine
from voc.ids import text_hash
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'voc[ray]'")
pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'voc[ray]'")

from voc.ray_engine import RayEngine  # noqa: E402  (after the skip: it needs Ray)

pytestmark = [
    pytest.mark.slow,
    # Ray Data's own DataContext copies set its deprecated fields.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Store, VocSettings]]:
    """Two workspaces holding the same units, one per engine, each with its own embedding
    cache. A fit sample of 100 units makes the engine assign the others."""
    out = {}
    for name in ("local", "ray"):
        settings = Backend("sqlite").settings(tmp_path_factory.mktemp(name), fit_sample=100)
        store = Store.open(settings.resolved_database_url)
        Ingestor(store, settings).ingest_paths(
            [CORPORA_DIR / "demo" / "interviews"], "interview", "w"
        )
        out[name] = (store, settings)
    return out


def _units(store: Store) -> tuple[list[str], list[str]]:
    units = list(store.iter_units("w"))
    return [u.norm_text for u in units], [u.lang for u in units]


def _within_one_ulp(a: np.ndarray, b: np.ndarray) -> bool:
    """float16 vectors equal but for rounding: each element at most one float16 step (or
    1e-6 near zero) apart. use-m3's float32 output moves by up to ~2e-7 with the batch a
    text is in and the BLAS thread count, which can flip the last float16 bit; a wrong row
    would be ~0.1 off."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    step = np.spacing(np.maximum(np.abs(a), np.abs(b))).astype(np.float32)
    return bool((np.abs(a32 - b32) <= np.maximum(step, 1e-6)).all())


def test_ray_embeds_the_same_vectors_and_caches_them(
    local_ray: None, embedder: Embedder, stores: dict[str, tuple[Store, VocSettings]]
) -> None:
    texts, _ = _units(stores["local"][0])
    assert 100 < len(texts) < 1000
    local = LocalEngine().embed(texts, CachedEmbedder(embedder, stores["local"][0]))
    calls: list[tuple[str, int, int]] = []
    store = stores["ray"][0]
    cached = CachedEmbedder(embedder, store)
    fetched: list[str] = []

    def fetch(hashes: Sequence[str]) -> dict[str, str]:
        fetched.extend(hashes)
        return store.norm_texts_by_hash("w", hashes)

    # As a re-cluster embeds: by the units' text hashes, fetching only the texts not cached.
    hashes = [text_hash(t) for t in texts]
    vectors = RayEngine().embed_stored(hashes, cached, fetch, lambda *call: calls.append(call))
    assert sorted(fetched) == sorted(set(hashes))

    assert vectors.dtype == np.float16 and vectors.shape == local.shape
    assert _within_one_ulp(vectors, local)
    assert calls[-1] == ("embed", len(texts), len(texts))
    assert cached.misses == len(set(texts)) and cached.hits == len(texts) - cached.misses
    # What Ray embedded is in the driver's cache, row for row: a second run embeds nothing.
    again = CachedEmbedder(embedder, store)
    assert np.array_equal(RayEngine().embed(texts, again), vectors)
    assert again.misses == 0
    fetched.clear()
    assert np.array_equal(RayEngine().embed_stored(hashes, again, fetch), vectors)
    assert fetched == []
    # A plain embedder (no cache) is embedded on Ray too.
    plain = RayEngine(batch_size=16).embed(texts[:40], embedder)
    assert plain.dtype == np.float16 and _within_one_ulp(plain, local[:40])


def test_ray_assigns_exactly_as_local(
    local_ray: None, embedder: Embedder, stores: dict[str, tuple[Store, VocSettings]]
) -> None:
    texts, langs = _units(stores["local"][0])
    X = LocalEngine().embed(texts, CachedEmbedder(embedder, stores["local"][0]))
    model = ThemeClusterer().fit(X.astype(np.float32), lang=langs)
    assert model.n_themes_ >= 2
    for lang in (langs, None):
        labels, confidence = LocalEngine().assign(model, X, lang)
        ray_labels, ray_confidence = RayEngine().assign(model, X, lang)
        assert np.array_equal(ray_labels, labels)
        np.testing.assert_allclose(ray_confidence, confidence, rtol=0, atol=1e-6)
    # Blocks smaller than LocalEngine's: the same labels, row for row.
    small_labels, _ = RayEngine(assign_batch_size=50).assign(model, X, langs)
    assert np.array_equal(small_labels, LocalEngine().assign(model, X, langs)[0])


def test_a_ray_recluster_finds_the_local_themes(
    local_ray: None, embedder: Embedder, stores: dict[str, tuple[Store, VocSettings]]
) -> None:
    themes = {}
    for name, (store, settings) in stores.items():
        engine = make_engine(settings.model_copy(update={"engine": name}))
        assert engine.name == name
        run, _ = recluster(store, settings, "w", embedder, seed=0, engine=engine)
        assert run.params["engine"] == name
        assigned = store.unit_assignments(run.run_id)
        themes[name] = {unit: theme or "-" for unit, (theme, _) in assigned.items()}
    units = sorted(themes["local"])
    assert sorted(themes["ray"]) == units
    ari = adjusted_rand_score(
        [themes["local"][u] for u in units], [themes["ray"][u] for u in units]
    )
    assert ari >= 0.99, f"ARI {ari:.4f} between the local and the Ray run"


def test_the_engine_setting_and_a_mismatched_model(embedder: Embedder, tmp_path: Path) -> None:
    from voc.errors import ConfigError

    with pytest.raises(ConfigError, match="pass the same model"):
        RayEngine(model="minilm").embed(["hello there"], embedder)
    settings = VocSettings(data_dir=tmp_path, engine="ray", ray_address="auto", _env_file=None)
    engine = make_engine(settings)
    assert isinstance(engine, RayEngine) and engine.address == "auto"
