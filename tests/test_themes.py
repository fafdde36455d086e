"""Theme descriptions: c-TF-IDF keywords per language, key phrases, quotes."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import numpy as np
import pytest

from voc.cli import DEMO_SOURCES
from voc.embed import load_embedder
from voc.pipeline import Ingestor, StoredTexts
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store
from voc.themes import ctfidf_keywords, describe_themes, key_phrase, select_quotes
from voc.tokenize import Tokenizer
from voc.types import FeedbackUnit


def _unit(i: int, text: str, lang: str = "en", day: int = 1) -> FeedbackUnit:
    return FeedbackUnit(
        id=f"r{i}:0",
        record_id=f"r{i}",
        workspace_id="w",
        index=0,
        start=0,
        end=len(text),
        text=text,
        norm_text=text,
        lang=lang,  # type: ignore[arg-type]
        source="ticket",
        created_at=datetime(2026, 7, day, tzinfo=UTC),
    )


def test_ctfidf_ranks_words_that_set_a_theme_apart_per_language() -> None:
    tokens = [
        ["refund", "late"],
        ["refund", "seller"],
        ["app", "crash"],
        ["app", "crash", "late"],
        ["退款", "商家"],
        ["闪退", "app"],
    ]
    labels = [0, 0, 1, 1, 0, 1]
    langs = ["en", "en", "en", "en", "zh", "zh"]
    keywords = ctfidf_keywords(tokens, labels, langs, top_n=2)
    assert [w for w, _ in keywords[0]["en"]] == ["refund", "seller"]
    assert [w for w, _ in keywords[1]["en"]] == ["app", "crash"]
    assert {w for w, _ in keywords[0]["zh"]} == {"退款", "商家"}
    assert {w for w, _ in keywords[1]["zh"]} == {"闪退", "app"}


def test_unassigned_units_take_no_part_in_keywords() -> None:
    keywords = ctfidf_keywords([["refund"], ["noise"]], [0, -1], ["en", "en"])
    assert keywords == {0: {"en": [("refund", pytest.approx(np.log1p(1.0)))]}}


def test_key_phrase_prefers_a_recurring_run_of_keywords() -> None:
    tokens = [
        ["verification", "code", "arrive"],
        ["never", "verification", "code"],
        ["code", "sms"],
        ["verification", "code", "resend"],
    ]
    keywords = [("code", 0.5), ("verification", 0.4), ("sms", 0.2), ("arrive", 0.1)]
    assert key_phrase(tokens, keywords, "en") == "verification code"
    assert (
        key_phrase(
            [["收不到", "验证码"], ["收不到", "验证码"]], [("验证码", 1.0), ("收不到", 0.5)], "zh"
        )
        == "收不到验证码"
    )


def test_quotes_start_central_skip_repeated_text_and_add_the_newest() -> None:
    units = [_unit(i, t, day=i + 1) for i, t in enumerate(["a", "b", "a", "c", "d", "e", "f"])]
    # b leans a little further from the centre than c: an exact tie would be settled by float
    # rounding, which differs between CPUs' BLAS kernels.
    vectors = np.array(
        [
            [1, 0, 0],
            [0.9, 0.44, 0],
            [1, 0, 0],
            [0.9, 0, 0.43],
            [0.8, 0.6, 0],
            [0.8, 0, 0.6],
            [0.7, 0.5, 0.5],
        ],
        dtype=np.float32,
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    five = select_quotes(units, vectors, n=5)
    assert [(q.text, q.reason) for q in five] == [
        ("c", "central"),
        ("b", "diverse"),
        ("a", "diverse"),
        ("f", "diverse"),
        ("d", "diverse"),
    ]
    three = select_quotes(units, vectors, n=3)
    assert [(q.text, q.reason) for q in three] == [
        ("c", "central"),
        ("b", "diverse"),
        ("f", "recent"),
    ]


@pytest.mark.slow
def test_demo_themes_have_clean_bilingual_labels_and_exact_quotes(
    settings: VocSettings, store: Store
) -> None:
    ingestor = Ingestor(store, settings)
    for folder, source in DEMO_SOURCES.items():
        ingestor.ingest_paths([CORPORA_DIR / "demo" / folder], source, "demo")
    records = {r.id: r for r in store.iter_records("demo")}
    units = list(store.iter_units("demo"))
    with (CORPORA_DIR / "demo" / "gold.csv").open(encoding="utf-8") as f:
        gold = {(r["external_id"], r["text"]): r["theme"] for r in csv.DictReader(f)}
    names = sorted(set(gold.values()))
    labels = [names.index(gold[(records[u.record_id].external_id, u.text)]) for u in units]
    tokens = Tokenizer(settings).tokens_many([(u.norm_text, u.lang) for u in units])
    vectors = load_embedder().encode([u.norm_text for u in units])

    themes = describe_themes(units, tokens, vectors, labels)

    assert len(themes) == len(names)
    banned = {"的", "了", "很", "我", "是", "the", "i", "a", "to", "is", "and", "my"}
    for theme in themes:
        for lang, words in theme.keywords.items():
            assert len(words) == 10
            assert not banned & {w for w, _ in words}, (names[theme.label], lang, words)
        assert set(theme.names) == set(theme.langs) == {"zh", "en"}
        assert all(theme.names.values())
        assert len(theme.quotes) == 5
        for quote in theme.quotes:
            assert records[quote.record_id].text[quote.start : quote.end] == quote.text
    by_gold = {names[t.label]: t for t in themes}
    assert "验证码" in dict(by_gold["sms_code"].keywords["zh"])
    # Held without text, as a re-cluster holds them: the same descriptions, fetching only the
    # quote candidates and the texts of units with tokens.
    refs = list(store.iter_unit_refs("demo"))
    assert [r.id for r in refs] == [u.id for u in units]
    texts = StoredTexts(store, "demo", refs)
    assert describe_themes(refs, tokens, vectors, labels, texts=texts) == themes
    assert "refund" in dict(by_gold["refund"].keywords["en"])
    assert "人脸识别" in dict(by_gold["face_verification"].keywords["zh"])


def test_key_phrase_only_offers_runs_that_occur_verbatim() -> None:
    tokens = [["人脸识别", "加载"], ["人脸识别", "加载"], ["人脸识别", "失败"]]
    texts = ["人脸识别一直在加载", "人脸识别卡在加载", "人脸识别失败"]
    keywords = [("人脸识别", 1.0), ("加载", 0.8), ("失败", 0.2)]
    assert key_phrase(tokens, keywords, "zh") == "人脸识别加载"
    assert key_phrase(tokens, keywords, "zh", texts) == "人脸识别"
