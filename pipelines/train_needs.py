"""Batch job: train the needs classifiers (voc.needs_model) on corpora/needs_train.

    python -m pipelines.train_needs [--data corpora/needs_train] [--out models/needs]

Embeds the training units with the default embedder, reads each with the lexicon, picks the
regularisation by 5-fold cross-validation on the training set alone (mean of intent, stage and
sentiment macro-F1), fits the final heads on all of it, and writes models/needs/needs-model.npz
and models/needs/MODEL_CARD.md. The held-out set corpora/needs_eval is never read here: it is
for `python -m bench.needs` only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from voc.embed import load_embedder
from voc.needs import SIGNALS, default_analyzer, read_labelled
from voc.needs_model import LABELS, MODEL_PATH, TASKS, train
from voc.normalize import normalize_for_analysis
from voc.settings import CORPORA_DIR, apply_thread_limits, get_settings

GRID = [(c, scale) for scale in (4.0, 8.0, 16.0) for c in (0.03, 0.1, 0.3, 1.0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CORPORA_DIR / "needs_train")
    parser.add_argument("--out", type=Path, default=MODEL_PATH.parent)
    args = parser.parse_args(argv)
    if "needs_eval" in str(args.data):
        raise SystemExit("corpora/needs_eval is the held-out evaluation set: never train on it")
    settings = get_settings()
    apply_thread_limits(settings.threads)
    rows = read_labelled(args.data)
    texts = [normalize_for_analysis(r["text"]) for r in rows]
    embedder = load_embedder(settings.model, threads=settings.threads)
    clock = time.perf_counter()
    vectors = embedder.encode(texts)
    seconds = time.perf_counter() - clock
    print(f"embedded {len(texts)} units with {embedder.model_id} in {seconds:.1f}s")
    analyzer = default_analyzer()
    readings = [analyzer.analyze(t, normalized=True) for t in texts]
    labels = {task: [r[task] for r in rows] for task in TASKS}

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    split = list(folds.split(texts, [f"{r['lang']}-{r['intent']}" for r in rows]))
    scores: dict[tuple[float, float], dict[str, float]] = {}
    for c, scale in GRID:
        per_task: dict[str, list[float]] = {t: [] for t in TASKS}
        for fit_idx, test_idx in split:
            model = train(
                [readings[i] for i in fit_idx],
                [texts[i] for i in fit_idx],
                vectors[fit_idx],
                {t: [labels[t][i] for i in fit_idx] for t in TASKS},
                {"embedder_id": embedder.model_id, "version": "cv"},
                c=c,
                scale=scale,
            )
            got = model.refine(
                [readings[i] for i in test_idx], [texts[i] for i in test_idx], vectors[test_idx]
            )
            for task in TASKS:
                gold = [labels[task][i] for i in test_idx]
                pred = [getattr(g, task) for g in got]
                per_task[task].append(
                    f1_score(gold, pred, labels=list(LABELS[task]), average="macro")
                )
        scores[c, scale] = {t: round(float(np.mean(v)), 4) for t, v in per_task.items()}
        print(f"C={c} scale={scale}: cross-validated macro-F1 {scores[c, scale]}")
    best = max(GRID, key=lambda k: (np.mean(list(scores[k].values())), -k[0]))
    signal_labels = {
        f"signal:{sig}": ["yes" if sig in r["signals"].split(";") else "no" for r in rows]
        for sig in SIGNALS
    }
    signal_cv = _signal_cv(split, readings, texts, vectors, signal_labels, best, embedder.model_id)
    kept_signals = [t for t, (alone, both) in signal_cv.items() if both > alone]
    lexicon_only = {
        task: round(
            float(
                f1_score(
                    labels[task],
                    [getattr(r, task) for r in readings],
                    labels=list(LABELS[task]),
                    average="macro",
                )
            ),
            4,
        )
        for task in TASKS
    }
    version = f"needs-model-{time.strftime('%Y%m%d')}"
    info = {
        "version": version,
        "embedder_id": embedder.model_id,
        "lexicon": analyzer.version,
        "trained_on": f"{args.data.name}: {len(rows)} units "
        f"({sum(r['lang'] == 'zh' for r in rows)} zh, {sum(r['lang'] == 'en' for r in rows)} en)",
        "c": best[0],
        "cv_macro_f1": scores[best],
        "cv_grid": {f"C={c} scale={sc}": s for (c, sc), s in scores.items()},
        "signal_cv_f1": {t: {"lexicon": a, "lexicon+head": b} for t, (a, b) in signal_cv.items()},
        "signal_heads": kept_signals,
        "lexicon_only_macro_f1_on_training_data": lexicon_only,
        "date": time.strftime("%Y-%m-%d"),
    }
    labels_all = {**labels, **{t: signal_labels[t] for t in kept_signals}}
    model = train(readings, texts, vectors, labels_all, info, c=best[0], scale=best[1])
    out = args.out / MODEL_PATH.name
    model.save(out)
    (args.out / "MODEL_CARD.md").write_text(_card(model.info), encoding="utf-8")
    size = out.stat().st_size // 1024
    print(f"C={best[0]} scale={best[1]} chosen; wrote {out} ({size} KiB) and MODEL_CARD.md")
    return 0


def _signal_cv(
    split: list[tuple[np.ndarray, np.ndarray]],
    readings: list,  # type: ignore[type-arg]
    texts: list[str],
    vectors: np.ndarray,
    signal_labels: dict[str, list[str]],
    best: tuple[float, float],
    embedder_id: str,
) -> dict[str, tuple[float, float]]:
    """Cross-validated F1 of each signal: the lexicon's matches alone, and with a head that
    may add the signal. A head is kept only where it helps."""
    hits: dict[str, list[tuple[bool, bool, bool]]] = {t: [] for t in signal_labels}
    for fit_idx, test_idx in split:
        model = train(
            [readings[i] for i in fit_idx],
            [texts[i] for i in fit_idx],
            vectors[fit_idx],
            {t: [y[i] for i in fit_idx] for t, y in signal_labels.items()},
            {"embedder_id": embedder_id, "version": "cv"},
            c=best[0],
            scale=best[1],
        )
        got = model.refine(
            [readings[i] for i in test_idx], [texts[i] for i in test_idx], vectors[test_idx]
        )
        for task, ys in signal_labels.items():
            sig = task.removeprefix("signal:")
            for i, g in zip(test_idx, got, strict=True):
                hits[task].append((ys[i] == "yes", sig in readings[i].signals, sig in g.signals))
    out: dict[str, tuple[float, float]] = {}
    for task, rows in hits.items():
        gold = [r[0] for r in rows]
        out[task] = (
            round(float(f1_score(gold, [r[1] for r in rows])), 4),
            round(float(f1_score(gold, [r[2] for r in rows])), 4),
        )
        print(f"{task}: cross-validated F1 lexicon {out[task][0]}, with head {out[task][1]}")
    return out


def _card(info: dict[str, object]) -> str:
    return f"""# Needs classifiers (`{info["version"]}`)

Multinomial logistic regressions for **intent**, **journey stage** and **sentiment** of one
feedback unit, over the unit's `{info["embedder_id"]}` embedding (scaled by
{info["embedding_scale"]}) and the lexicon's own reading (`{info["lexicon"]}`: its intent,
stage, sentiment and score, need signals, whether the stage had a cue, whether the text asks).
Code: `voc/needs_model.py`; trained by `python -m pipelines.train_needs`; used by voc.pipeline
when a unit's embedding by
`{info["embedder_id"]}` is at hand, otherwise the lexicon alone decides.

- **Training data:** {info["trained_on"]}, hand-labelled for this project
  (corpora/needs_train, Apache-2.0; no text from real customers).
- **Never trained or tuned on** corpora/needs_eval, the held-out evaluation set.
- **Regularisation and embedding scale:** C = {info["c"]}, scale = {info["embedding_scale"]},
  chosen by 5-fold cross-validation on the training data (grid and scores below); balanced class
  weights.
- **Cross-validated macro-F1 (training data):** {json.dumps(info["cv_macro_f1"])}
- **Lexicon alone on the training data:**
  {json.dumps(info["lexicon_only_macro_f1_on_training_data"])}
- **Grid:** {json.dumps(info["cv_grid"])}
- **Signal heads** (add a signal the lexicon missed; kept where cross-validated F1 improves):
  {json.dumps(info["signal_heads"])}; F1 lexicon vs with head: {json.dumps(info["signal_cv_f1"])}
- **Held-out figures:** `python -m bench.needs`, recorded in docs/benchmarks.md.
- **Limits:** written sentences, not real customer text; one sentence per unit; sarcasm and
  domain conventions (is a refund "purchase" or "support"?) follow corpora/needs_train/README.md;
  only for units embedded by `{info["embedder_id"]}`.
- Trained {info["date"]}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
