"""How large a sample the themes must be learnt from: quality and fit time by sample size.

    python -m bench.fit_sample --data CSV [--sizes 2500 5000 10000 15000 20000] [--seeds 0 1]

A large workspace is fitted on a hash sample of `VOC_FIT_SAMPLE` units and every other unit is
assigned to its nearest theme (voc.pipeline.fit_sample, ThemeClusterer.predict). For each
sample size this fits the same embeddings that way and scores the labels of *every* unit
against the gold labels (NMI, ARI; unassigned units as singletons, as in bench/quality.py) and
against the full fit of the same seed (ARI), with the fit's seconds. Embeddings are cached as
in bench/quality.py. Data: Banking77 (CC-BY-4.0, PolyAI) and MASSIVE (CC-BY-4.0, Amazon).
Writes bench/results/fit-sample-<data>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import adjusted_rand_score

from bench.quality import RESULTS, THREADS, embed, load_labelled, score, singletons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--model", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000, 15000, 20000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    from voc.settings import apply_thread_limits

    apply_thread_limits(THREADS)
    from voc.cluster import ThemeClusterer
    from voc.pipeline import fit_sample

    data = load_labelled(args.data, args.text_column, args.label_column)
    texts, gold, ids = data.texts, data.gold, data.ids
    langs = None if data.langs is None else [lang.split("-")[0] for lang in data.langs]
    unit_ids = [
        f"{i}:{ids[i] if ids else i}:{data.langs[i] if data.langs else ''}"
        for i in range(len(texts))
    ]
    vectors, model_id = embed(texts, args.model, args.data)
    n = len(texts)
    console = Console()
    console.print(f"{args.data.name}: {n:,} texts, {model_id}, load {os.getloadavg()[0]:.1f}")

    results: list[dict[str, float | int]] = []
    for seed in args.seeds:
        full: np.ndarray | None = None
        for size in sorted({*(s for s in args.sizes if s < n), n}, reverse=True):
            sample = fit_sample(unit_ids, size)
            clock = time.perf_counter()
            model = ThemeClusterer(random_state=seed).fit(
                vectors[sample], lang=None if langs is None else [langs[i] for i in sample]
            )
            fit_s = time.perf_counter() - clock
            labels = np.full(n, -1, dtype=np.int64)
            labels[sample] = model.labels_
            rest = np.setdiff1d(np.arange(n), sample)
            clock = time.perf_counter()
            if len(rest):
                labels[rest], _ = model.predict(
                    vectors[rest], None if langs is None else [langs[i] for i in rest]
                )
            assign_s = time.perf_counter() - clock
            if full is None:
                full = labels
            row = {
                "seed": seed,
                "sample": len(sample),
                **score(labels, gold, ids, langs),
                "ari_vs_full": adjusted_rand_score(singletons(full), singletons(labels)),
                "fit_s": fit_s,
                "assign_s": assign_s,
            }
            results.append(row)
            console.print(
                f"seed {seed} sample {len(sample):>6,}: NMI {row['nmi']:.3f} ARI {row['ari']:.3f}"
                f" vs full {row['ari_vs_full']:.3f} themes {row['themes']} fit {fit_s:.1f} s"
            )

    # Storage precision: the cache keeps float16; the full fit on float16-rounded vectors
    # against the float32 one, same seed.
    half = vectors.astype(np.float16).astype(np.float32)
    cosine_error = float(
        np.abs((half[:2000] @ half[:2000].T) - (vectors[:2000] @ vectors[:2000].T)).max()
    )
    precision = []
    for seed in args.seeds:
        lang = langs if langs is None else list(langs)
        full32 = ThemeClusterer(random_state=seed).fit(vectors, lang=lang).labels_
        full16 = ThemeClusterer(random_state=seed).fit(half, lang=lang).labels_
        precision.append(
            {
                "seed": seed,
                "nmi_float32": score(full32, gold, ids, langs)["nmi"],
                "nmi_float16": score(full16, gold, ids, langs)["nmi"],
                "ari_float16_vs_float32": adjusted_rand_score(
                    singletons(full32), singletons(full16)
                ),
            }
        )
        console.print(f"precision seed {seed}: {precision[-1]}")
    console.print(f"largest cosine change float32 -> float16 (2,000 units): {cosine_error:.2e}")

    table = Table(title=f"Fit sample size: {args.data.name} ({n:,} units, {model_id})")
    for col in ("sample", "NMI", "ARI", "ARI vs full fit", "themes", "unassigned", "fit s"):
        table.add_column(col, justify="right")
    summary = []
    for size in sorted({int(r["sample"]) for r in results}):
        rs = [r for r in results if r["sample"] == size]
        mean = {k: statistics.fmean(float(r[k]) for r in rs) for k in rs[0] if k != "seed"}
        summary.append(mean)
        table.add_row(
            f"{size:,}",
            f"{mean['nmi']:.3f}",
            f"{mean['ari']:.3f}",
            f"{mean['ari_vs_full']:.3f}",
            f"{mean['themes']:.0f}",
            f"{mean['unassigned']:.3f}",
            f"{mean['fit_s']:.1f}",
        )
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"fit-sample-{args.data.stem}-{args.data.parent.name}.json"
    out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.node()} {os.cpu_count()} cpus",
                "load_avg": os.getloadavg()[0],
                "data": str(args.data),
                "model": model_id,
                "units": n,
                "runs": results,
                "summary": summary,
                "float16": {"max_cosine_change": cosine_error, "fits": precision},
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
