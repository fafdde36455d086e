"""Theme quality against gold labels: voc versus BERTopic defaults on the same embeddings.

    python -m bench.quality --data CSV --text-column text --label-column label \
        [--model NAME] [--seeds 0 1 2] [--limit N]

For each seed, both methods cluster the same embeddings in the same process. Scores: NMI, ARI
and V-measure with every unassigned unit counted as its own singleton cluster; the unassigned
share; the number of themes; the largest theme against the largest gold class; fit time after a
warm-up fit (numba JIT paid before timing); peak traced memory of one extra, untimed fit. When
the CSV has `id` and `lang` columns (a parallel set such as MASSIVE), also the pair agreement:
the share of ids whose two language rows got the same theme (unassigned counts as disagreement).

BERTopic is a benchmark-only dependency: `pip install -e .[bench]`. Writes
bench/results/quality-<data>-<model>.json and appends a row per method to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "embeddings"
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
TABLE_MARKER = "<!-- quality rows: bench/quality.py appends below -->"
THREADS = 2
"""BLAS/numba threads for both methods (voc's Louvain runs are single-threaded Python)."""


def singletons(labels: np.ndarray) -> np.ndarray:
    """Each unassigned (-1) unit becomes its own cluster, so leaving units out is not free."""
    out = labels.astype(np.int64).copy()
    missing = np.flatnonzero(out < 0)
    out[missing] = out.max(initial=0) + 1 + np.arange(len(missing))
    return out


def pair_agreement(labels: np.ndarray, ids: Sequence[str], langs: Sequence[str]) -> float:
    """Share of ids present in two languages whose rows share a theme (-1 never agrees)."""
    by_id: dict[str, list[int]] = {}
    for i, (key, _) in enumerate(zip(ids, langs, strict=True)):
        by_id.setdefault(key, []).append(i)
    pairs = [rows for rows in by_id.values() if len(rows) == 2]
    if not pairs:
        return float("nan")
    same = sum(labels[a] == labels[b] and labels[a] >= 0 for a, b in pairs)
    return same / len(pairs)


def score(
    labels: np.ndarray, gold: Sequence[str], ids: Sequence[str] | None, langs: Sequence[str] | None
) -> dict[str, float]:
    scored = singletons(labels)
    assigned = labels[labels >= 0]
    largest = Counter(assigned.tolist()).most_common(1)[0][1] if len(assigned) else 0
    result = {
        "nmi": normalized_mutual_info_score(gold, scored),
        "ari": adjusted_rand_score(gold, scored),
        "v_measure": v_measure_score(gold, scored),
        "unassigned": float((labels < 0).mean()),
        "themes": int(len(set(assigned.tolist()))),
        "largest_vs_gold": largest / max(Counter(gold).values()),
    }
    if ids is not None and langs is not None:
        result["pair_agreement"] = pair_agreement(labels, ids, langs)
    return result


def embed(texts: list[str], model: str | None, data: Path) -> tuple[np.ndarray, str]:
    from voc.embed import load_embedder
    from voc.normalize import normalize_for_analysis

    embedder = load_embedder(model, threads=2)
    key = hashlib.blake2b(
        f"{embedder.model_id}|{data.resolve()}|{len(texts)}".encode(), digest_size=8
    ).hexdigest()
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path), embedder.model_id
    t0 = time.perf_counter()
    vectors = embedder.encode([normalize_for_analysis(t) for t in texts])
    print(
        f"embedded {len(texts):,} texts with {embedder.model_id} in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors, embedder.model_id


@dataclass(frozen=True)
class Labelled:
    """A labelled CSV: texts, gold labels, and for a parallel set each row's id and language."""

    texts: list[str]
    gold: list[str]
    ids: list[str] | None
    langs: list[str] | None


def load_labelled(
    path: Path, text_column: str, label_column: str, limit: int | None = None
) -> Labelled:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    first = rows[0] if rows else {}
    return Labelled(
        texts=[r[text_column] for r in rows],
        gold=[r[label_column] for r in rows],
        ids=[r["id"] for r in rows] if "id" in first else None,
        langs=[r["lang"] for r in rows] if "lang" in first else None,
    )


def voc_fit(seed: int, langs: list[str] | None) -> Callable[[np.ndarray, list[str]], np.ndarray]:
    from voc.cluster import ThemeClusterer

    def fit(vectors: np.ndarray, _texts: list[str]) -> np.ndarray:
        lang = langs[: len(vectors)] if langs else None  # the warm-up fit uses a prefix
        return ThemeClusterer(random_state=seed, n_jobs=THREADS).fit(vectors, lang=lang).labels_

    return fit


def bertopic_fit(seed: int) -> Callable[[np.ndarray, list[str]], np.ndarray]:
    from bertopic import BERTopic
    from umap import UMAP

    def fit(vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        umap = UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
        )
        topics, _ = BERTopic(umap_model=umap).fit_transform(texts, vectors)
        return np.asarray(topics)

    return fit


def configure_numba_cache(cache_dir: Path) -> None:
    """Point numba's on-disk cache at a writable directory before numba is first imported:
    BERTopic's UMAP and HDBSCAN compile numba kernels on first import (tens of seconds); with
    a cache that is paid once per machine. voc's own clusterer compiles nothing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir))


def timed(
    fit: Callable[[np.ndarray, list[str]], np.ndarray], vectors: np.ndarray, texts: list[str]
) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    labels = fit(vectors, texts)
    return labels, time.perf_counter() - t0


def traced_peak(
    fit: Callable[[np.ndarray, list[str]], np.ndarray], vectors: np.ndarray, texts: list[str]
) -> float:
    """Peak traced memory (MiB) of one extra fit: tracing slows Python-heavy code several
    times over, so it never runs during a timed fit."""
    tracemalloc.start()
    fit(vectors, texts)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--model", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=int, default=None, help="Use the first N rows only.")
    parser.add_argument("--no-bertopic", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="Do not touch benchmarks.md.")
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="Skip the traced fit (slow on large corpora: tracing slows Python-heavy code).",
    )
    args = parser.parse_args()

    from voc.settings import apply_thread_limits

    apply_thread_limits(THREADS)
    configure_numba_cache(ROOT / ".voc" / "numba-cache")
    data = load_labelled(args.data, args.text_column, args.label_column, args.limit)
    texts, gold, ids, langs = data.texts, data.gold, data.ids, data.langs
    vectors, model_id = embed(texts, args.model, args.data)

    methods: dict[str, Callable[[int], Callable[[np.ndarray, list[str]], np.ndarray]]] = {
        "voc": lambda seed: voc_fit(seed, langs),
    }
    if not args.no_bertopic:
        methods["BERTopic 0.17 defaults"] = bertopic_fit
    warm = vectors[: min(len(vectors), 600)]
    for make in methods.values():
        make(0)(warm, texts[: len(warm)])

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    labels_by_seed: dict[str, list[np.ndarray]] = {name: [] for name in methods}
    peaks = {
        name: float("nan") if args.no_memory else traced_peak(make(args.seeds[0]), vectors, texts)
        for name, make in methods.items()
    }
    for seed in args.seeds:
        for name, make in methods.items():
            labels, seconds = timed(make(seed), vectors, texts)
            result = score(labels, gold, ids, langs) | {"fit_s": seconds, "peak_mib": peaks[name]}
            runs[name].append(result)
            labels_by_seed[name].append(labels)
            shown = " ".join(f"{k}={v:.3f}" for k, v in result.items())
            print(f"seed {seed} {name}: {shown}")

    summary: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        mean = {k: statistics.fmean(r[k] for r in results) for k in results[0]}
        seeds = labels_by_seed[name]
        if len(seeds) > 1:
            mean["seed_ari"] = statistics.fmean(
                adjusted_rand_score(seeds[0], other) for other in seeds[1:]
            )
        summary[name] = mean
    print_table(summary, args.data.name, model_id, len(texts))
    record(args, model_id, len(texts), summary, runs)


def print_table(summary: dict[str, dict[str, Any]], data: str, model_id: str, n: int) -> None:
    keys = list(next(iter(summary.values())))
    print(f"\n{data} ({n:,} texts), {model_id}, mean over seeds")
    print(f"{'method':<24}" + "".join(f"{k:>16}" for k in keys))
    for name, mean in summary.items():
        print(f"{name:<24}" + "".join(f"{mean[k]:>16.3f}" for k in keys))


def record(
    args: argparse.Namespace,
    model_id: str,
    n: int,
    summary: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, float]]],
) -> None:
    date = datetime.now(UTC).date().isoformat()
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"quality-{args.data.stem}-{model_id.split('@')[0]}.json"
    out.write_text(
        json.dumps(
            {
                "date": date,
                "machine": machine,
                "data": str(args.data),
                "texts": n,
                "model_id": model_id,
                "seeds": args.seeds,
                "summary": summary,
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    if args.no_record or not BENCHMARKS_MD.exists():
        return
    text = BENCHMARKS_MD.read_text(encoding="utf-8")
    if TABLE_MARKER not in text:
        return
    lines = []
    for name, m in summary.items():
        pair = f"{m['pair_agreement']:.3f}" if "pair_agreement" in m else "–"
        seed_ari = f"{m['seed_ari']:.3f}" if "seed_ari" in m else "–"
        lines.append(
            f"| {date} | {args.data.parent.name}/{args.data.name} ({n:,}) | {model_id} | {name} "
            f"| {m['nmi']:.3f} | {m['ari']:.3f} | {m['v_measure']:.3f} | {m['unassigned']:.1%} "
            f"| {m['themes']:.0f} | {m['largest_vs_gold']:.2f} | {pair} | {seed_ari} "
            f"| {m['fit_s']:.1f} | {m['peak_mib']:.0f} | {len(args.seeds)} |"
        )
    # The marker sits above the table's header; the newest rows go right under the header.
    head, tail = text.split(TABLE_MARKER, 1)
    header, separator, rows = tail.lstrip("\n").split("\n", 2)
    BENCHMARKS_MD.write_text(
        head + TABLE_MARKER + "\n" + "\n".join([header, separator, *lines, rows]),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
