"""Embedding overhead: the pipeline's cached embedding against the raw encoder.

    python -m bench.embed [--model use-m3] [--texts 10000]

Times the raw encoder on N distinct Banking77 + MASSIVE texts, then the pipeline path
(`voc.pipeline.embed_units` through `CachedEmbedder` into an empty SQLite cache: hashing, cache
look-ups and writes included), then the same again with a warm cache. Prints a table and writes
bench/results/embed-<model>.json. Target: the pipeline reaches >= 85% of the raw encoder's speed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def load_texts(n: int) -> list[str]:
    texts: list[str] = []
    for path in (SHARED / "banking77" / "train.csv", SHARED / "massive" / "train.csv"):
        with path.open(encoding="utf-8") as f:
            texts.extend(r["text"] for r in csv.DictReader(f))
    return list(dict.fromkeys(texts))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from voc.embed import CachedEmbedder, load_embedder
    from voc.normalize import normalize_for_analysis
    from voc.pipeline import embed_units
    from voc.settings import apply_thread_limits
    from voc.store import Store
    from voc.types import FeedbackUnit

    apply_thread_limits(args.threads)
    texts = [normalize_for_analysis(t) for t in load_texts(args.texts)]
    units = [
        FeedbackUnit(str(i), str(i), "b", 0, 0, len(t), t, t, "en") for i, t in enumerate(texts)
    ]
    embedder = load_embedder(args.model, threads=args.threads)
    embedder.encode(texts[:200])

    t0 = time.perf_counter()
    embedder.encode(texts)
    raw = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/voc.db")
        t0 = time.perf_counter()
        embed_units(units, CachedEmbedder(embedder, store))
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        embed_units(units, CachedEmbedder(embedder, store))
        warm = time.perf_counter() - t0
    n = len(texts)
    result = {
        "benchmark": "embed",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {args.threads} threads",
        "model_id": embedder.model_id,
        "texts": n,
        "raw_texts_per_s": round(n / raw),
        "pipeline_cold_texts_per_s": round(n / cold),
        "pipeline_warm_texts_per_s": round(n / warm),
        "cold_share_of_raw": round(raw / cold, 3),
        "target_share": 0.85,
    }
    out = ROOT / "bench" / "results" / f"embed-{embedder.model_id.split('@')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
