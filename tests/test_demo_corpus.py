"""The shipped demo corpus goes through ingestion exactly as its gold file says."""

from __future__ import annotations

import csv
from collections import Counter

from voc.cli import DEMO_SOURCES
from voc.pipeline import Ingestor
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store

DEMO = CORPORA_DIR / "demo"


def test_demo_corpus_ingests_into_exactly_its_gold_units(
    settings: VocSettings, store: Store
) -> None:
    ingestor = Ingestor(store, settings)
    summaries = [
        ingestor.ingest_paths([DEMO / folder], source, "demo")
        for folder, source in DEMO_SOURCES.items()
    ]
    assert sum(s.rejected for s in summaries) == 0
    assert all(s.balanced for s in summaries)

    with (DEMO / "gold.csv").open(encoding="utf-8") as f:
        gold = Counter((row["external_id"], row["text"], row["lang"]) for row in csv.DictReader(f))
    records = {r.id: r for r in store.iter_records("demo")}
    units = Counter(
        (records[u.record_id].external_id, u.text, u.lang) for u in store.iter_units("demo")
    )
    assert sum(gold.values()) >= 2000
    assert units == gold
    assert all(r.created_at is not None for r in records.values())
