"""The speed benchmark's corpus generator (bench/feedgen.py): deterministic, exactly sized,
distinct, bilingual, and every file it writes ingests without a reject."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.feedgen import BANKING77, SOURCES, Generator, write_corpus
from voc.pipeline import Ingestor
from voc.settings import VocSettings
from voc.store import Store

pytestmark = pytest.mark.skipif(
    not BANKING77.is_file(), reason=f"Banking77 is not at {BANKING77} (../shared/data)"
)


def _records(seed: int, n: int) -> list[tuple[str, dict, list[str]]]:
    return [(r.kind, r.fields, r.units) for r in Generator(seed).records(n)]


def test_same_seed_same_records_and_other_seed_differs() -> None:
    assert _records(7, 200) == _records(7, 200)
    assert _records(7, 200) != _records(8, 200)


def test_exact_counts_distinct_texts_both_languages() -> None:
    records = list(Generator(0).records(500))
    assert len(records) == 500
    units = [u for r in records for u in r.units]
    assert len(set(units)) == len(units)
    assert {r.lang for r in records} == {"zh", "en"}
    assert set(Counter(r.kind for r in records)) == {
        "zh_ticket",
        "en_ticket",
        "zh_review",
        "en_review",
    }
    planned = list(Generator(0).until_units(1234))
    assert sum(len(r.units) for r in planned) == 1234


def test_written_corpus_ingests_without_rejects(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    manifest = write_corpus(corpus, units=900, seed=3)
    assert json.loads((corpus / "manifest.json").read_text())["records"] == manifest["records"]
    assert sum(manifest["units_by_lang"].values()) == 900
    assert all((corpus / f).is_file() for f in manifest["files"])
    assert write_corpus(corpus, units=900, seed=3) == manifest  # reused, not rewritten

    settings = VocSettings(data_dir=tmp_path / "voc", _env_file=None)
    store = Store.open(f"sqlite:///{(tmp_path / 'voc.db').as_posix()}")
    ingestor = Ingestor(store, settings)
    read = rejected = duplicate = 0
    for folder, source in SOURCES.items():
        summary = ingestor.ingest_paths([corpus / folder], source, "bench")
        read += summary.read
        rejected += summary.rejected
        duplicate += summary.duplicate
        assert summary.warnings == 0, summary.warning_messages
    assert (read, rejected, duplicate) == (manifest["records"], 0, 0)

    units = list(store.iter_units("bench"))
    # The segmenter decides the real units; the plan holds to within a few percent.
    assert abs(len(units) - 900) <= 27
    texts = Counter(u.norm_text for u in units)
    assert len(texts) >= 0.99 * len(units)
    langs = Counter(u.lang for u in units)
    assert langs["zh"] > 300 and langs["en"] > 300
    dates = sorted(u.created_at for u in units if u.created_at is not None)
    assert len(dates) == len(units)
    assert (dates[-1] - dates[0]).days >= 70
