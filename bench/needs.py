"""Quality of the per-unit needs analysis (voc.needs) against hand-labelled units.

    python -m bench.needs [--data corpora/needs_eval] [--dev]

It scores the lexicon alone and, where models/needs/ holds a trained model, the lexicon refined
by it (voc.needs_model, on the units' embeddings). By default it scores the held-out evaluation
set (corpora/needs_eval/zh.csv and en.csv: never read while writing the lexicon or training the
model); `--dev` scores the demo corpus's gold sentences (corpora/demo/gold.csv), which the
lexicon was developed on. For each language it prints intent, stage and sentiment macro-F1 with
per-class precision, recall and support, and per need signal precision and recall (a unit may
carry several). Targets (issue: needs): intent macro-F1 >= 0.75 and stage macro-F1 >= 0.70 in
each language. Writes bench/results/needs.json (or needs-dev.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path
from typing import Any

from sklearn.metrics import f1_score, precision_recall_fscore_support

from voc.embed import load_embedder
from voc.needs import (
    INTENTS,
    SENTIMENTS,
    SIGNALS,
    STAGES,
    NeedsAnalyzer,
    UnitNeeds,
    default_analyzer,
    read_labelled,
)
from voc.needs_model import default_model
from voc.normalize import normalize_for_analysis
from voc.settings import CORPORA_DIR

ROOT = Path(__file__).resolve().parent
TARGETS = {"intent": 0.75, "stage": 0.70}


def load_dev() -> list[dict[str, str]]:
    """The demo gold sentences, in the evaluation set's columns (one signal at most)."""
    with (CORPORA_DIR / "demo" / "gold.csv").open(encoding="utf-8", newline="") as f:
        return [
            {
                "id": f"demo-{i}",
                "lang": r["lang"],
                "source": r["file"].split("/")[0].rstrip("s"),
                "text": r["text"],
                "intent": r["intent"],
                "sentiment": "",
                "stage": r["stage"],
                "signals": r["signal"],
            }
            for i, r in enumerate(csv.DictReader(f))
        ]


def _per_class(gold: list[str], pred: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    p, r, f, n = precision_recall_fscore_support(gold, pred, labels=list(labels), zero_division=0)
    return {
        "macro_f1": round(float(f1_score(gold, pred, labels=list(labels), average="macro")), 4),
        "classes": {
            lab: {
                "precision": round(float(p[i]), 3),
                "recall": round(float(r[i]), 3),
                "f1": round(float(f[i]), 3),
                "support": int(n[i]),
            }
            for i, lab in enumerate(labels)
        },
    }


def read_all(
    rows: list[dict[str, str]], analyzer: NeedsAnalyzer, refine: bool
) -> tuple[list[UnitNeeds], float]:
    """Every row's reading and the units per second (embedding excluded: it is cached in the
    pipeline, shared with clustering)."""
    texts = [normalize_for_analysis(r["text"]) for r in rows]
    clock = time.perf_counter()
    read = [analyzer.analyze(t, normalized=True) for t in texts]
    seconds = time.perf_counter() - clock
    model = default_model()
    if refine and model is not None:
        vectors = load_embedder(model.embedder_id.split("@")[0]).encode(texts)
        clock = time.perf_counter()
        read = model.refine(read, texts, vectors)
        seconds += time.perf_counter() - clock
    return read, len(rows) / seconds


def score(rows: list[dict[str, str]], reads: list[UnitNeeds], speed: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang in ("zh", "en"):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        part = [rows[i] for i in idx]
        pred = [reads[i] for i in idx]
        result: dict[str, Any] = {"units": len(part), "units_per_s": round(speed)}
        result["intent"] = _per_class(
            [r["intent"] for r in part], [p.intent for p in pred], INTENTS
        )
        result["stage"] = _per_class([r["stage"] for r in part], [p.stage for p in pred], STAGES)
        labelled = [(r, p) for r, p in zip(part, pred, strict=True) if r.get("sentiment")]
        if labelled:
            result["sentiment"] = _per_class(
                [r["sentiment"] for r, _ in labelled],
                [p.sentiment for _, p in labelled],
                SENTIMENTS,
            )
        signals: dict[str, Any] = {}
        for s in SIGNALS:
            gold = [s in r["signals"].split(";") for r in part]
            got = [s in p.signals for p in pred]
            tp = sum(g and h for g, h in zip(gold, got, strict=True))
            signals[s] = {
                "precision": round(tp / max(1, sum(got)), 3),
                "recall": round(tp / max(1, sum(gold)), 3),
                "support": sum(gold),
            }
        result["signals"] = signals
        out[lang] = result
    return out


def _print(result: dict[str, Any], title: str) -> None:
    print(f"\n{title}")
    for lang, r in result.items():
        print(f"\n[{lang}] {r['units']} units, {r['units_per_s']} units/s")
        for task in ("intent", "stage", "sentiment"):
            if task not in r:
                continue
            target = TARGETS.get(task)
            mark = "" if target is None else f" (target {target})"
            print(f"  {task} macro-F1 {r[task]['macro_f1']:.3f}{mark}")
            for lab, c in r[task]["classes"].items():
                print(
                    f"    {lab:12} P {c['precision']:.2f}  R {c['recall']:.2f}  "
                    f"F1 {c['f1']:.2f}  n={c['support']}"
                )
        print("  signals")
        for s, c in r["signals"].items():
            print(f"    {s:12} P {c['precision']:.2f}  R {c['recall']:.2f}  n={c['support']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=CORPORA_DIR / "needs_eval")
    parser.add_argument("--dev", action="store_true", help="score the demo gold (dev) instead")
    args = parser.parse_args()
    analyzer = default_analyzer()
    model = default_model()
    rows = load_dev() if args.dev else read_labelled(args.data)
    title = "demo gold (development set)" if args.dev else f"{args.data} (held-out evaluation)"
    results: dict[str, Any] = {}
    for method, refine in (("lexicon", False), ("lexicon + model", True)):
        if refine and model is None:
            continue
        reads, speed = read_all(rows, analyzer, refine)
        results[method] = score(rows, reads, speed)
        _print(results[method], f"{title}: {method}")
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "data": title,
        "lexicon": analyzer.version,
        "model": model.version if model else None,
        "result": results,
    }
    path = ROOT / "results" / ("needs-dev.json" if args.dev else "needs.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
