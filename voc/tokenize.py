"""Content tokens for theme labels and keywords: Chinese words from jieba, English lemmas from
spaCy, with stopwords, punctuation, numbers and redaction placeholders removed.

Why it is built this way:

- jieba runs as a private `jieba.Tokenizer`, never the global one, so the domain user
  dictionary (花呗, 到账, 人脸识别 ...) cannot leak into or be undone by other code in the
  process. Its HMM guesser is off: with the user dictionary covering the domain, the HMM mostly
  glues stray characters into non-words ("钱到", "里查") that would end up in labels.
- English goes through spaCy's rule-based tokenizer; lemmas come from the lookup table of
  spacy-lookups-data. The table is keyed by surface form and almost all keys are lower case, so
  the lowercased word is looked up: spaCy's own component would miss "Payments" at the start of
  a sentence.
- Mixed text is split by script inside each token: English inside Chinese stays whole
  ("APP闪退" -> app, 闪退) and Chinese inside English goes through jieba.
- Input is expected to be `FeedbackUnit.norm_text` (NFKC, simplified Chinese).
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path

import jieba
import spacy
from spacy.lookups import Table

from voc.errors import ConfigError, ModelUnavailableError
from voc.settings import MODELS_DIR, VocSettings
from voc.types import Lang

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_CONTENT_CHAR = re.compile(r"[^\W_]")
_NUMBER = re.compile(r"[\d.,:/%+\-]+")
_LATIN_LETTER = re.compile(r"[a-z]")
# Redaction placeholders ("[EMAIL]", "[PHONE]"), URLs and emails carry no theme.
_NOISE = re.compile(
    r"\[[A-Z][A-Z0-9_]*\]"
    r"|(?:https?://|www\.)[^\s\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
LEMMA_OVERRIDES = MODELS_DIR / "lexicons" / "lemma_overrides.toml"
_USER_DICT_LINE = re.compile(r"(\S+) (\d+)(?: ([a-z]+))?")
_SHARED: dict[tuple[object, ...], Tokenizer] = {}
_SHARED_MAX = 4
_SHARED_LOCK = threading.Lock()


class Tokenizer:
    """Turns unit texts into content tokens; build once (loading takes about a second)."""

    def __init__(self, settings: VocSettings) -> None:
        self._jieba = _jieba_tokenizer(settings.user_dict, settings.resolved_cache_dir)
        self._stopwords = read_wordlist(settings.stopwords_zh) | read_wordlist(
            settings.stopwords_en
        )
        with LEMMA_OVERRIDES.open("rb") as f:
            self._lemma_overrides: dict[str, str] = tomllib.load(f)["en"]
        self._nlp = spacy.blank("en")
        lemmatizer = self._nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        try:
            self._nlp.initialize()
        except (ImportError, ValueError) as exc:
            raise ModelUnavailableError(
                "spaCy's English lemma lookup table could not be loaded; install the pinned "
                f"spacy-lookups-data package (pip install -e .): {exc}"
            ) from exc
        self._lemmas: Table = lemmatizer.lookups.get_table("lemma_lookup")

    @classmethod
    def shared(cls, settings: VocSettings) -> Tokenizer:
        """One Tokenizer per configuration for the whole process: building one takes about
        1.5 s (jieba's dictionary, spaCy's lemma table), which a process that re-clusters
        many times (the scheduler, the tests) paid at every run. A configuration is the
        dictionary and stopword files with their modification times, so an edited file is
        read again."""
        files = (settings.user_dict, settings.stopwords_zh, settings.stopwords_en)
        key = (*((path, _mtime_ns(path)) for path in files), settings.resolved_cache_dir)
        with _SHARED_LOCK:
            tokenizer = _SHARED.get(key)
            if tokenizer is None:
                while len(_SHARED) >= _SHARED_MAX:
                    del _SHARED[next(iter(_SHARED))]
                tokenizer = _SHARED[key] = cls(settings)
        return tokenizer

    def tokens(self, text: str, lang: Lang) -> list[str]:
        """Content tokens of `text`, in order: Chinese words and lowercased English lemmas."""
        text = _NOISE.sub(" ", text)
        if lang == "zh":
            return self._chinese(text)
        if lang == "en":
            return self._english(text)
        raise ValueError(f"Unknown language {lang!r}: expected 'zh' or 'en'.")

    def tokens_many(self, items: Sequence[tuple[str, Lang]]) -> list[list[str]]:
        """`tokens` for each (text, lang); jieba and spaCy's tokenizer work one text at a time.

        Tokens are interned: a corpus repeats a small vocabulary, so a million units' tokens
        hold one string per distinct word instead of one per occurrence."""
        return [[sys.intern(t) for t in self.tokens(text, lang)] for text, lang in items]

    def _chinese(self, text: str) -> list[str]:
        out: list[str] = []
        for word in self._jieba.lcut(text, HMM=False):
            if _HAN.search(word):
                if word not in self._stopwords and _is_content(word):
                    out.append(word)
            elif (lemma := self._lemma(word)) is not None:
                out.append(lemma)
        return out

    def _english(self, text: str) -> list[str]:
        out: list[str] = []
        for token in self._nlp.make_doc(text):
            if token.is_space or token.is_punct or token.like_num:
                continue
            if _HAN.search(token.text):
                out.extend(self._chinese(token.text))
            elif (lemma := self._lemma(token.text)) is not None:
                out.append(lemma)
        return out

    def _lemma(self, word: str) -> str | None:
        """The lowercased lemma of a non-Chinese word, or None if it is not a content word."""
        lower = word.lower()
        if lower in self._stopwords:
            return None
        lemma = self._lemma_overrides.get(lower) or self._lemmas.get(lower, lower)
        if lemma in self._stopwords or not _is_content(lemma):
            return None
        if len(lemma) == 1 and _LATIN_LETTER.match(lemma):
            return None
        return lemma


def _is_content(word: str) -> bool:
    """Holds a letter or digit, and is not a number ("2024", "5.2", "三")."""
    return (
        _CONTENT_CHAR.search(word) is not None
        and not _NUMBER.fullmatch(word)
        and not word.isnumeric()
    )


def read_wordlist(path: Path) -> frozenset[str]:
    """A stopword file: UTF-8, one word per line, `#` starts a comment line; lowercased."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the word list {path}: {exc}") from exc
    return frozenset(
        word.lower() for line in lines if (word := line.strip()) and not word.startswith("#")
    )


def read_user_dict(path: Path) -> list[tuple[str, int, str | None]]:
    """A jieba user dictionary: one `word freq tag` per line (tag optional), UTF-8."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the jieba user dictionary {path}: {exc}") from exc
    entries: list[tuple[str, int, str | None]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _USER_DICT_LINE.fullmatch(line.strip())
        if match is None:
            raise ConfigError(
                f"{path}, line {number}: {line!r} is not `word freq tag` "
                "(a word, a whole-number frequency, an optional lower-case part-of-speech tag)."
            )
        entries.append((match[1], int(match[2]), match[3]))
    return entries


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None  # Tokenizer itself reports a missing file


def _jieba_tokenizer(user_dict: Path, cache_dir: Path) -> jieba.Tokenizer:
    """A private jieba instance with the user dictionary. jieba pickles its main dictionary to
    a cache file on first use (about 1 s, then 0.3 s a load); the cache goes to voc's cache
    directory (VOC_CACHE_DIR, default <data_dir>/cache), or the system temp directory if that
    cannot be created, never site-packages."""
    jieba.setLogLevel(logging.WARNING)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache_dir = Path(tempfile.gettempdir())
    entries = read_user_dict(user_dict)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(cache_dir)
    tokenizer.cache_file = "jieba.cache"
    tokenizer.initialize()
    for word, freq, tag in entries:
        tokenizer.add_word(word, freq, tag)
    return tokenizer
