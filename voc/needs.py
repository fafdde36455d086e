"""Needs, not just topics: what each unit does (intent), how it feels (sentiment), what it
reveals (need signals), where on the customer journey it stands (stage), and per theme the
need behind the complaints, the gap between what customers ask for and what they need, and a
priority a product manager can sort by.

Why rules and a lexicon (models/lexicons/needs.toml) rather than a trained model: the lexicon is
bilingual, reads mixed text, needs no training data from the customer's domain, is fast (about
4,000-5,000 units a second on one core, its patterns compiled as tries) and every decision can
be explained by the entry that matched.
Its quality is measured on a held-out, hand-labelled set (`bench/needs.py`,
corpora/needs_eval/), never used to write it.

Per theme (`theme_needs`), with E the theme's *need evidence* (units that are pains or carry a
workaround, effort or confusion signal, requests excluded) and R its explicit requests:

    need_gap = 1 - min(1, R / (request_par * (R + E))) * overlap(facets(R), facets(E))

`overlap` is the histogram intersection (1 - total variation distance) of the need facets
(speed, reliability, clarity, ...) that the requests and the evidence speak of. The gap is 1
when nobody asks for anything, stays high when requests ask for something other than what the
pains show (the faster horse), and is 0 when requests are at least `request_par` of what
customers say about the theme and about the same facets. A theme is an **unstated need** when
its gap is at least `unstated_gap`, its evidence is at least `unstated_evidence` of its units
and its requests at most `unstated_requests` of them; unstated needs rank by
`need_gap * E / (units + m) * S / (units + m) * ln(1 + units)`, where S counts the units with a
workaround, effort or confusion signal (S / units must reach `unstated_workarounds`) and m
(`unstated_prior_units`) adds that many units showing nothing to each share, so a share
measured on a handful of units counts for less: a crumb of ten workarounds does not outrank
fifty units most of which describe one; the logarithm lets a large theme outrank a small one
of the same shares. docs/needs.md has the details.
"""

from __future__ import annotations

import csv
import math
import re
import string
import sys
import threading
import tomllib
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from voc.errors import InputError
from voc.normalize import normalize_for_analysis
from voc.settings import DEFAULT_PRIORITY_WEIGHTS, MODELS_DIR

INTENTS: tuple[str, ...] = ("pain", "request", "question", "praise", "other")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
SIGNALS: tuple[str, ...] = (
    "workaround",
    "effort",
    "confusion",
    "churn_risk",
    "comparison",
    "urgency",
)
STAGES: tuple[str, ...] = (
    "discover",
    "evaluate",
    "purchase",
    "onboard",
    "use",
    "support",
    "renew_churn",
)
LEXICON_PATH = MODELS_DIR / "lexicons" / "needs.toml"

# How strongly one cue speaks for a stage: discovery and evaluation cues are specific ("a
# friend recommended"), support and purchase cues are common words ("support", "order").
_STAGE_WEIGHT = {
    "discover": 2.0,
    "evaluate": 1.5,
    "renew_churn": 1.5,
    "onboard": 1.2,
    "purchase": 1.0,
    "support": 1.0,
}
# Ties go to the more specific stage.
_STAGE_ORDER = ("renew_churn", "discover", "evaluate", "onboard", "purchase", "support")
_METADATA_STAGE_KEYS = ("stage", "journey_stage", "lifecycle_stage")
_EVIDENCE_SIGNALS = frozenset({"workaround", "effort", "confusion"})
_SENTIMENT_CUT = 0.2
RATING_FIELDS: tuple[str, ...] = ("rating", "nps", "csat", "score")


@dataclass(frozen=True, slots=True)
class UnitNeeds:
    """What one feedback unit says about needs."""

    intent: str
    sentiment: str
    sentiment_score: float
    """-1 (clearly negative) to 1 (clearly positive)."""
    signals: tuple[str, ...]
    stage: str
    stage_from: str
    """`text` (a cue in the unit), `metadata` (the record's stage or tags) or `default`."""
    facets: tuple[str, ...] = ()
    """Need facets the unit speaks of (speed, reliability, ...), for need statements and gaps."""


_CAPTURING = re.compile(r"(?<!\\)\((?!\?)")


def _plain(pattern: str) -> str:
    """Lexicon groups never capture, so a match's `lastgroup` names the whole term."""
    return _CAPTURING.sub("(?:", pattern)


def _english(pattern: str) -> str:
    # Word edges that also hold next to Chinese characters ("App老是crash"), where \b does not.
    return rf"(?<![a-z0-9])(?:{_plain(pattern)})(?![a-z0-9])"


def _alternation(zh: Sequence[str], en: Sequence[str]) -> re.Pattern[str] | None:
    """What a label's pattern means: the Chinese entries, longest first, then the English ones
    inside one pair of word edges. `_compile` builds a faster pattern that matches exactly
    the same; this plain one is its definition (and the tests hold the two together)."""
    parts = [f"(?:{_plain(p)})" for p in sorted(zh, key=len, reverse=True)]
    if en:
        words = "|".join(f"(?:{_plain(p)})" for p in sorted(en, key=len, reverse=True))
        parts.append(_english(words))
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _compile(zh: Sequence[str], en: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern for a label that matches exactly what `_alternation` matches in lower-case
    text (all that `analyze` reads), laid out as a trie so that `re` reads it several times
    faster.

    `re` tries every alternative of an alternation at every position of the text, so a label
    of a few hundred entries cost ~0.1 ms per unit and the whole analysis ~1 ms. The trie
    factors the entries' common beginnings (`不(?:好用|方便|行)`), so at a position only the
    branch of the character found there is followed; and as every branch starts with a plain
    character, `re` skips the positions whose character starts none (its "charset" prefix),
    which is most of them. Spans and counts of matches, not only whether one exists, are the
    plain alternation's: see the notes above `_Trie`.
    """
    trie = _trie(zh, en)
    return re.compile(trie.pattern(top=True)) if trie.branches else None


def _compile_search(zh: Sequence[str], en: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Patterns that together find whether an entry of a label matches, for the labels where
    that is all that counts (intents, signals, facets): the trie of `_compile` without the few
    entries that do not start with a plain character (`\\d+天`), and each of those apart. In
    the trie, one such entry is tried at every position, and `re` can skip none."""
    trie = _trie(zh, en)
    heads = [text for _, text, _, child in trie.branches if child is None]
    trie.branches = [b for b in trie.branches if b[3] is not None]
    found = [re.compile(trie.pattern(top=True))] if trie.branches else []
    return (*found, *(re.compile(f"(?i:{text})") for text in heads))


def _search(patterns: Sequence[re.Pattern[str]], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _trie(zh: Sequence[str], en: Sequence[str]) -> _Trie:
    """The entries of a label as one trie, in the order of `_alternation`."""
    trie = _Trie()
    for p in sorted(zh, key=len, reverse=True):
        for path in _paths(_plain(p)):
            trie.add(*path)
    before, after = _word_edges()
    for p in sorted(en, key=len, reverse=True):
        # `edge(?:a|b)edge` is `edge a edge|edge b edge`: each English entry has both edges.
        for path in _paths(f"(?:{_plain(p)})", (before,), after):
            trie.add(*path)
    return trie


# -- the trie behind `_compile` ------------------------------------------------------------------
#
# An entry is read as a path: the plain characters it starts with, then the rest of its pattern
# as it is ("终于(?:正常|好了)" is 终, 于, then "(?:正常|好了)"). A group or character class in
# front of the first character is distributed (`(?:a|b)c` is `ac|bc`, `(?:a)?c` is `ac|c`,
# `[ab]c` is `ac|bc`), so that nearly every entry starts with a character; later ones stay in
# the rest, as each path copies the rest of its entry. Paths are merged into a trie in the
# alternation's order, and the trie matches what the alternation matches, with the same span,
# because `re` tries both in the same order:
#
# - `xA|xB` and `x(?:A|B)` try the same things in the same order when x matches in one way
#   only (a character, an assertion), whatever follows;
# - two alternatives whose first characters can never be the same text character can swap
#   places: at any position at most one of them gets past its first character. So a path joins
#   an earlier branch of its first character only across branches of other characters, never
#   across a branch that starts any other way (an assertion, or a rest: a class, a repeat...);
# - an assertion in front of the first character is checked right after it instead, one
#   character further on: `(?<!y)c` is `c(?<!y.)` and `^c` is `c(?<!..)`; an English entry's
#   edges `(?<![a-z0-9])...(?![a-z0-9])` become one such step, shared by the entries with the
#   same first character, around their subtrie (`w(?<![a-z0-9].)(?:ork|ant)(?![a-z0-9])`);
# - characters compare as under `re.IGNORECASE`: the subtries and rests keep the flag
#   (`(?i:...)`), and a top branch, which must start with a plain character for `re` to skip
#   positions, is written once for each character of lower-case text that IGNORECASE matches
#   to its letter ("s" and the long "ſ"; "S" is not lower case); Chinese characters, digits
#   and punctuation have no case and match only themselves. So the trie is for lower-case
#   text, the only text `analyze` reads (each character of `str.lower()`'s result is its own
#   lower case). The word edges are spelt out without the flag too: under IGNORECASE, a class
#   with "k", "s" or "i" (which match characters beyond Latin-1) takes ~1 ms to compile, and
#   there is a pair of edges for each first letter of each label.

_EXPANSIONS = 256
"""Most paths one entry is split into before its first character; a group with more choices
than are left stays in the rest."""

_Step = tuple[str, str, str]
"""("c", character, "") or ("a", assertions after the character before, what follows)."""


class _Trie:
    """Paths merged in the alternation's order (see the notes above). A branch is a step and
    its subtrie, or the rest of a path (kind "r", no subtrie); branches are tried in order."""

    def __init__(self) -> None:
        self.branches: list[tuple[str, str, str, _Trie | None]] = []

    def add(self, steps: Sequence[_Step], rest: str) -> None:
        if not steps:
            # A rest already here would have matched, and failed, in the same way first.
            if ("r", rest, "", None) not in self.branches:
                self.branches.append(("r", rest, "", None))
            return
        (kind, text, tail), more = steps[0], steps[1:]
        for k, t, a, child in reversed(self.branches):
            if child is not None and (k, t, a) == (kind, text, tail):
                child.add(more, rest)
                return
            if not (kind == k == "c"):
                break  # only a branch of another character can be passed over
        child = _Trie()
        self.branches.append((kind, text, tail, child))
        child.add(more, rest)

    def pattern(self, top: bool = False) -> str:
        """The trie as a pattern for `re.compile` without flags (see the notes above)."""
        parts: list[str] = []
        for kind, text, tail, child in self.branches:
            if child is None:
                parts.append(f"(?i:{text})" if top and text else text)
            elif kind == "a":
                inner = text + child.pattern() + tail
                parts.append(f"(?i:{inner})" if top else inner)
            elif top:
                inner = child.pattern()
                inner = f"(?i:{inner})" if inner else ""
                parts += [re.escape(c) + inner for c in _cases().get(text, text)]
            else:
                parts.append(re.escape(text) + child.pattern())
        if top or len(parts) == 1:
            return "|".join(parts)
        return f"(?:{'|'.join(parts)})"


@lru_cache(maxsize=1)
def _cases() -> dict[str, str]:
    """For "a" to "z" and "0" to "9", the characters of lower-case text that `re.IGNORECASE`
    matches to it: "i" matches the dotless ı too, "s" the long ſ ("I", "S" and the Kelvin sign
    are not lower case). Read from `re` itself over all of Unicode, once (~0.1 s)."""
    order = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
    everything = array("I", range(sys.maxunicode + 1)).tobytes().decode(order, "surrogatepass")
    found = {c for c in re.findall("[a-z0-9]", everything, re.IGNORECASE) if c.lower() == c}
    return {
        c: "".join(sorted(x for x in found if re.fullmatch(c, x, re.IGNORECASE)))
        for c in string.ascii_lowercase + string.digits
    }


@lru_cache(maxsize=1)
def _word_edges() -> tuple[tuple[str, str], str]:
    """The English word edges of `_english`, `(?<![a-z0-9])` and `(?![a-z0-9])` under
    IGNORECASE, for lower-case text and without the flag (see the notes above `_Trie`): ((the
    edge before, the same moved behind the next character), the edge after)."""
    word = sorted(set("".join(_cases().values())))
    classes = [_char_class([c for c in word if c <= "\xff"])]
    if others := [c for c in word if c > "\xff"]:
        classes.append(_char_class(others))
    before = "".join(f"(?<!{x})" for x in classes)
    moved = "".join(f"(?<!{x}(?s:.))" for x in classes)
    after = "".join(f"(?!{x})" for x in classes)
    return (f"(?-i:{before})", f"(?-i:{moved})"), f"(?-i:{after})"


def _char_class(chars: Sequence[str]) -> str:
    """A character class of sorted `chars`, runs of three or more written as ranges."""
    runs: list[list[str]] = []
    for c in chars:
        if runs and ord(c) == ord(runs[-1][-1]) + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return "[{}]".format(
        "".join(
            f"{re.escape(r[0])}-{re.escape(r[-1])}" if len(r) > 2 else re.escape("".join(r))
            for r in runs
        )
    )


def _paths(
    p: str, asserts: Sequence[tuple[str, str]] = (), tail: str = "", budget: int = _EXPANSIONS
) -> list[tuple[list[_Step], str]]:
    """The paths of `p` in the order the alternation tries them: (steps, rest). `asserts` come
    before `p`, each as written and as moved behind the next character; `tail` comes after.
    At most `budget` paths; after the first character, groups stay in the rest."""
    written = "".join(a for a, _ in asserts)
    opaque = [([], f"{written}(?:{p}){tail}" if written or tail else p)]
    choices = _branches(p)
    if len(choices) > 1:
        return _choices(choices, "", asserts, tail, budget) or opaque
    if p.startswith("^"):
        return _paths(p[1:], (*asserts, ("^", _after_one("^"))), tail, budget)
    if p.startswith(("(?:", "(?<!", "(?<=", "[")):
        end = _group_end(p, 0) if p[0] == "(" else _class_end(p, 0)
        if end is None:
            return opaque
        head, after = p[: end + 1], p[end + 1 :]
        repeated = after[:1] in ("?", "*", "+", "{")
        if head.startswith("(?<"):
            if repeated:
                return opaque
            return _paths(after, (*asserts, (head, _after_one(head))), tail, budget)
        if head[0] == "[":
            if repeated or any(ch in "^-\\[]" for ch in head[1:-1]):
                return opaque  # negations, ranges, escapes, repeats
            choices = [re.escape(ch) for ch in dict.fromkeys(head[1:-1])]
        else:
            choices = _branches(head[3:-1])
            if after[:1] == "?" and after[1:2] not in ("?", "+"):
                after = after[1:]
                choices.append("")  # greedy: with the group first, then without
            elif repeated:
                return opaque
        return _choices(choices, after, asserts, tail, budget) or opaque
    steps: list[_Step] = []
    i = 0
    while found := _literal(p, i):
        steps.append(("c", found[0], ""))
        i += found[1]
        if len(steps) == 1 and (asserts or tail):
            steps.append(("a", "".join(m for _, m in asserts), tail))
    if not steps:
        return opaque
    return [(steps + more, rest) for more, rest in _paths(p[i:], budget=1)]


def _choices(
    choices: Sequence[str],
    after: str,
    asserts: Sequence[tuple[str, str]],
    tail: str,
    budget: int,
) -> list[tuple[list[_Step], str]]:
    """The paths of `(?:a|b|...)after`: those of `a after`, then of `b after`, ...; none when
    there are more choices than `budget`."""
    if len(choices) > budget:
        return []
    out: list[tuple[list[_Step], str]] = []
    for k, choice in enumerate(choices):
        left = budget - len(out) - (len(choices) - k - 1)  # one at least for each choice after
        out += _paths(choice + after, asserts, tail, left)
    return out


def _literal(p: str, i: int) -> tuple[str, int] | None:
    """The character at `p[i]` and its length in `p` (`\\?` is "?"), when it is plain, not
    repeated (in `ab?c` "a" is, "b" is not) and a lower-case ASCII letter or without case
    (Chinese, digits, punctuation), which IGNORECASE compares as `_Trie.pattern` writes it.
    Other letters stay in a rest."""
    if i >= len(p) or p[i] in ".^$*+?{}[]|()":
        return None
    if p[i] == "\\":
        ch, n = p[i + 1 : i + 2], 2
        if not ch or not ch.isascii() or ch.isalnum():
            return None  # \d, \b, \1, ...: classes, assertions, references
    else:
        ch, n = p[i], 1
    if p[i + n : i + n + 1] in ("?", "*", "+", "{"):
        return None
    if ch in string.ascii_lowercase or ch.lower() == ch == ch.upper():
        return ch, n
    return None


def _after_one(assertion: str) -> str:
    """An assertion on the position before a character, for the position after it."""
    if assertion == "^":
        return "(?<!(?s:..))"
    return f"{assertion[:4]}(?:{assertion[4:-1]})(?s:.))"


def _group_end(p: str, i: int) -> int | None:
    """Index of the `)` that closes the group opened at `p[i]`."""
    depth = 0
    while i < len(p):
        ch = p[i]
        if ch == "\\":
            i += 1
        elif ch == "[":
            end = _class_end(p, i)
            if end is None:
                return None
            i = end
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _class_end(p: str, i: int) -> int | None:
    """Index of the `]` that closes the character class opened at `p[i]`."""
    i += 1
    if p[i : i + 1] == "^":
        i += 1
    if p[i : i + 1] == "]":
        i += 1
    while i < len(p) and p[i] != "]":
        i += 2 if p[i] == "\\" else 1
    return i if i < len(p) else None


def _branches(p: str) -> list[str]:
    """`p` split at its top-level `|`."""
    out, start, i = [], 0, 0
    while i < len(p):
        ch = p[i]
        if ch == "\\":
            i += 1
        elif ch in "([":
            end = _group_end(p, i) if ch == "(" else _class_end(p, i)
            if end is None:
                return [p]
            i = end
        elif ch == "|":
            out.append(p[start:i])
            start = i + 1
        i += 1
    return [*out, p[start:]]


@dataclass(slots=True)
class _Facet:
    name: str
    patterns: tuple[re.Pattern[str], ...]


class NeedsAnalyzer:
    """Reads intent, sentiment, need signals, stage and need facets from a unit's text.

    One instance compiles the lexicon once, at its first `analyze` (about 2 s of `re`
    compiling): a re-cluster whose units were all read before, or were read in another
    process (`NeedsReader`), only needs the version, the facets and their statements, and
    never pays for it. `analyze` is pure and thread-safe.
    """

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        try:
            lex = tomllib.loads(lexicon_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InputError(f"needs lexicon not found: {lexicon_path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"needs lexicon {lexicon_path} is not valid TOML: {exc}") from exc
        self.version: str = lex["version"]
        self._lex = lex
        self._statements = {
            name: {"zh": f["statement_zh"], "en": f["statement_en"]}
            for name, f in lex["facets"].items()
        }
        self._compiled = False
        self._compile_lock = threading.Lock()

    def _compile_lexicon(self) -> None:
        with self._compile_lock:
            if not self._compiled:
                self._compile_patterns(self._lex)
                self._compiled = True

    def _compile_patterns(self, lex: dict[str, Any]) -> None:
        s = lex["sentiment"]
        self._negators_zh = tuple(s["negators_zh"])
        # "n't" ends a word ("didn't"); the other negators are words of their own.
        self._negator_en = _compile_search(
            [re.escape(n) + "(?![a-z])" for n in s["negators_en"] if n.startswith("n'")],
            [re.escape(n) for n in s["negators_en"] if not n.startswith("n'")],
        )
        self._contrast = _compile(s["contrast_zh"], s["contrast_en"])
        strong = set(s["strong_zh"]) | set(s["strong_en"])
        # One alternation per polarity and strength; overlapping hits are settled longest
        # first, so that "不方便" wins over "方便" and "not working" over "working".
        self._polar: list[tuple[str, float, re.Pattern[str]]] = []
        for polarity in ("positive", "negative"):
            for weight in (1.0, 2.0):
                chosen = {
                    lang: [t for t in s[f"{polarity}_{lang}"] if (t in strong) == (weight == 2.0)]
                    for lang in ("zh", "en")
                }
                pattern = _compile(chosen["zh"], chosen["en"])
                if pattern is not None:
                    self._polar.append((polarity, weight, pattern))
        self._no_problem = _compile(s["no_problem_zh"], s["no_problem_en"])
        i = lex["intent"]
        self._request = _compile_search(i["request_zh"], i["request_en"])
        self._request_weak = _compile_search(i["request_weak_zh"], [])
        self._question = _compile_search(i["question_zh"], i["question_en"])
        self._rhetorical = _compile_search(i["rhetorical_zh"], i["rhetorical_en"])
        self._rhetorical_strong = _compile_search(
            i["rhetorical_strong_zh"], i["rhetorical_strong_en"]
        )
        self._praise = _compile_search(i["praise_zh"], i["praise_en"])
        self._signals = {
            name: _compile_search(lex["signals"][name]["zh"], lex["signals"][name]["en"])
            for name in SIGNALS
        }
        self._stages = {
            name: _compile(lex["stages"][name]["zh"], lex["stages"][name]["en"])
            for name in _STAGE_WEIGHT
        }
        self._facets = [
            _Facet(name, _compile_search(f["zh"], f["en"])) for name, f in lex["facets"].items()
        ]

    @property
    def facets(self) -> tuple[str, ...]:
        return tuple(self._statements)

    def statement(self, facet: str, lang: str, topic: str) -> str:
        """The need statement of a facet in one language, about `topic`."""
        return self._statements[facet][lang].format(topic=topic)

    # -- per unit ------------------------------------------------------------------------------

    def analyze(
        self,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        normalized: bool = False,
    ) -> UnitNeeds:
        """Analyse one unit. `text` is normalised here unless `normalized` says it already is
        (a stored unit's `norm_text`); `metadata` is its record's (stage, tags)."""
        if not self._compiled:
            self._compile_lexicon()
        t = (text if normalized else normalize_for_analysis(text)).lower().replace("’", "'")
        score, n_pos, n_neg = self._sentiment_score(t)
        signals = tuple(name for name in SIGNALS if _search(self._signals[name], t))
        intent = self._intent(t, score, n_pos, n_neg, signals)
        stage, stage_from = self._stage(t, signals, metadata)
        facets = tuple(f.name for f in self._facets if _search(f.patterns, t))
        if intent == "pain" and score > -_SENTIMENT_CUT:
            # A complaint is negative even in flat words ("凭什么收？", "why can't you?").
            score = -_SENTIMENT_CUT
        if score >= _SENTIMENT_CUT:
            sentiment = "positive"
        elif score <= -_SENTIMENT_CUT:
            sentiment = "negative"
        else:
            sentiment = "neutral"
        return UnitNeeds(intent, sentiment, round(score, 3), signals, stage, stage_from, facets)

    def _sentiment_score(self, t: str) -> tuple[float, int, int]:
        """(score in [-1, 1], positive hits, negative hits) with negation and contrast."""
        cut = -1
        if self._contrast is not None:
            for m in self._contrast.finditer(t):
                cut = m.start()
        neutral = [m.span() for m in self._no_problem.finditer(t)] if self._no_problem else []
        pos = 0.5 * len(neutral)
        neg = 0.0
        n_pos = len(neutral)
        n_neg = 0
        for start, _, polarity, weight in self._sentiment_hits(t):
            if any(a <= start < b for a, b in neutral):
                continue
            if cut >= 0:
                weight *= 2.0 if start > cut else 0.5
            if self._negated(t, start):
                polarity = "negative" if polarity == "positive" else "neutral"
                weight *= 0.5 if polarity == "neutral" else 1.0
            if polarity == "positive":
                pos += weight
                n_pos += 1
            elif polarity == "negative":
                neg += weight
                n_neg += 1
            else:
                pos += weight * 0.5
        if t.count("!") + t.count("！") >= 2 and neg > pos:
            neg *= 1.25
        return (pos - neg) / (pos + neg + 1.0), n_pos, n_neg

    def _sentiment_hits(self, t: str) -> list[tuple[int, int, str, float]]:
        """Non-overlapping sentiment terms (start, end, polarity, weight), longest first."""
        hits = [
            (m.start(), m.end(), polarity, weight)
            for polarity, weight, pattern in self._polar
            for m in pattern.finditer(t)
        ]
        kept: list[tuple[int, int, str, float]] = []
        for h in sorted(hits, key=lambda h: h[0] - h[1]):
            if all(h[1] <= k[0] or h[0] >= k[1] for k in kept):
                kept.append(h)
        return sorted(kept)

    def _negated(self, t: str, start: int) -> bool:
        window = t[max(0, start - 3) : start]
        if any(n in window for n in self._negators_zh):
            return True
        before = t[max(0, start - 40) : start].split()[-3:]
        return bool(before) and _search(self._negator_en, " ".join(before))

    def _intent(self, t: str, score: float, n_pos: int, n_neg: int, signals: Sequence[str]) -> str:
        if _search(self._request, t):
            return "request"
        asks = "?" in t or "？" in t
        if _search(self._request_weak, t):
            # "能不能加个导出？" asks for a change (corpora/needs_*/README.md); "能导出吗？",
            # without a change verb after 能不能, asks whether it exists.
            return "request"
        if _search(self._rhetorical_strong, t):
            return "pain"
        if _search(self._question, t):
            complaining = _search(self._rhetorical, t) and (n_neg > 0 or score < 0)
            # A question word in a statement that complains ("…到底怎么算的，完全看不懂。")
            complaining = complaining or (not asks and n_neg > n_pos)
            return "pain" if complaining else "question"
        if score >= _SENTIMENT_CUT and (n_neg == 0 or _search(self._praise, t)):
            return "praise"
        if score <= -_SENTIMENT_CUT or (n_neg > n_pos):
            return "pain"
        # Repeated contacts and long procedures are complaints even in flat words.
        return "pain" if "effort" in signals and n_pos == 0 else "other"

    def _stage(
        self, t: str, signals: Sequence[str], metadata: Mapping[str, Any] | None
    ) -> tuple[str, str]:
        if metadata:
            for key in _METADATA_STAGE_KEYS:
                value = str(metadata.get(key) or "").strip().lower().replace("-", "_")
                if value in STAGES:
                    return value, "metadata"
        scores: Counter[str] = Counter()
        for name, pattern in self._stages.items():
            if pattern is not None:
                hits = len(pattern.findall(t))
                if hits:
                    scores[name] += _STAGE_WEIGHT[name] * min(hits, 3)
        if "churn_risk" in signals:
            scores["renew_churn"] += 2.0
        if scores:
            best = max(scores.values())
            return next(s for s in _STAGE_ORDER if scores[s] == best), "text"
        tags = _tags(metadata)
        if tags:
            tagged: Counter[str] = Counter()
            for name, pattern in self._stages.items():
                if pattern is not None and pattern.search(tags):
                    tagged[name] += _STAGE_WEIGHT[name]
            if tagged:
                best = max(tagged.values())
                return next(s for s in _STAGE_ORDER if tagged[s] == best), "metadata"
        return "use", "default"


def _tags(metadata: Mapping[str, Any] | None) -> str:
    if not metadata:
        return ""
    tags = metadata.get("tags")
    if isinstance(tags, str):
        return tags.lower()
    if isinstance(tags, list | tuple):
        return " ".join(str(x) for x in tags).lower()
    return ""


@lru_cache(maxsize=4)
def default_analyzer(lexicon_path: Path = LEXICON_PATH) -> NeedsAnalyzer:
    """One compiled analyzer per lexicon file, shared by the pipeline and the API."""
    return NeedsAnalyzer(lexicon_path)


# -- per theme ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NeedsParams:
    """Thresholds and weights of the per-theme scores (docs/needs.md); all configurable."""

    request_par: float = 0.5
    """Requests at this share of requests + evidence count as fully stated."""
    unstated_gap: float = 0.75
    unstated_evidence: float = 0.4
    unstated_requests: float = 0.10
    unstated_workarounds: float = 0.10
    """Least share of units with a workaround, effort or confusion signal: customers paying
    with their own time is what marks a need nobody states."""
    unstated_min_units: int = 10
    unstated_prior_units: int = 10
    """Units that show nothing, added to a theme's units in the shares of `unstated_score`: a
    share measured on few units is a weak estimate, so a small theme's shares are pulled down
    (10 of 10 units count as 0.5, 40 of 50 as 0.67)."""
    priority_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_WEIGHTS)
    )
    growth_window_days: int = 28
    breakdown_fields: tuple[str, ...] = (
        "product",
        "channel",
        "tier",
        "customer_tier",
        "segment",
        "platform",
    )
    rating_fields: tuple[str, ...] = RATING_FIELDS
    """Record metadata fields holding a score (stars, NPS, CSAT) for the rating impact."""


@dataclass(slots=True)
class ThemeNeeds:
    """The needs profile of one theme: counts, shares and the derived scores."""

    units: int
    intents: dict[str, int]
    sentiments: dict[str, int]
    sentiment_mean: float
    signals: dict[str, int]
    stages: dict[str, int]
    stage: str
    churn_risk: float
    evidence: int
    requests: int
    facets: dict[str, int]
    need_facet: str | None
    need_statement: dict[str, str]
    need_gap: float
    unstated: bool
    unstated_score: float
    growth: float
    ratings: dict[str, dict[str, float]]
    breakdowns: dict[str, dict[str, int]]
    priority: float = 0.0
    priority_parts: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UnitContext:
    """What theme scores need of a unit besides its needs: language, source, date, record."""

    record_id: str
    lang: str
    source: str
    created_at: datetime | None


def need_gap(
    requests: int,
    evidence: int,
    request_facets: Mapping[str, int],
    evidence_facets: Mapping[str, int],
    request_par: float = 0.5,
) -> float:
    """1 - stated coverage x facet overlap (module docstring); 0 when nothing is known."""
    if requests + evidence == 0:
        return 0.0
    if requests == 0:
        return 1.0
    coverage = min(1.0, requests / (request_par * (requests + evidence)))
    return round(1.0 - coverage * facet_overlap(request_facets, evidence_facets), 4)


def facet_overlap(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Histogram intersection of two facet counts. When either side names no facet, nothing
    shows that the requests ask for something else than the pains need, so they overlap
    fully: only a measured difference raises the gap."""
    ta, tb = sum(a.values()), sum(b.values())
    if ta == 0 or tb == 0:
        return 1.0
    return sum(min(a.get(k, 0) / ta, b.get(k, 0) / tb) for k in set(a) | set(b))


def is_evidence(n: UnitNeeds) -> bool:
    """A unit that shows a need without asking: a pain, or a workaround, effort or confusion."""
    return n.intent != "request" and (
        n.intent == "pain" or bool(_EVIDENCE_SIGNALS.intersection(n.signals))
    )


def theme_needs(
    needs: Sequence[UnitNeeds],
    context: Sequence[UnitContext],
    topics: Mapping[str, str],
    analyzer: NeedsAnalyzer,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    rest_ratings: Mapping[str, tuple[float, int]] | None = None,
    data_until: datetime | None = None,
    params: NeedsParams | None = None,
) -> ThemeNeeds:
    """Profile one theme from its units' needs. `topics` is the theme's name per language (the
    topic of the need statement); `records` the metadata of the theme's records;
    `rest_ratings` the (sum, count) of every rating field over the workspace's records, so the
    theme's mean can be set against the rest."""
    p = params or NeedsParams()
    n = len(needs)
    intents = Counter(x.intent for x in needs)
    sentiments = Counter(x.sentiment for x in needs)
    signals = Counter(s for x in needs for s in x.signals)
    stages = Counter(x.stage for x in needs)
    evidence = [x for x in needs if is_evidence(x)]
    requests = [x for x in needs if x.intent == "request"]
    ev_facets = Counter(f for x in evidence for f in x.facets)
    rq_facets = Counter(f for x in requests for f in x.facets)
    all_facets = ev_facets + rq_facets
    gap = need_gap(len(requests), len(evidence), rq_facets, ev_facets, p.request_par)
    evidence_share = len(evidence) / n if n else 0.0
    request_share = len(requests) / n if n else 0.0
    signalled = sum(1 for x in needs if _EVIDENCE_SIGNALS.intersection(x.signals))
    effort_share = signalled / n if n else 0.0
    unstated = (
        n >= p.unstated_min_units
        and gap >= p.unstated_gap
        and evidence_share >= p.unstated_evidence
        and request_share <= p.unstated_requests
        and effort_share >= p.unstated_workarounds
    )
    need_facet = _need_facet(ev_facets, rq_facets, analyzer.facets)
    langs = Counter(c.lang for c in context)
    statement = (
        {
            lang: analyzer.statement(need_facet, lang, topics[lang])
            for lang in ("zh", "en")
            if langs.get(lang) and topics.get(lang)
        }
        if need_facet and (evidence or requests)
        else {}
    )
    return ThemeNeeds(
        units=n,
        intents={k: intents.get(k, 0) for k in INTENTS},
        sentiments={k: sentiments.get(k, 0) for k in SENTIMENTS},
        sentiment_mean=round(sum(x.sentiment_score for x in needs) / n, 4) if n else 0.0,
        signals={k: signals.get(k, 0) for k in SIGNALS},
        stages={k: stages.get(k, 0) for k in STAGES},
        stage=max(STAGES, key=lambda s: (stages.get(s, 0), s != "use")) if n else "use",
        churn_risk=round(signals.get("churn_risk", 0) / n, 4) if n else 0.0,
        evidence=len(evidence),
        requests=len(requests),
        facets=dict(all_facets.most_common()),
        need_facet=need_facet,
        need_statement=statement,
        need_gap=gap,
        unstated=unstated,
        unstated_score=(
            unstated_score(gap, len(evidence), signalled, n, p.unstated_prior_units)
            if unstated
            else 0.0
        ),
        growth=_growth([c.created_at for c in context], data_until, p.growth_window_days),
        ratings=_ratings(context, records or {}, rest_ratings or {}, p.rating_fields),
        breakdowns=_breakdowns(context, records or {}, p.breakdown_fields),
    )


def unstated_score(gap: float, evidence: int, signalled: int, units: int, prior: int) -> float:
    """How strongly a theme is an unstated need: its need gap times its evidence share and
    its workaround/effort/confusion share, each over `prior` more units than it has, times
    ln(1 + units) (module docstring)."""
    if units == 0:
        return 0.0
    doubt = units + prior
    return round(gap * (evidence / doubt) * (signalled / doubt) * math.log1p(units), 4)


def _need_facet(
    evidence: Mapping[str, int], requests: Mapping[str, int], order: Sequence[str]
) -> str | None:
    """The facet the theme's evidence speaks of most (requests break ties and stand in when
    there is no evidence); lexicon order breaks remaining ties, so the choice is stable."""
    combined = {f: 2 * evidence.get(f, 0) + requests.get(f, 0) for f in order}
    best = max(combined.values(), default=0)
    if best == 0:
        return None
    return next(f for f in order if combined[f] == best)


def _growth(dates: Sequence[datetime | None], until: datetime | None, days: int) -> float:
    """Units in the last `days` before `until` against the `days` before those, as a relative
    change: 0.5 is half as many again; a theme with nothing before and something now is 1."""
    known = [d for d in dates if d is not None]
    if not known:
        return 0.0
    end = until or max(known)
    recent_start = end - timedelta(days=days)
    base_start = recent_start - timedelta(days=days)
    recent = sum(1 for d in known if recent_start < d <= end)
    base = sum(1 for d in known if base_start < d <= recent_start)
    if base == 0:
        return 1.0 if recent else 0.0
    return round((recent - base) / base, 4)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def record_ratings(
    records: Mapping[str, Mapping[str, Any]], fields: Sequence[str] = RATING_FIELDS
) -> dict[str, tuple[float, int]]:
    """Sum and count of each rating field over records: the baseline themes compare with."""
    out: dict[str, tuple[float, int]] = {}
    for meta in records.values():
        for f in fields:
            v = _number(meta.get(f))
            if v is not None:
                s, c = out.get(f, (0.0, 0))
                out[f] = (s + v, c + 1)
    return out


def _ratings(
    context: Sequence[UnitContext],
    records: Mapping[str, Mapping[str, Any]],
    totals: Mapping[str, tuple[float, int]],
    fields: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Mean score of the theme's records against the rest of the workspace's, per field."""
    mine = {c.record_id: records[c.record_id] for c in context if c.record_id in records}
    out: dict[str, dict[str, float]] = {}
    for f, (s, c) in record_ratings(mine, fields).items():
        total_s, total_c = totals.get(f, (s, c))
        rest_c = total_c - c
        mean = s / c
        entry = {"mean": round(mean, 3), "n": c, "rest_n": rest_c}
        if rest_c > 0:
            rest_mean = (total_s - s) / rest_c
            entry["rest_mean"] = round(rest_mean, 3)
            entry["impact"] = round(mean - rest_mean, 3)
        out[f] = entry
    return out


def _breakdowns(
    context: Sequence[UnitContext],
    records: Mapping[str, Mapping[str, Any]],
    fields: Sequence[str],
) -> dict[str, dict[str, int]]:
    """Units per source and per value of each metadata field that the theme's records carry."""
    out: dict[str, Counter[str]] = {"source": Counter(c.source for c in context)}
    for c in context:
        meta = records.get(c.record_id) or {}
        for f in fields:
            v = meta.get(f)
            if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip():
                out.setdefault(f, Counter())[str(v).strip()] += 1
    return {k: dict(v.most_common(20)) for k, v in out.items() if v}


def rank_priorities(profiles: Mapping[str, ThemeNeeds], params: NeedsParams | None = None) -> None:
    """Set each theme's priority in place: a weighted sum of volume, growth, negativity, churn
    risk and effort, each scaled to [0, 1] against the highest theme of the same run, times
    100. `priority_parts` keeps each weighted component so the score can be explained."""
    p = params or NeedsParams()
    if not profiles:
        return
    raw = {
        tid: {
            "volume": math.log1p(t.units),
            "growth": max(0.0, t.growth),
            "negativity": t.sentiments.get("negative", 0) / t.units if t.units else 0.0,
            "churn_risk": t.churn_risk,
            "effort": (
                (t.signals.get("effort", 0) + t.signals.get("workaround", 0)) / t.units
                if t.units
                else 0.0
            ),
        }
        for tid, t in profiles.items()
    }
    weights = {k: float(v) for k, v in p.priority_weights.items() if k in _COMPONENTS}
    total = sum(weights.values()) or 1.0
    top = {k: max(r[k] for r in raw.values()) for k in _COMPONENTS}
    for tid, t in profiles.items():
        parts = {
            k: round(
                100 * weights.get(k, 0.0) / total * (raw[tid][k] / top[k] if top[k] else 0.0), 2
            )
            for k in _COMPONENTS
        }
        t.priority_parts = parts
        t.priority = round(sum(parts.values()), 2)


_COMPONENTS = ("volume", "growth", "negativity", "churn_risk", "effort")


def unstated_needs(profiles: Mapping[str, ThemeNeeds]) -> list[tuple[str, ThemeNeeds]]:
    """Themes flagged as unstated needs, strongest first."""
    found = [(tid, t) for tid, t in profiles.items() if t.unstated]
    return sorted(found, key=lambda x: (-x[1].unstated_score, -x[1].units, x[0]))


def read_labelled(folder: Path) -> list[dict[str, str]]:
    """The rows of a hand-labelled set (corpora/needs_train, corpora/needs_eval): zh.csv then
    en.csv, columns id, lang, source, domain, text, intent, sentiment, stage, signals."""
    rows: list[dict[str, str]] = []
    for lang in ("zh", "en"):
        with (folder / f"{lang}.csv").open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows
