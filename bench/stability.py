"""Stability of theme ids when a week adds 10% new feedback to an unchanged corpus.

    python -m bench.stability [--model NAME] [--new 0.1] [--splits 0 1 2 3 4]

For each corpus (Banking77 train, the demo corpus's gold sentences) and each split (which
random 10% is this week's new feedback): cluster the other 90% with
seed 0, cluster all of it (the 90% plus 10% new) with seed 1, the first run's themes voting
in the consensus as in the weekly run (`--cold` to compare without), match the two runs with
voc.registry exactly as the weekly run does (unit overlap over shared units, centroid cosine,
one-to-one assignment), and report stability: the share of units present in both runs whose
theme id is unchanged (an unassigned unit counts as changed). Target: >= 0.90, read on the
mean over the splits; the worst split is printed beside it, because one week's draw can land
the new units where a loosely knit theme gets re-cut.

`ceiling` is the stability of the best one-to-one id assignment any matcher could make (most
shared units kept, by the Hungarian algorithm on raw overlaps): when the registry is close to
it, the clusterer's re-cutting of themes, not the matching, is what moves units. Prints a table
and writes bench/results/stability.json; embeddings are cached as in bench.quality.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.quality import embed
from voc.cluster import ThemeClusterer
from voc.registry import ClusterSnapshot, ThemeSnapshot, match_runs, merge_converged
from voc.segment import detect_lang
from voc.settings import CORPORA_DIR

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "stability.json"
CORPORA = {
    "banking77-train": ROOT.parent.parent / "shared" / "data" / "banking77" / "train.csv",
    "demo": CORPORA_DIR / "demo" / "gold.csv",
}


def _groups(labels: np.ndarray, ids: list[str]) -> dict[int, frozenset[str]]:
    out: dict[int, set[str]] = {}
    for uid, label in zip(ids, labels.tolist(), strict=True):
        if label >= 0:
            out.setdefault(int(label), set()).add(uid)
    return {k: frozenset(v) for k, v in out.items()}


def measure(
    texts: list[str],
    vectors: np.ndarray,
    new_share: float,
    remember: bool = True,
    split: int = 0,
) -> dict[str, Any]:
    """Cluster the old part (seed 0), then everything (seed 1, the old themes voting as in
    the weekly run unless `remember` is off), and match the two. `split` seeds which units
    are new."""
    langs = [detect_lang(t) for t in texts]
    order = np.random.default_rng(split).permutation(len(texts))
    old = np.sort(order[: int(round(len(texts) * (1 - new_share)))])
    ids = [str(i) for i in range(len(texts))]
    t0 = time.perf_counter()
    before = ThemeClusterer(random_state=0).fit(vectors[old], lang=[langs[i] for i in old])
    init = np.full(len(texts), -1, dtype=np.int64)
    init[old] = before.labels_
    after = ThemeClusterer(random_state=1).fit(
        vectors, lang=langs, previous=init if remember else None
    )
    cluster_s = time.perf_counter() - t0
    old_ids = [ids[i] for i in old]
    previous = [
        ThemeSnapshot(f"T-{label:04d}", units, before.centroids_[label], "")
        for label, units in sorted(_groups(before.labels_, old_ids).items())
    ]
    current = [
        ClusterSnapshot(label, units, after.centroids_[label], "")
        for label, units in sorted(_groups(after.labels_, ids).items())
    ]
    counter = [len(previous)]

    def mint() -> str:
        counter[0] += 1
        return f"T-{counter[0]:04d}"

    t0 = time.perf_counter()
    matching = match_runs(previous, current, mint, previous_units=old_ids, current_units=ids)
    # As the weekly run does; a week of new feedback drawn at random should converge nothing.
    matching = merge_converged(
        previous, current, matching, previous_units=old_ids, current_units=ids
    )
    match_s = time.perf_counter() - t0
    counts = Counter(e.kind for e in matching.events)
    shared = frozenset(old_ids)
    overlap = np.array(
        [[len(p.unit_ids & c.unit_ids & shared) for c in current] for p in previous], dtype=float
    )
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return {
        "split": split,
        "units_before": len(old),
        "units_after": len(texts),
        "themes_before": len(previous),
        "themes_after": len(current),
        "stability": round(matching.stability, 4),
        "ceiling": round(float(overlap[rows, cols].sum()) / len(shared), 4),
        "lineage": {k: counts.get(k, 0) for k in ("continued", "born", "died", "merged", "split")}
        | {"converged": len(matching.converged)},
        "cluster_s": round(cluster_s, 2),
        "match_s": round(match_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--new", type=float, default=0.1, help="Share of new units.")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="The second run ignores the first one's themes (for comparison).",
    )
    parser.add_argument(
        "--splits",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3, 4],
        help="Seeds of the draw of new units; each is one simulated week.",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    model_id = ""
    for name, path in CORPORA.items():
        with path.open(encoding="utf-8", newline="") as f:
            texts = [row["text"] for row in csv.DictReader(f)]
        vectors, model_id = embed(texts, args.model, path)
        weeks = [
            measure(texts, vectors, args.new, remember=not args.cold, split=split)
            for split in args.splits
        ]
        values = [w["stability"] for w in weeks]
        results[name] = {
            "stability_mean": round(float(np.mean(values)), 4),
            "stability_min": min(values),
            "ceiling_mean": round(float(np.mean([w["ceiling"] for w in weeks])), 4),
            "splits": weeks,
        }
    print(f"stability with {args.new:.0%} new units, {model_id} (target >= 0.90 on the mean)")
    print(
        f"{'corpus':<18}{'split':>6}{'units':>13}{'themes':>10}{'stability':>11}{'ceiling':>9}"
        "  lineage"
    )
    for name, r in results.items():
        for w in r["splits"]:
            lineage = ", ".join(f"{k} {v}" for k, v in w["lineage"].items())
            print(
                f"{name:<18}{w['split']:>6}{w['units_before']:>6}->{w['units_after']:<6}"
                f"{w['themes_before']:>4}->{w['themes_after']:<5}{w['stability']:>10.3f}"
                f"{w['ceiling']:>9.3f}  {lineage}"
            )
        print(
            f"{name:<18}{'mean':>6}{'':>13}{'':>10}{r['stability_mean']:>11.3f}"
            f"{r['ceiling_mean']:>9.3f}  worst split {r['stability_min']:.3f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "model": model_id,
                "new_share": args.new,
                "splits": args.splits,
                "previous_votes": not args.cold,
                "machine": f"{platform.machine()} {platform.system()}",
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
