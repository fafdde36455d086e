"""Records -> feedback units: the customer's sentences, each with an exact span into the text.

Why the split is done this way:

- Only customer turns are analysed; agent replies, quoted mail and signatures stay context.
- Chinese sentence ends (。！？；… and their runs, half-width ! ? ; . next to Chinese) are found
  with one regular expression: spaCy adds nothing there and is slow on Han text. English stretches
  that may hold several sentences go through spaCy's rule-based sentencizer (tokenizer +
  sentencizer only), which knows abbreviations ("e.g.", "Mr."), decimals, URLs and emails.
- Greetings and courtesy ("您好", "Thanks for contacting us") are dropped or trimmed so that
  themes are not built around politeness; the patterns live in models/lexicons/boilerplate.toml.
- Fragments too short to mean anything on their own ("闪退了。", "It fails.") are merged with a
  neighbour in the same turn, so every unit can be read and embedded alone.

Invariant: for every unit, `text[unit.start:unit.end] == unit.text`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
import spacy
from spacy.tokens import Doc

from voc.errors import ConfigError
from voc.normalize import normalize_for_analysis
from voc.settings import MODELS_DIR, VocSettings
from voc.types import Lang, Turn

BOILERPLATE_PATH = MODELS_DIR / "lexicons" / "boilerplate.toml"

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_HAN_RUN = re.compile(f"[{_HAN_CLASS}]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)?")
_EN_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)?")
_CONTENT_CHAR = re.compile(r"[^\W_]")

# The end of a Chinese sentence: a run of end marks holding a full-width one, or a run of
# half-width marks (and "…") touching Han text on either side, with the closing quotes and
# brackets that belong to it.
_CHINESE_END = re.compile(
    "(?:[。｡！？；…!?;.．]*[。｡！？；][。｡！？；…!?;.．]*"
    f"|(?<=[{_HAN_CLASS}])[…!?;.．]+"
    f"|[…!?;.．]+(?=[ \t\u3000]*[{_HAN_CLASS}]))"
    "[”’」』）》】)]*"
)
_FULL_WIDTH_END = frozenset("。｡！？；")
_SPACES = frozenset(" \t\u3000")
# What str.splitlines() splits on.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Spans inside which a "." "?" or "!" never ends a sentence.
_PROTECTED = re.compile(
    "(?:https?://|www\\.)[^\\s<>\"'\u3000-\u303f\u3400-\u9fff\uff00-\uffef]*"
    "[^\\s<>\"'.,;:!?)\\]\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    r"|\[[A-Za-z][A-Za-z0-9_]*\]"
    r"|\d+(?:\.\d+)+"
)
# An English stretch needs the sentencizer only if a "." "!" or "?" has words after it.
_EN_MARK = re.compile(r"[.!?]")
_WORD_CHAR = re.compile(r"\w")
# Punctuation or emoji between clauses; an apostrophe belongs to its word ("you're").
_CLAUSE_BREAK = re.compile(r"[^\w\s']+")
# Anything beyond plain text, groups, alternatives and quantifiers.
_OPEN_PATTERN = re.compile(r"[\\.\[^$]|\(\?")
# No courtesy clause is this long; longer clauses are not matched against the lexicon.
_MAX_COURTESY_CHARS = 80
_FULL_WIDTH_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x2019: ord("'"),
    0x3000: ord(" "),
}


@lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def _to_traditional(text: str) -> str:
    return _s2t().convert(text)


def detect_lang(text: str) -> Lang:
    """Which language carries the content: "zh" or "en".

    Rule: count Han characters and Latin words (runs of Latin letters). A Chinese word is about
    1.5 characters long, so the text is Chinese when `han >= 1.5 * latin_words`: then at least
    as many Chinese words as English ones carry it. "app闪退了怎么办" (6 Han, 1 word) is zh;
    "The 花呗 payment failed again" (2 Han, 4 words) is en. Text without Han is en, including
    text with no letters at all (digits, emoji), which has no language to find.
    """
    return _measure(text, 1)[0]


def _measure(text: str, min_en_words: int) -> tuple[Lang, int]:
    """Language and size: Han characters plus Latin words for Chinese, words (numbers
    included) for English. Counting words stops at `min_en_words`, all a caller needs."""
    if not text.isascii():
        han = sum(map(len, _HAN_RUN.findall(text)))
        if han:
            latin = len(_LATIN_WORD.findall(text))
            if han >= 1.5 * latin:
                return "zh", han + latin
    words = 0
    for _ in _EN_WORD.finditer(text):
        words += 1
        if words >= min_en_words:
            break
    return "en", words


@dataclass(slots=True)
class UnitDraft:
    """A feedback unit before it has ids: `start`/`end` index the record text."""

    start: int
    end: int
    text: str
    norm_text: str
    lang: Lang
    speaker: str


# A stretch of a customer turn: start, end, and whether it is English that may still hold
# several sentences.
_Piece = tuple[int, int, bool]


class _Boilerplate:
    """Courtesy clauses from the lexicon.

    A unit is cut into clauses at punctuation (and emoji); whole clauses of courtesy are dropped
    from either end, so "您好，我的提现一直没到账" keeps "我的提现一直没到账" while "你好慢" (you
    are so slow) is left alone. A clause may chain several patterns ("你好在吗", "ok thanks");
    chains are found by a walk over positions rather than by a repeated group, which could
    backtrack exponentially on "嗯嗯嗯...". A guard stops an English pattern from ending inside a
    word ("hi" in "hiring").

    Every sentence is checked twice, so this is on the hot path. Clauses are lowercased, and
    patterns made of plain text, groups and quantifiers are lowercased with their groups made
    non-capturing: the regex engine then skips an alternative on its first letter, three times
    faster than a case-insensitive match. Other patterns keep their text, matched with `(?i:)`.
    """

    def __init__(self, path: Path) -> None:
        shape = (
            f"The boilerplate lexicon {path} needs [zh] and [en] tables, each with a `patterns` "
            "list of regular expressions"
        )
        try:
            with path.open("rb") as fh:
                lexicon = tomllib.load(fh)
            lists = [lexicon[lang]["patterns"] for lang in ("zh", "en")]
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{shape}: {exc}") from exc
        if not all(isinstance(found, list) for found in lists):
            raise ConfigError(f"{shape}; a `patterns` value is not a list.")
        patterns: list[str] = [p for found in lists for p in found]
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise ConfigError(f"Bad pattern {pattern!r} in {path}: {exc}") from exc
        # Traditional spellings of the Chinese patterns ("謝謝", "在嗎") join the simplified ones,
        # so units need no conversion before matching.
        patterns += [variant for p in patterns if (variant := _to_traditional(p)) != p]
        patterns = [_plain(p) if not _OPEN_PATTERN.search(p) else f"(?i:{p})" for p in patterns]
        self._ascii_patterns = _union([p for p in patterns if p.isascii()])
        self._patterns = _union(patterns)
        # Most Chinese clauses hold a character that no pattern can match, and checking that is
        # far cheaper than trying every pattern. A pattern with a class, escape or dot could
        # match anything, and then every clause goes to the patterns.
        self._foreign: re.Pattern[str] | None = None
        if not any(p.startswith("(?i:") for p in patterns):
            alphabet = set("".join(patterns)) | set(" \t\u3000")
            alphabet |= {c.upper() for c in alphabet}
            alphabet |= {
                chr(full) for full, half in _FULL_WIDTH_FOLD.items() if chr(half) in alphabet
            }
            self._foreign = re.compile(f"[^{re.escape(''.join(sorted(alphabet)))}]")

    def content_span(self, text: str) -> tuple[int, int] | None:
        """The part of `text` left after courtesy clauses at either end; None if none is left."""
        if text[0].isalnum() and text.isascii() and not self._ascii_patterns.match(text.lower()):
            # Most English sentences: no pattern matches where the first clause begins.
            return 0, self._content_end(text, 0)
        start = pos = 0
        while True:
            brk = _CLAUSE_BREAK.search(text, pos)
            stop = brk.start() if brk else len(text)
            clause = text[pos:stop].strip()
            if clause:
                if not self._is_courtesy(clause):
                    break
                start = brk.end() if brk else len(text)
            if brk is None or brk.end() == len(text):
                return None
            pos = brk.end()
        if brk is None or brk.end() == len(text):
            return start, len(text)
        return start, self._content_end(text, brk.start())

    def _content_end(self, text: str, floor: int) -> int:
        """Where the content ends once courtesy clauses after `floor` are cut off. Walks back
        clause by clause over the reversed text, so only the tail is ever looked at."""
        size = len(text)
        reverse = text[::-1]
        end = size
        pos = 0
        while True:
            brk = _CLAUSE_BREAK.search(reverse, pos)
            if brk is None or size - brk.end() < floor:
                return end
            clause = text[size - brk.start() : size - pos].strip()
            if clause:
                if not self._is_courtesy(clause):
                    return end
                end = size - brk.end()
            pos = brk.end()

    def _is_courtesy(self, clause: str) -> bool:
        if len(clause) > _MAX_COURTESY_CHARS:
            return False
        if clause.isascii():
            view, patterns = clause.lower(), self._ascii_patterns
        else:
            if self._foreign is not None and self._foreign.search(clause):
                return False
            view, patterns = clause.translate(_FULL_WIDTH_FOLD).lower(), self._patterns
        if patterns.match(view) is None:
            return False
        return patterns.fullmatch(view) is not None or _chained(patterns, view)


def _chained(patterns: re.Pattern[str], view: str) -> bool:
    """True if `view` is a run of pattern matches, with or without spaces between them."""
    size = len(view)
    todo, seen = [0], {0}
    while todo:
        start = todo.pop()
        if patterns.match(view, start) is None:
            continue
        for end in range(size, start, -1):
            if end < size and _inside_word(view, end):
                continue
            if patterns.fullmatch(view, start, end) is None:
                continue
            while end < size and view[end].isspace():
                end += 1
            if end == size:
                return True
            if end not in seen:
                seen.add(end)
                todo.append(end)
    return False


def _inside_word(view: str, pos: int) -> bool:
    before, after = view[pos - 1], view[pos]
    return before.isascii() and before.isalnum() and after.isascii() and after.isalnum()


def _plain(pattern: str) -> str:
    """A pattern of plain text, groups and quantifiers, lowercased, its groups non-capturing."""
    return pattern.lower().replace("(", "(?:")


def _union(patterns: list[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile("(?!)")
    return re.compile("|".join(f"(?:{p})(?![a-z0-9])" for p in patterns))


class Segmenter:
    """Splits records into customer feedback units; build once, reuse for every record."""

    def __init__(self, settings: VocSettings, lexicon: Path = BOILERPLATE_PATH) -> None:
        self._min_zh = settings.min_unit_chars_zh
        self._min_en = settings.min_unit_words_en
        self._boilerplate = _Boilerplate(lexicon)
        self._nlp = spacy.blank("en")
        self._nlp.add_pipe("sentencizer")

    def segment(self, text: str, turns: Sequence[Turn]) -> list[UnitDraft]:
        return self.segment_many([(text, turns)])[0]

    def segment_many(self, items: Sequence[tuple[str, Sequence[Turn]]]) -> list[list[UnitDraft]]:
        """Segment many records at once: all English stretches go through spaCy in one batch."""
        plans: list[tuple[str, list[tuple[Turn, list[_Piece]]]]] = []
        english: list[str] = []
        for text, turns in items:
            plan = [(t, list(_pieces(text, t.start, t.end))) for t in _customer_turns(text, turns)]
            for _, pieces in plan:
                english.extend(text[start:end] for start, end, is_english in pieces if is_english)
            plans.append((text, plan))
        docs = iter(self._nlp.pipe(english, batch_size=1000))
        results: list[list[UnitDraft]] = []
        for text, plan in plans:
            units: list[UnitDraft] = []
            for turn, pieces in plan:
                spans: list[tuple[int, int]] = []
                for start, end, is_english in pieces:
                    if is_english:
                        spans.extend(_sentence_spans(text, start, end, next(docs)))
                    else:
                        spans.append((start, end))
                units.extend(self._turn_units(text, self._clean(text, spans), turn.speaker))
            results.append(units)
        return results

    def _clean(self, text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Strip whitespace, drop sentences without letters or digits or made of courtesy only,
        and trim courtesy clauses from the ends of the rest."""
        kept: list[tuple[int, int]] = []
        for start, end in spans:
            chunk = text[start:end]
            left = chunk.lstrip()
            body = left.rstrip()
            if not _CONTENT_CHAR.search(body):
                continue
            start += len(chunk) - len(left)
            content = self._boilerplate.content_span(body)
            if content is None:
                continue
            if content == (0, len(body)):
                kept.append((start, start + len(body)))
            else:
                kept.append(_strip(text, start + content[0], start + content[1]))
        return kept

    def _turn_units(self, text: str, spans: list[tuple[int, int]], speaker: str) -> list[UnitDraft]:
        """Merge each fragment too short to stand alone into the unit before it (the first one
        into the unit after it); a turn with nothing else keeps its fragment."""
        units: list[UnitDraft] = []
        pending: UnitDraft | None = None
        for start, end in spans:
            if pending is not None:
                start, pending = pending.start, None
            unit, short = self._draft(text, start, end, speaker)
            if not short:
                units.append(unit)
            elif units:
                units[-1] = self._draft(text, units[-1].start, end, speaker)[0]
            else:
                pending = unit
        if pending is not None:
            units.append(pending)
        return units

    def _draft(self, text: str, start: int, end: int, speaker: str) -> tuple[UnitDraft, bool]:
        """The unit for `text[start:end]`, and whether it is too short to stand alone: fewer
        than `min_unit_chars_zh` Han characters for Chinese (Latin words count one each, so
        "App闪退" counts three), fewer than `min_unit_words_en` words or numbers for English."""
        unit = text[start:end]
        norm = normalize_for_analysis(unit)
        lang, size = _measure(norm, self._min_en)
        short = size < (self._min_zh if lang == "zh" else self._min_en)
        return UnitDraft(start, end, unit, norm, lang, speaker), short


def _customer_turns(text: str, turns: Sequence[Turn]) -> list[Turn]:
    if not turns:
        return [Turn(0, len(text), "customer")]
    for turn in turns:
        if not 0 <= turn.start <= turn.end <= len(text):
            raise ValueError(
                f"Turn {turn!r} does not fit a text of {len(text)} characters: an adapter must "
                "give turns with 0 <= start <= end <= len(text)."
            )
    return sorted((t for t in turns if t.role == "customer"), key=lambda t: t.start)


def _pieces(text: str, start: int, end: int) -> Iterator[_Piece]:
    """Lines, then Chinese sentence ends; English stretches are marked for the sentencizer."""
    protected: list[tuple[int, int]] | None = None
    for line_start, line_end in _lines(text, start, end):
        line = text[line_start:line_end]
        if line.isascii():
            # No Han, no full-width marks: nothing here can end a Chinese sentence.
            yield line_start, line_end, _may_hold_sentences(line)
            continue
        piece_start = line_start
        for run in _CHINESE_END.finditer(text, line_start, line_end):
            if _FULL_WIDTH_END.isdisjoint(run.group()):
                if protected is None:
                    protected = [m.span() for m in _PROTECTED.finditer(text, start, end)]
                if _inside(run.start(), protected):
                    continue
            yield _piece(text, piece_start, run.end())
            piece_start = run.end()
        if piece_start < line_end:
            yield _piece(text, piece_start, line_end)


def _piece(text: str, start: int, end: int) -> _Piece:
    chunk = text[start:end]
    return start, end, _may_hold_sentences(chunk) and detect_lang(chunk) == "en"


def _may_hold_sentences(chunk: str) -> bool:
    """A "." "!" or "?" with a word after it: only then can the sentencizer split the chunk."""
    mark = _EN_MARK.search(chunk)
    return mark is not None and _WORD_CHAR.search(chunk, mark.end()) is not None


def _lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Line spans, except that a hard-wrapped English sentence (a line ending in a letter, digit
    or comma, the next starting in lower case) stays on one line."""
    spans: list[tuple[int, int]] = []
    pos = start
    for brk in _LINE_BREAK.finditer(text, start, end):
        spans.append((pos, brk.start()))
        pos = brk.end()
    spans.append((pos, end))
    current = spans[0]
    for span in spans[1:]:
        if _continues(text, *current, *span):
            current = (current[0], span[1])
        else:
            yield current
            current = span
    yield current


def _continues(text: str, prev_start: int, prev_end: int, line_start: int, line_end: int) -> bool:
    """True when the line goes on with an English sentence that the previous line broke off."""
    head = line_start
    while head < line_end and text[head] in _SPACES:
        head += 1
    tail = prev_end - 1
    while tail >= prev_start and text[tail] in _SPACES:
        tail -= 1
    if head == line_end or tail < prev_start:
        return False
    first, last = text[head], text[tail]
    return "a" <= first <= "z" and last.isascii() and (last.isalnum() or last == ",")


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= pos < e for s, e in spans)


def _sentence_spans(text: str, start: int, end: int, doc: Doc) -> list[tuple[int, int]]:
    """Sentence spans of an English piece, ignoring any break inside a URL, email or number."""
    cuts = [start + sent.start_char for sent in doc.sents][1:]
    # A cut after a space cannot fall inside a URL, email or number, which hold no spaces.
    if any(not text[c - 1].isspace() for c in cuts):
        protected = [m.span() for m in _PROTECTED.finditer(text, start, end)]
        cuts = [c for c in cuts if not any(s < c < e for s, e in protected)]
    bounds = [start, *cuts, end]
    return list(zip(bounds, bounds[1:], strict=False))


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    chunk = text[start:end]
    left = chunk.lstrip()
    start += len(chunk) - len(left)
    return start, start + len(left.rstrip())
