"""Small classifiers that refine the lexicon's intent, stage and sentiment (voc.needs).

Why: the lexicon is precise but misses what customers say without its words ("Saw you on
TikTok" is discovery, "went through in seconds" is praise). A multinomial logistic regression
per task on the unit's multilingual embedding plus the lexicon's own reading (its intent, stage,
sentiment, signals as features) learns those, and reads Chinese and English alike because the
embedding puts both in one space. Need signals start from the lexicon (each names the entry that
matched); a yes/no head per signal may add one the lexicon missed, and is shipped only for
signals where that raised the cross-validated F1 on the training set.

The model ships in models/needs/ (weights as .npz, card as MODEL_CARD.md) and is trained by
`python -m pipelines.train_needs` on corpora/needs_train, never on corpora/needs_eval. It is tied
to the embedder it was trained with (`embedder_id`); units embedded by another model are read by
the lexicon alone. Inference is numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from voc.errors import InputError
from voc.needs import INTENTS, SENTIMENTS, SIGNALS, STAGES, UnitNeeds
from voc.settings import MODELS_DIR

MODEL_PATH = MODELS_DIR / "needs" / "needs-model.npz"
TASKS: tuple[str, ...] = ("intent", "stage", "sentiment")
SIGNAL_TASKS: tuple[str, ...] = tuple(f"signal:{s}" for s in SIGNALS)
"""Optional heads that add a signal the lexicon missed; yes/no labels."""
LABELS: dict[str, tuple[str, ...]] = {
    "intent": INTENTS,
    "stage": STAGES,
    "sentiment": SENTIMENTS,
    **{t: ("no", "yes") for t in SIGNAL_TASKS},
}
# Embeddings are unit vectors (entries around 0.05); scaled so that they weigh about as much as
# the 0/1 lexicon features in a regularised fit. The trained model records the scale it used.
EMBEDDING_SCALE = 8.0


def rule_features(needs: UnitNeeds, text: str) -> np.ndarray:
    """The lexicon's reading as features: one-hot intent, stage and sentiment, the sentiment
    score, each signal, whether the stage came from a cue, and whether the text asks."""
    parts: list[float] = [float(needs.intent == k) for k in INTENTS]
    parts += [float(needs.stage == k) for k in STAGES]
    parts += [float(needs.sentiment == k) for k in SENTIMENTS]
    parts.append(needs.sentiment_score)
    parts += [float(k in needs.signals) for k in SIGNALS]
    parts.append(float(needs.stage_from == "default"))
    parts.append(float("?" in text or "？" in text))
    return np.asarray(parts, dtype=np.float32)


def features(
    needs: Sequence[UnitNeeds],
    texts: Sequence[str],
    vectors: np.ndarray,
    scale: float = EMBEDDING_SCALE,
) -> np.ndarray:
    rules = np.vstack([rule_features(n, t) for n, t in zip(needs, texts, strict=True)])
    return np.hstack([vectors.astype(np.float32) * scale, rules])


@dataclass(frozen=True)
class _Head:
    labels: tuple[str, ...]
    weights: np.ndarray
    """(classes, features)"""
    bias: np.ndarray

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weights.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class NeedsModel:
    """Trained heads for intent, stage and sentiment over (embedding, lexicon features)."""

    def __init__(self, heads: Mapping[str, _Head], info: Mapping[str, object]) -> None:
        self.heads = dict(heads)
        self.info = dict(info)
        self.embedder_id = str(info["embedder_id"])
        self.version = str(info["version"])
        self.scale = float(info.get("embedding_scale", EMBEDDING_SCALE))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> NeedsModel:
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError as exc:
            raise InputError(f"needs model not found: {path}") from exc
        info = json.loads(str(data["info"]))
        heads = {
            task: _Head(
                tuple(str(x) for x in data[f"{task}_labels"]),
                data[f"{task}_weights"],
                data[f"{task}_bias"],
            )
            for task in (*TASKS, *SIGNAL_TASKS)
            if f"{task}_weights" in data
        }
        return cls(heads, info)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"info": np.asarray(json.dumps(self.info, sort_keys=True))}
        for task, head in self.heads.items():
            arrays[f"{task}_labels"] = np.asarray(head.labels)
            arrays[f"{task}_weights"] = head.weights.astype(np.float32)
            arrays[f"{task}_bias"] = head.bias.astype(np.float32)
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)

    def refine(
        self, needs: Sequence[UnitNeeds], texts: Sequence[str], vectors: np.ndarray
    ) -> list[UnitNeeds]:
        """The lexicon's readings with intent, stage and sentiment decided by the heads; a
        stage given by the record's metadata is kept."""
        if not needs:
            return []
        x = features(needs, texts, vectors, self.scale)
        out = list(needs)
        for task, head in self.heads.items():
            p = head.proba(x)
            best = p.argmax(axis=1)
            for i, n in enumerate(out):
                label = head.labels[int(best[i])]
                if task == "intent":
                    out[i] = replace(n, intent=label)
                elif task == "stage" and n.stage_from != "metadata":
                    out[i] = replace(n, stage=label, stage_from="text")
                elif task == "sentiment":
                    col = {lab: j for j, lab in enumerate(head.labels)}
                    score = float(p[i, col["positive"]] - p[i, col["negative"]])
                    out[i] = replace(n, sentiment=label, sentiment_score=round(score, 3))
                elif task.startswith("signal:") and label == "yes":
                    signal = task.removeprefix("signal:")
                    if signal not in n.signals:
                        found = set(n.signals) | {signal}
                        out[i] = replace(n, signals=tuple(k for k in SIGNALS if k in found))
        return out


def train(
    needs: Sequence[UnitNeeds],
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Mapping[str, Sequence[str]],
    info: Mapping[str, object],
    c: float = 1.0,
    scale: float = EMBEDDING_SCALE,
) -> NeedsModel:
    """Fit one multinomial logistic regression per task (balanced class weights, L2 with
    inverse strength `c`, embeddings scaled by `scale`). Empty labels leave a unit out of that
    task."""
    from sklearn.linear_model import LogisticRegression

    x = features(needs, texts, vectors, scale)
    heads: dict[str, _Head] = {}
    for task, ys in labels.items():
        keep = np.array([bool(y) for y in ys])
        y = np.array(ys)[keep]
        # A signal head adds a signal only when it is more likely than not: no class balancing,
        # so rare signals are not sprinkled over every unit.
        weights = None if task.startswith("signal:") else "balanced"
        fit = LogisticRegression(C=c, max_iter=3000, class_weight=weights)
        fit.fit(x[keep], y)
        classes = tuple(str(k) for k in fit.classes_)
        missing = set(LABELS[task]) - set(classes)
        if missing:
            raise InputError(f"training data has no {task} examples of {sorted(missing)}")
        coef, bias = fit.coef_.astype(np.float32), fit.intercept_.astype(np.float32)
        if len(classes) == 2:
            # scikit-learn keeps one row for two classes; two half rows give the same sigmoid
            # through the softmax every head uses.
            coef, bias = np.vstack([-coef / 2, coef / 2]), np.concatenate([-bias / 2, bias / 2])
        heads[task] = _Head(classes, coef, bias)
    return NeedsModel(heads, {**info, "embedding_scale": scale})


@lru_cache(maxsize=2)
def default_model(path: Path = MODEL_PATH) -> NeedsModel | None:
    """The shipped model, or None where none is shipped (the lexicon alone then)."""
    return NeedsModel.load(path) if path.exists() else None
