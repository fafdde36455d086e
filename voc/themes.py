"""Describe themes: keywords per language (class-based TF-IDF), a short readable name, and
representative quotes (central and diverse, by maximal marginal relevance).

Why c-TF-IDF per language: a theme that holds both Chinese and English units must show keywords
in both; pooling the two vocabularies would let the larger language crowd out the other. Each
language's tokens are weighted against the same language's tokens in the other themes.

The weight is BERTopic's class-based TF-IDF: for term t and theme c,
`w(t, c) = tf(t, c) / |c| * log(1 + A / f(t))`, where tf is the term's count in the theme,
|c| the theme's token count, f(t) the term's count over all themes and A the mean token count
per theme.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
from scipy import sparse

from voc.types import FeedbackUnit, UnitRef

UNASSIGNED = -1

QUOTE_POOL = 50
"""Quotes are chosen among a theme's this many most central units."""


class UnitTexts(Protocol):
    """Where describing gets the words of the units it reads, by row: a re-cluster holds its
    units without text (`UnitRef`) and fetches only those that describe a theme and the quote
    candidates (voc.pipeline.StoredTexts); units held whole answer from themselves
    (`HeldTexts`)."""

    def norm_texts(self, rows: Sequence[int]) -> list[str]:
        """The normalised text of each row."""
        ...

    def units(self, rows: Sequence[int]) -> list[FeedbackUnit]:
        """Each row's whole unit."""
        ...


class HeldTexts:
    """`UnitTexts` of units held whole."""

    def __init__(self, units: Sequence[FeedbackUnit]) -> None:
        self._units = units

    def norm_texts(self, rows: Sequence[int]) -> list[str]:
        return [self._units[i].norm_text for i in rows]

    def units(self, rows: Sequence[int]) -> list[FeedbackUnit]:
        return [self._units[i] for i in rows]


def unit_texts(
    units: Sequence[FeedbackUnit] | Sequence[UnitRef], texts: UnitTexts | None
) -> UnitTexts:
    """`texts`, or the units' own when they are held whole."""
    if texts is not None:
        return texts
    if units and not isinstance(units[0], FeedbackUnit):
        raise TypeError("units held without their text need a UnitTexts to describe them")
    return HeldTexts(units)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Quote:
    """A unit chosen to represent a theme, with why it was chosen."""

    unit_id: str
    record_id: str
    start: int
    end: int
    text: str
    lang: str
    source: str
    created_at: datetime | None
    reason: str
    """`central` (closest to the theme's centre), `diverse` (adds what the others do not
    say) or `recent` (the newest of the theme's typical units)."""
    similarity: float


@dataclass(slots=True)
class ThemeDescription:
    label: int
    size: int
    langs: dict[str, int]
    keywords: dict[str, list[tuple[str, float]]]
    """language -> [(keyword, c-TF-IDF weight)], best first."""
    names: dict[str, str]
    """language -> short key phrase."""
    quotes: list[Quote] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Chinese and English key phrases side by side where the theme has both."""
        return " / ".join(self.names[lang] for lang in ("zh", "en") if self.names.get(lang))


def ctfidf_keywords(
    tokens: Sequence[Sequence[str]],
    labels: Sequence[int],
    langs: Sequence[str],
    top_n: int = 10,
) -> dict[int, dict[str, list[tuple[str, float]]]]:
    """Top keywords per theme and language; unassigned units take no part."""
    result: dict[int, dict[str, list[tuple[str, float]]]] = defaultdict(dict)
    themes = sorted({int(label) for label in labels if label != UNASSIGNED})
    row_of = {label: i for i, label in enumerate(themes)}
    for lang in sorted(set(langs)):
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for toks, label, unit_lang in zip(tokens, labels, langs, strict=True):
            if unit_lang != lang or label == UNASSIGNED:
                continue
            for tok in toks:
                rows.append(row_of[int(label)])
                cols.append(vocab.setdefault(tok, len(vocab)))
        if not vocab:
            continue
        counts = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(themes), len(vocab))
        )
        counts.sum_duplicates()
        theme_totals = np.asarray(counts.sum(axis=1)).ravel()
        term_totals = np.asarray(counts.sum(axis=0)).ravel()
        mean_tokens = theme_totals[theme_totals > 0].mean()
        idf = np.log1p(mean_tokens / term_totals)
        tf = sparse.diags(1.0 / np.maximum(theme_totals, 1.0)) @ counts
        weights = (tf @ sparse.diags(idf)).tocsr()
        words = np.array(list(vocab))
        for label, i in row_of.items():
            row = weights.getrow(i)
            if row.nnz == 0:
                continue
            order = np.argsort(-row.data, kind="stable")[:top_n]
            result[label][lang] = [(str(words[row.indices[j]]), float(row.data[j])) for j in order]
    return dict(result)


def key_phrase(
    unit_tokens: Sequence[Sequence[str]],
    keywords: Sequence[tuple[str, float]],
    lang: str,
    texts: Sequence[str] | None = None,
    max_len: int = 3,
) -> str:
    """The theme's most telling short phrase.

    Candidates are runs of up to `max_len` adjacent keyword tokens that also occur verbatim in
    the unit's text (so "人脸识别 加载" with words dropped between them is not offered as
    "人脸识别加载"); each is scored by the keyword weight of its words times the log of how many
    units use it. A phrase must recur (two units or more) unless the theme is tiny; falls back
    to the top keyword.
    """
    if not keywords:
        return ""
    weight = dict(keywords)
    joiner = "" if lang == "zh" else " "
    seen_in: Counter[tuple[str, ...]] = Counter()
    for u, toks in enumerate(unit_tokens):
        # Candidates are runs of keyword tokens: start only at a keyword, stop at the first
        # token that is not one (most tokens of most units are not).
        hit = [w in weight for w in toks]
        grams: set[tuple[str, ...]] = set()
        for i, ok in enumerate(hit):
            if ok:
                end = i
                while end < len(toks) and end - i < max_len and hit[end]:
                    end += 1
                    grams.add(tuple(toks[i:end]))
        if not grams:
            continue
        text = texts[u].lower() if texts is not None else None
        seen_in.update(
            g
            for g in grams
            if len(set(g)) == len(g) and (len(g) == 1 or text is None or joiner.join(g) in text)
        )
    min_units = 2 if len(unit_tokens) >= 4 else 1
    best, best_score = (keywords[0][0],), 0.0
    for gram, n_units in seen_in.items():
        if n_units < min_units:
            continue
        score = sum(weight[w] for w in gram) * np.log1p(n_units)
        if score > best_score:
            best, best_score = gram, score
    return joiner.join(best)


def select_quotes(
    units: Sequence[FeedbackUnit],
    vectors: np.ndarray,
    n: int = 5,
    diversity: float = 0.3,
    pool: int = QUOTE_POOL,
    centre: np.ndarray | None = None,
) -> list[Quote]:
    """Up to n quotes: the most central unit, then by maximal marginal relevance among the
    `pool` most central ones (each next quote is close to the centre and far from the quotes
    already chosen), and the newest typical unit if none of those is recent. Exact duplicates
    of a chosen text are skipped. `centre` is the theme's (the normalised mean of `vectors`
    unless given): `theme_quotes` passes only the candidates with their theme's centre."""
    if len(units) == 0 or n == 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    if centre is None:
        centre = _centre(vectors)
    relevance = vectors @ centre
    candidates = list(np.argsort(-relevance, kind="stable")[:pool])
    chosen: list[int] = []
    reasons: list[str] = []
    texts: set[str] = set()
    while candidates and len(chosen) < n:
        if chosen:
            redundancy = (vectors[candidates] @ vectors[chosen].T).max(axis=1)
            scores = (1 - diversity) * relevance[candidates] - diversity * redundancy
            pick = candidates[int(np.argmax(scores))]
        else:
            pick = candidates[0]
        candidates.remove(pick)
        key = units[pick].norm_text
        if key in texts:
            continue
        texts.add(key)
        chosen.append(pick)
        reasons.append("central" if len(chosen) == 1 else "diverse")
    typical = np.argsort(-relevance, kind="stable")[:pool]
    dated = [(units[i].created_at, int(i)) for i in typical if units[i].created_at is not None]
    if dated and len(chosen) == n:
        _, newest = max(dated)
        if newest not in chosen and units[newest].norm_text not in texts:
            chosen[-1], reasons[-1] = newest, "recent"
    return [
        Quote(
            unit_id=units[i].id,
            record_id=units[i].record_id,
            start=units[i].start,
            end=units[i].end,
            text=units[i].text,
            lang=units[i].lang,
            source=units[i].source,
            created_at=units[i].created_at,
            reason=reason,
            similarity=float(relevance[i]),
        )
        for i, reason in zip(chosen, reasons, strict=True)
    ]


def _centre(vectors: np.ndarray) -> np.ndarray:
    centre = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    return centre / max(float(np.linalg.norm(centre)), 1e-12)


def theme_quotes(
    texts: UnitTexts, rows: Sequence[int], vectors: np.ndarray, n: int = 5
) -> list[Quote]:
    """`select_quotes` for the theme of units `rows` (`vectors` theirs), fetching only its
    `QUOTE_POOL` most central units: the quotes are the same as from all of them."""
    if len(rows) == 0 or n == 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    centre = _centre(vectors)
    # In row order, so that ties among the candidates fall as they would among all units.
    candidates = np.sort(np.argsort(-(vectors @ centre), kind="stable")[:QUOTE_POOL])
    units = texts.units([rows[i] for i in candidates])
    return select_quotes(units, vectors[candidates], n, centre=centre)


def describe_themes(
    units: Sequence[FeedbackUnit] | Sequence[UnitRef],
    tokens: Sequence[Sequence[str]],
    vectors: np.ndarray,
    labels: Sequence[int],
    top_n: int = 10,
    n_quotes: int = 5,
    texts: UnitTexts | None = None,
) -> list[ThemeDescription]:
    """Keywords, names and quotes for every theme, largest theme first. Units held without
    text (`UnitRef`) come with `texts`, which is asked only for the units with tokens (those
    that describe a theme, see voc.pipeline.theme_tokens) and the quote candidates."""
    held = unit_texts(units, texts)
    langs = [u.lang for u in units]
    keywords = ctfidf_keywords(tokens, labels, langs, top_n)
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        if label != UNASSIGNED:
            members[int(label)].append(i)
    described = []
    for label, idx in members.items():
        theme_keywords = keywords.get(label, {})
        names = {}
        for lang in theme_keywords:
            rows = [i for i in idx if langs[i] == lang]
            # Units without tokens take no part in a phrase: their text is not needed.
            read = [i for i in rows if tokens[i]]
            text_of = dict(zip(read, held.norm_texts(read), strict=True))
            names[lang] = key_phrase(
                [tokens[i] for i in rows],
                theme_keywords[lang],
                lang,
                [text_of.get(i, "") for i in rows],
            )
        described.append(
            ThemeDescription(
                label=label,
                size=len(idx),
                langs=dict(Counter(langs[i] for i in idx)),
                keywords=theme_keywords,
                names=names,
                quotes=theme_quotes(held, idx, vectors[idx], n_quotes),
            )
        )
    described.sort(key=lambda d: (-d.size, d.label))
    return described
