"""What every adapter shares: decoding bytes of any common encoding, dates, text cleaning, and
readers for CSV, JSON, JSONL, front matter and speaker labels.

Readers never drop an item: each one yields either a value with the 1-based line where it starts
or a `Reject` saying why it could not be read, so an adapter can pass both through unchanged.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import warnings
from bisect import bisect_right
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import charset_normalizer
from dateutil import parser as date_parser

from voc.errors import InputError
from voc.normalize import to_simplified
from voc.types import Location, RecordDraft, Reject

EXCERPT_CHARS = 200


class Adapter(Protocol):
    """Turns one input file into drafts and rejects, exactly one per input item."""

    source: str

    def read(self, path: Path) -> Iterator[RecordDraft | Reject]: ...


# --------------------------------------------------------------------------- field mapping


@dataclass(frozen=True, slots=True)
class SourceMapping:
    """How one source's export names its fields.

    `columns` holds only fields the user mapped explicitly: a mapped column that is missing from
    a file is an error, while a missing default column just means the field is absent.
    """

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def merged(self, other: SourceMapping) -> SourceMapping:
        """`other` wins field by field: command-line overrides beat the mapping file."""
        return SourceMapping(
            columns={**self.columns, **other.columns},
            metadata={**self.metadata, **other.metadata},
            labels={**self.labels, **other.labels},
        )


@dataclass(frozen=True, slots=True)
class Mapping:
    """A mapping file plus `field=Column` overrides, per source.

    `unscoped` holds overrides given without a source (`--map text=Body`); they apply to
    whichever source is ingested and are checked against that source's fields in `get_adapter`.
    """

    sources: dict[str, SourceMapping] = field(default_factory=dict)
    unscoped: SourceMapping = field(default_factory=SourceMapping)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class DecodedText:
    """A file's text exactly as written (minus a byte-order mark) and how it was stored."""

    text: str
    encoding: str
    """Python codec name: utf-8, utf-16-le, utf-16-be, utf-32-le, utf-32-be, gb18030, big5,
    cp1252."""
    had_bom: bool
    newline: str
    """The file's line end: "\\r\\n", "\\n" or "\\r"; "" for a file of one line."""
    notes: tuple[tuple[int, str], ...] = ()
    """(1-based line, what was repaired) for lines that were not clean UTF-8 in a UTF-8 file:
    a character cut off at the end, or a line saved in another encoding. Adapters add each
    note as a warning to the record that holds the line, so the repair is never silent."""

    def notes_for(self, first: int | None, last: int | None = None) -> list[str]:
        """Notes on lines `first`..`last` (a whole file when `first` is None)."""
        if first is None:
            return [note for _, note in self.notes]
        last = first if last is None else last
        return [note for line, note in self.notes if first <= line <= last]


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_AUDIO = "voc reads transcripts, not audio"
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ""),
    (b"\xff\xd8\xff", "a JPEG image", ""),
    (b"GIF87a", "a GIF image", ""),
    (b"GIF89a", "a GIF image", ""),
    (b"%PDF-", "a PDF document", "copy its text into a TXT file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one)", "export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (.xls)", "export it as CSV"),
    (b"\x1f\x8b", "a gzip archive", "decompress it first"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it first"),
    (b"Rar!\x1a\x07", "a RAR archive", "extract it first"),
    (b"\x7fELF", "a program", ""),
    (b"ID3", "an MP3 recording", _AUDIO),
    (b"OggS", "an Ogg recording", _AUDIO),
    (b"fLaC", "a FLAC recording", _AUDIO),
)

# Candidates for the detector: the encodings Chinese and English feedback is really saved in.
# Letting charset-normalizer consider every codec makes it call short Chinese text cp949 or
# johab; GB18030 is the superset of GBK and GB2312, so it stands for the whole GB family.
_CANDIDATES = ["utf_8", "gb18030", "big5", "cp1252"]
_CODEC_NAMES = {"utf_8": "utf-8", "gb18030": "gb18030", "big5": "big5", "cp1252": "cp1252"}
_GB_FAMILY = {"gb2312", "gbk", "cp936", "hz", "gb18030"}
_CHINESE_CODECS = {"gb18030", "big5"}
_CHAOS_TOLERANCE = 0.1
_SCORE_CHARS = 5000
_CJK_PUNCT = re.compile(
    r"[\u2000-\u206f\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)

# C0 control bytes other than tab, line feed, vertical tab, form feed, carriage return, escape.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])
_TEXT_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_SNIFF_BYTES = 65536
_MAX_CONTROL_SHARE = 0.05


def read_text(path: Path) -> DecodedText:
    """Read a file and decode it without losing a character.

    A byte-order mark is certain, so it decides first; then strict UTF-8 (valid UTF-8 is
    practically never anything else); then charset-normalizer among the encodings feedback is
    saved in. Raises InputError (with `reject_code` in its detail) for files that are binary,
    unreadable or in no supported encoding.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path.name} cannot be read ({exc.strerror or exc}); check the path and permissions.",
            reject_code="unreadable_file",
        ) from exc
    return decode_bytes(data, path.name)


def decode_bytes(data: bytes, name: str) -> DecodedText:
    """`read_text` for bytes that are already in memory, e.g. an upload; `name` is for errors."""
    for magic, what, hint in _MAGIC:
        if data.startswith(magic):
            advice = f"; {hint}" if hint else ""
            raise InputError(
                f"{name} is {what}, not a text file{advice}.", reject_code="binary_file"
            )
    if (data.startswith(b"RIFF") and data[8:12] == b"WAVE") or data[4:8] == b"ftyp":
        raise InputError(
            f"{name} is an audio or video recording, not a text file; {_AUDIO}.",
            reject_code="binary_file",
        )
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec == "utf-8":
                repaired = _decode_utf8(data[len(bom) :], had_bom=True)
                if repaired is not None:
                    return repaired
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{name} starts with a {codec} byte-order mark but byte {exc.start} is not "
                    f"valid {codec}; re-save the file as UTF-8.",
                    reject_code="undecodable_file",
                ) from exc
            return DecodedText(text, codec, True, _newline_of(text))
    sample = data[:_SNIFF_BYTES]
    if sample and len(sample.translate(None, _TEXT_BYTES)) / len(sample) > _MAX_CONTROL_SHARE:
        raise InputError(
            f"{name} looks binary (many control or NUL bytes); if it is UTF-16 text without a "
            "byte-order mark, re-save it as UTF-8.",
            reject_code="binary_file",
        )
    repaired = _decode_utf8(data, had_bom=False)
    if repaired is not None:
        return repaired
    return _detect(data, name)


def _decode_utf8(data: bytes, had_bom: bool) -> DecodedText | None:
    """Strict UTF-8; failing that, a UTF-8 file with a few broken lines, line by line.

    Two breakages are common and must not cost the whole file: an export cut off in the
    middle of a multi-byte character, and a UTF-8 file into which someone pasted lines saved
    in GBK or Big5. Both are repaired per line, with a note per line saying what was done.
    Returns None when the file is not mostly UTF-8, so the encoding detector decides.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason == "unexpected end of data":
            try:
                head = data[: exc.start].decode("utf-8")
            except UnicodeDecodeError:
                return _decode_mixed(data, had_bom)
            text = head + "\ufffd"
            line = len(split_lines(head))
            note = (
                f"line {line}: the file ends in the middle of a character (it was cut off); "
                "the broken character was replaced by U+FFFD; check the end of the export"
            )
            return DecodedText(text, "utf-8", had_bom, _newline_of(text), ((line, note),))
        return _decode_mixed(data, had_bom)
    return DecodedText(text, "utf-8", had_bom, _newline_of(text))


def _decode_mixed(data: bytes, had_bom: bool) -> DecodedText | None:
    """A file whose non-ASCII lines are mostly valid UTF-8: the other lines are decoded in the
    legacy encoding they most look like (or with U+FFFD for bytes valid in none)."""
    raw_lines = data.splitlines(keepends=True)
    decoded: list[str | None] = []
    utf8_lines = 0
    for raw in raw_lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded.append(None)
            continue
        decoded.append(line)
        utf8_lines += not line.isascii()
    bad = [raw for raw, line in zip(raw_lines, decoded, strict=True) if line is None]
    if utf8_lines <= len(bad):
        return None
    codec = _legacy_codec(b"\n".join(bad))
    notes: list[tuple[int, str]] = []
    parts: list[str] = []
    for number, (raw, line) in enumerate(zip(raw_lines, decoded, strict=True), 1):
        if line is None:
            try:
                if codec is None:
                    raise UnicodeDecodeError("utf-8", raw, 0, len(raw), "no legacy codec")
                line = raw.decode(codec)
                note = (
                    f"line {number} is not UTF-8 like the rest of the file and was read as "
                    f"{codec.upper()}; check its text and re-save the file as UTF-8"
                )
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                note = (
                    f"line {number} is not valid UTF-8 nor any encoding voc reads; its broken "
                    "bytes were replaced by U+FFFD"
                )
            notes.append((number, note))
        parts.append(line)
    text = "".join(parts)
    return DecodedText(text, "utf-8", had_bom, _newline_of(text), tuple(notes))


def _legacy_codec(data: bytes) -> str | None:
    """The codec among GB18030, Big5 and Windows-1252 that charset-normalizer finds for
    `data`, or None when none decodes it."""
    try:
        return _detect(data, "").encoding
    except InputError:
        return None


def _detect(data: bytes, name: str) -> DecodedText:
    matches = charset_normalizer.from_bytes(data, cp_isolation=_CANDIDATES)
    best = matches.best()
    if best is None:
        raise InputError(
            f"{name} is neither text in UTF-8, UTF-16, GB18030/GBK, Big5 nor Windows-1252; "
            "if it is text, re-save it as UTF-8, or save every line in the same encoding.",
            reject_code="binary_file",
        )
    chosen = best
    if best.encoding in _CHINESE_CODECS:
        # On a short text GB18030 and Big5 often both decode with near-equal chaos and no
        # measurable coherence, and the detector's pick is close to arbitrary. Among the Chinese
        # codecs it finds plausible, take the one whose text reads most like Chinese.
        close = [
            m
            for m in matches
            if m.encoding in _CHINESE_CODECS and m.chaos <= best.chaos + _CHAOS_TOLERANCE
        ]
        if len(close) > 1:
            chosen = max(close, key=lambda m: _hanzi_score(str(m)[:_SCORE_CHARS]))
    codec = "gb18030" if chosen.encoding in _GB_FAMILY else _CODEC_NAMES[chosen.encoding]
    text = data.decode(codec)
    return DecodedText(text, codec, False, _newline_of(text))


def _newline_of(text: str) -> str:
    if "\r\n" in text:
        return "\r\n"
    if "\n" in text:
        return "\n"
    return "\r" if "\r" in text else ""


def _hanzi_score(text: str) -> tuple[float, float]:
    """How Chinese `text` reads: the share of adjacent character pairs that are words, then
    the mean log frequency of its characters (traditional is read as simplified).

    A wrong decoding of GB18030 as Big5, or the reverse, yields rare characters, kana or box
    drawing that form no words; the right one yields words. Every non-ASCII character except
    punctuation counts, so stray symbols weigh against a decoding. Frequencies come from the
    dictionary jieba ships with.
    """
    chars, words = _hanzi_frequencies()
    letters = [ch if ch > "\x7f" and not _CJK_PUNCT.match(ch) else "" for ch in to_simplified(text)]
    scored = [ch for ch in letters if ch]
    if not scored:
        return 0.0, 0.0
    pairs = [a + b for a, b in zip(letters, letters[1:], strict=False) if a and b]
    word_share = sum(pair in words for pair in pairs) / len(pairs) if pairs else 0.0
    return word_share, sum(math.log1p(chars.get(ch, 0)) for ch in scored) / len(scored)


@lru_cache(maxsize=1)
def _hanzi_frequencies() -> tuple[dict[str, int], frozenset[str]]:
    """Single-character frequencies and two-character words from jieba's dictionary.

    jieba is imported here, not at the top: only short non-UTF-8 Chinese files need it.
    """
    import jieba

    chars: dict[str, int] = {}
    words: set[str] = set()
    with jieba.get_dict_file() as handle:
        for raw in handle:
            line = raw.decode("utf-8")
            if len(line) > 2 and line[1] == " ":
                chars[line[0]] = int(line[2:].split(" ", 1)[0])
            elif len(line) > 3 and line[2] == " ":
                words.add(line[:2])
    return chars, frozenset(words)


def open_input(path: Path) -> DecodedText | Reject:
    """Decode a file, or say in one Reject why the whole file cannot be read."""
    try:
        decoded = read_text(path)
    except InputError as exc:
        code = str(exc.detail.get("reject_code", "unreadable_file"))
        return Reject(Location(str(path), None), code, exc.message)
    if not decoded.text.strip():
        return Reject(
            Location(str(path), None),
            "empty_file",
            f"{path.name} is empty; export the data again or remove the file.",
        )
    return decoded


def file_format(path: Path, formats: dict[str, str]) -> str | Reject:
    """The reader for a file, chosen by its extension, or a Reject listing the accepted ones."""
    fmt = formats.get(path.suffix.lower())
    if fmt is not None:
        return fmt
    accepted = ", ".join(sorted(formats))
    return Reject(
        Location(str(path), None),
        "unsupported_format",
        f"{path.name} has extension '{path.suffix}', which this source does not read; "
        f"use one of {accepted}.",
    )


def open_file(path: Path, formats: dict[str, str]) -> tuple[str, DecodedText] | Reject:
    """The format and decoded text of a file, or the one Reject that says why it cannot be read."""
    fmt = file_format(path, formats)
    if isinstance(fmt, Reject):
        return fmt
    decoded = open_input(path)
    if isinstance(decoded, Reject):
        return decoded
    return fmt, decoded


def no_items(path: Path, what: str) -> Reject:
    return Reject(
        Location(str(path), None),
        "no_items",
        f"{path.name} contains no {what}; check that the export is complete.",
    )


# --------------------------------------------------------------------------- text and values


def clean_text(value: str) -> tuple[str, int]:
    """Line ends folded to "\\n" and NUL characters removed; returns the text and NULs removed.

    NULs come from broken exports and break storage and tokenisers; they carry no meaning.
    """
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" not in value:
        return value, 0
    return value.replace("\x00", ""), value.count("\x00")


def nul_warning(count: int, what: str) -> str:
    return f"removed {count} NUL character{'s' if count != 1 else ''} from {what}"


def describe_type(value: Any) -> str:
    """A JSON-ish name for a value's type, for messages a user reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"


class FieldTypeError(ValueError):
    """A JSON field holds a list, object or boolean where text belongs: the item is rejected."""


def text_value(value: Any, what: str, warns: list[str]) -> str:
    """A text field as a string: numbers become text with a warning, lists and objects raise.

    Converting a number keeps feedback such as a review whose body is "5"; a list or object
    means the mapping points at the wrong field, which the user should fix.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text, nuls = clean_text(value)
        if nuls:
            warns.append(nul_warning(nuls, what))
        return text
    if isinstance(value, int | float) and not isinstance(value, bool):
        warns.append(f"{what} is a number ({value!r}); read as text")
        return str(value)
    raise FieldTypeError(f"{what} is {describe_type(value)}, but it must be text")


def scalar_value(value: Any) -> Any:
    """A metadata value: strings stripped, empty strings and null dropped (None)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def id_value(value: Any, warns: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    warns.append(f"id is {describe_type(value)}, not text or a whole number; the id was ignored")
    return None


def excerpt(text: str) -> str:
    return text[:EXCERPT_CHARS]


class TextBuilder:
    """Joins a record's parts with a separator and says where each part lands, so turns can
    point into the final text without searching it."""

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.parts: list[str] = []
        self.length = 0

    def add(self, part: str) -> int:
        """Append `part`; returns its start offset in the joined text."""
        if self.parts:
            self.length += len(self.separator)
        start = self.length
        self.parts.append(part)
        self.length += len(part)
        return start

    def build(self) -> str:
        return self.separator.join(self.parts)


# --------------------------------------------------------------------------- dates

_EPOCH = re.compile(r"-?\d{9,13}(?:\.\d+)?")
_CN_DATE = re.compile(
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"
    r"(?:\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2})\s*秒?)?\s*分?)?"
)
_EPOCH_MS = 100_000_000_000
_DEFAULT_A = datetime(2000, 1, 1)
_DEFAULT_B = datetime(2001, 2, 2)


def parse_datetime(value: str | int | float | None, default_tz: tzinfo = UTC) -> datetime | None:
    """A timezone-aware UTC datetime from the date forms feedback exports use.

    Accepts ISO 8601, `2024/3/5`, `2024年3月5日 10:22`, `05 Mar 2024`, and Unix time (numbers
    above 10^11 are milliseconds). A value without a zone is in `default_tz`. None and blank
    give None; anything else that is not a complete date raises ValueError, so the adapter can
    keep the record and warn instead of inventing a date.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return _from_epoch(value)
    text = value.strip()
    if not text:
        return None
    if _EPOCH.fullmatch(text):
        return _from_epoch(float(text))
    match = _CN_DATE.fullmatch(text)
    if match:
        year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
        parsed = datetime(year, month, day, hour, minute, second)
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = _parse_free_form(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed.astimezone(UTC)


def _from_epoch(value: float) -> datetime:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a date")
    seconds = value / 1000 if abs(value) >= _EPOCH_MS else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{value!r} is out of the range of Unix time") from exc


def _parse_free_form(text: str) -> datetime:
    """dateutil fills missing parts from a default date; parsing with two different defaults
    and comparing exposes input such as "March" or "5", which is not a complete date."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = date_parser.parse(text, default=_DEFAULT_A)
            second = date_parser.parse(text, default=_DEFAULT_B)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not a date") from exc
    if first.date() != second.date():
        raise ValueError(f"{text!r} is not a complete date")
    return first


def date_warning(what: str, value: Any) -> str:
    return (
        f"{what} {value!r} is not a date voc can read (use ISO 8601 such as 2024-03-05 10:22); "
        "the record is kept without a date"
    )


def read_date(value: Any, what: str, default_tz: tzinfo, warns: list[str]) -> datetime | None:
    if value is not None and not isinstance(value, str | int | float):
        warns.append(date_warning(what, value))
        return None
    try:
        return parse_datetime(value, default_tz)
    except ValueError:
        warns.append(date_warning(what, value))
        return None


# --------------------------------------------------------------------------- lines

_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Physical lines split on \\r\\n, \\r or \\n only.

    `str.splitlines` also splits on U+2028 and other separators that may sit inside JSON strings
    and customer text, which would shift every line number after them.
    """
    if "\r" not in text:
        return text.split("\n")
    return _NEWLINE.split(text)


class LineIndex:
    """Maps a character offset to its 1-based physical line."""

    def __init__(self, text: str) -> None:
        self._starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]

    def line_of(self, offset: int) -> int:
        return bisect_right(self._starts, offset)


# --------------------------------------------------------------------------- CSV

_DELIMITERS = ",;\t|"
_UNCLOSED_QUOTE_LINES = 20
_SNIFF_CHARS = 16384


@dataclass(slots=True)
class CsvRow:
    line: int
    cells: list[str]
    end_line: int = 0
    """Last physical line of the row; far from `line` when a quote was never closed."""


@dataclass(slots=True)
class CsvError:
    line: int
    message: str


def sniff_delimiter(text: str, path: Path) -> str:
    """The delimiter of a CSV file: csv.Sniffer, checked against the header line.

    The sniffer can be misled by commas in long text cells, so its answer is kept only if the
    header line contains it; otherwise the candidate most frequent in the header wins.
    """
    if path.suffix.lower() == ".tsv":
        return "\t"
    header = text[: text.find("\n")] if "\n" in text else text
    counts = {d: header.count(d) for d in _DELIMITERS}
    try:
        sniffed = csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and counts.get(sniffed, 0) > 0:
        return sniffed
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def iter_csv(text: str, delimiter: str) -> Iterator[CsvRow | CsvError]:
    """Rows with the physical line where each starts (multi-line cells counted); blank rows
    are skipped. Cells can be any size: a 10 MB cell is read, length limits come later.

    A quote that is never closed makes the csv module read the rest of the file as one cell.
    That row is reported as an error and reading starts again on the line after it, so the
    rows it swallowed are still read.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    lines = io.StringIO(text, newline="").readlines()
    start = 0
    while start < len(lines):
        reader = csv.reader(iter(lines[start:]) if start else lines, delimiter=delimiter)
        line = start + 1
        restart = len(lines)
        try:
            for row in reader:
                end = start + reader.line_num
                if end == line == len(lines) and _ends_quoted(lines[-1], delimiter):
                    # The last line opens a quoted cell and the file ends: an export cut off
                    # inside a cell. Its text is incomplete, like a cut-off JSON item.
                    yield CsvError(
                        line,
                        "the file ends inside a quoted cell that is never closed, so the row "
                        "is cut off; re-export the file",
                    )
                    break
                if end == len(lines) and end > line and _unclosed_quote(lines, line, end):
                    yield CsvError(
                        line,
                        f"a quote opened in this row is never closed, so lines {line}-{end} ran "
                        "together; close the quote",
                    )
                    restart = line
                    break
                if row and (len(row) > 1 or row[0].strip()):
                    yield CsvRow(line, row, end)
                line = end + 1
        except csv.Error as exc:
            yield CsvError(line, str(exc))
            restart = start + reader.line_num
        start = restart


def _ends_quoted(line: str, delimiter: str) -> bool:
    """Whether a CSV line ends inside a quoted cell: a quote opens a cell only at its start
    (elsewhere it is a literal character, as the csv module reads it), and `""` inside a
    quoted cell is an escaped quote."""
    quoted, at_start, i = False, True, 0
    while i < len(line):
        ch = line[i]
        if quoted and ch == '"':
            if line[i + 1 : i + 2] == '"':
                i += 2
                continue
            quoted = False
        elif not quoted and ch == '"' and at_start:
            quoted = True
        at_start = not quoted and ch == delimiter
        i += 1
    return quoted


def _unclosed_quote(lines: list[str], first: int, last: int) -> bool:
    """Doubled quotes come in pairs, so a row whose quotes do not pair up left one open."""
    return sum(lines[i].count('"') for i in range(first - 1, last)) % 2 == 1


def find_column(header: Sequence[str], names: Sequence[str]) -> int | None:
    """Index of the first of `names` in the header: exact match first, then ignoring case."""
    for name in names:
        if name in header:
            return header.index(name)
    folded = [h.strip().casefold() for h in header]
    for name in names:
        key = name.strip().casefold()
        if key in folded:
            return folded.index(key)
    return None


def find_key(item: dict[str, Any], names: Sequence[str]) -> str | None:
    """The first of `names` present in a JSON object, exact first, then ignoring case."""
    for name in names:
        if name in item:
            return name
    folded = {str(k).strip().casefold(): k for k in item}
    for name in names:
        key = folded.get(name.strip().casefold())
        if key is not None:
            return key
    return None


def list_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------- JSON

_JSON_WS = " \t\n\r"
# strict=False accepts raw control characters (tabs, line breaks, NULs) inside strings, which
# exporters write; NULs are removed later with a warning.
_DECODER = json.JSONDecoder(strict=False)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_WS:
        pos += 1
    return pos


@dataclass(slots=True)
class JsonItem:
    line: int
    value: Any
    raw: str


def iter_json(text: str, path: Path, containers: Sequence[str]) -> Iterator[JsonItem | Reject]:
    """Items of a JSON file: an array, an object holding an array under one of `containers`, a
    single object, or objects one per line (a .json file that is really JSONL).

    A file cut off in the middle still yields every complete item before the cut; the broken
    tail becomes one Reject with its line.
    """
    lines = LineIndex(text)
    pos = _skip_ws(text, 0)
    first = text[pos : pos + 1]
    if first == "[":
        end = yield from _array_items(text, pos, path, lines, 0)
        if end is not None:
            yield from _trailing(text, end, path, lines)
        return
    if first != "{":
        yield _json_reject(path, lines, pos, text, "the file does not start with '[' or '{'")
        return
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError:
        yield from _object_items(text, pos, path, lines, containers)
        return
    rest = _skip_ws(text, end)
    if text[rest : rest + 1] == "{":
        yield from iter_jsonl(text, path)
        return
    key = find_key(value, containers) if isinstance(value, dict) else None
    if key is not None and isinstance(value[key], list):
        yield from _object_items(text, pos, path, lines, containers)
        return
    yield JsonItem(lines.line_of(pos), value, text[pos:end])
    yield from _trailing(text, end, path, lines)


def iter_jsonl(text: str, path: Path) -> Iterator[JsonItem | Reject]:
    """One JSON value per line; a bad line is rejected and the next line is read."""
    for number, line in enumerate(split_lines(text), 1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = _DECODER.decode(stripped)
        except json.JSONDecodeError as exc:
            yield Reject(
                Location(str(path), number),
                "invalid_json",
                f"{path.name} line {number} is not valid JSON ({exc.msg}: column {exc.colno}); "
                "fix the line, the other lines were read.",
                excerpt(stripped),
            )
            continue
        yield JsonItem(number, value, stripped)


def _array_items(
    text: str, pos: int, path: Path, lines: LineIndex, count: int
) -> Generator[JsonItem | Reject, None, int | None]:
    """Items of the array opening at `pos`; returns the offset after it, or None if broken."""
    i = _skip_ws(text, pos + 1)
    if text[i : i + 1] == "]":
        return i + 1
    while True:
        if i >= len(text):
            problem = f"the file ends before the array is closed; {_items_read(count)}"
            yield _json_reject(path, lines, i, text, problem)
            return None
        try:
            value, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            yield _json_reject(
                path,
                lines,
                i,
                text,
                f"item {count + 1} is broken or cut off ({exc.msg}: line {exc.lineno} column "
                f"{exc.colno}); {_items_read(count)}",
            )
            return None
        yield JsonItem(lines.line_of(i), value, text[i:end])
        count += 1
        i = _skip_ws(text, end)
        sep = text[i : i + 1]
        if sep == "]":
            return i + 1
        if sep != ",":
            what = "the file ends" if not sep else f"found {sep!r}"
            yield _json_reject(
                path,
                lines,
                i,
                text,
                f"expected ',' or ']' after item {count} but {what}; {_items_read(count)}",
            )
            return None
        i = _skip_ws(text, i + 1)
        if text[i : i + 1] == "]":
            return i + 1


def _object_items(
    text: str, pos: int, path: Path, lines: LineIndex, containers: Sequence[str]
) -> Iterator[JsonItem | Reject]:
    """Walk a top-level object key by key so a `{"tickets": [...]}` cut off inside the array
    still yields its complete items. Without a container key the object is one item."""
    i = pos + 1
    found = False
    wanted = {c.casefold() for c in containers}
    while True:
        i = _skip_ws(text, i)
        if text[i : i + 1] == "}":
            break
        try:
            key, i = _DECODER.raw_decode(text, i)
            i = _skip_ws(text, i)
            if text[i : i + 1] != ":" or not isinstance(key, str):
                raise json.JSONDecodeError("expected a key and ':'", text, i)
            i = _skip_ws(text, i + 1)
            if key.casefold() in wanted and text[i : i + 1] == "[":
                found = True
                end = yield from _array_items(text, i, path, lines, 0)
                if end is None:
                    return
                i = end
            else:
                _, i = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            where = i if found else pos
            yield _json_reject(path, lines, where, text, f"the JSON is broken ({exc.msg})")
            return
        i = _skip_ws(text, i)
        sep = text[i : i + 1]
        if sep == ",":
            i += 1
        elif sep == "}":
            break
        else:
            yield _json_reject(path, lines, i, text, "the top-level object is not closed")
            return
    if not found:
        value, end = _DECODER.raw_decode(text, pos)
        yield JsonItem(lines.line_of(pos), value, text[pos:end])
    yield from _trailing(text, i + 1, path, lines)


def _items_read(count: int) -> str:
    if count == 0:
        return "no item before it could be read"
    if count == 1:
        return "the item before it was read"
    return f"the {count} items before it were read"


def _trailing(text: str, end: int, path: Path, lines: LineIndex) -> Iterator[Reject]:
    rest = _skip_ws(text, end)
    if rest < len(text):
        yield _json_reject(path, lines, rest, text, "there is text after the end of the JSON")


def _json_reject(path: Path, lines: LineIndex, pos: int, text: str, problem: str) -> Reject:
    line = lines.line_of(pos)
    return Reject(
        Location(str(path), line),
        "invalid_json",
        f"{path.name} line {line}: {problem}; fix or re-export the file from that line on.",
        excerpt(text[pos:]),
    )


# --------------------------------------------------------------------------- table rows


@dataclass(slots=True)
class FieldSpec:
    """Which columns or keys an adapter reads for each field of one source."""

    what: str
    """What one item is, for messages: "ticket", "review"."""
    names: dict[str, tuple[str, ...]]
    """Field -> columns tried in order; extra metadata columns as `metadata.NAME`."""
    explicit: frozenset[str]
    """Fields the user mapped: their absence from a CSV header rejects every row."""
    required: tuple[str, ...]
    """At least one of these must be present, or the item cannot have text."""

    @classmethod
    def build(
        cls,
        what: str,
        defaults: dict[str, tuple[str, ...]],
        mapping: SourceMapping,
        required: tuple[str, ...],
    ) -> FieldSpec:
        names = {f: mapping.columns.get(f, cols) for f, cols in defaults.items()}
        names.update({f"metadata.{k}": (v,) for k, v in mapping.metadata.items()})
        explicit = frozenset({*mapping.columns, *(f"metadata.{k}" for k in mapping.metadata)})
        return cls(what, names, explicit, required)

    def wanted(self, fields: Sequence[str]) -> str:
        return " or ".join(repr(c) for f in fields for c in self.names[f])


@dataclass(slots=True)
class Row:
    """One item's raw field values, before an adapter turns them into a record."""

    location: Location
    values: dict[str, Any]
    raw: str
    warnings: list[str]


def csv_rows(text: str, path: Path, spec: FieldSpec) -> Iterator[Row | Reject]:
    """Rows of a CSV file as field values. The header is matched once; a missing mapped or
    required column, a wrong number of fields or a CSV error rejects the row with its line."""
    delimiter = sniff_delimiter(text, path)
    rows = iter_csv(text, delimiter)
    header_row = next(rows, None)
    if header_row is None:
        return
    if isinstance(header_row, CsvError):
        yield _csv_error(path, header_row)
        return
    header = [h.strip().lstrip("\ufeff") for h in header_row.cells]
    index: dict[str, int] = {}
    missing: list[str] = []
    for name, columns in spec.names.items():
        found = find_column(header, columns)
        if found is not None:
            index[name] = found
        elif name in spec.explicit:
            missing.append(f"{columns[0]!r} (mapped to {name})")
    if not any(f in index for f in spec.required):
        missing.append(f"{spec.wanted(spec.required)} (the {spec.what} text)")
    problem = ""
    if missing:
        problem = (
            f"no column {', '.join(missing)} in the header; columns found: "
            f"{list_names(header)}. Fix the mapping or the file."
        )
    width = len(header)
    for row in rows:
        if isinstance(row, CsvError):
            yield _csv_error(path, row)
            continue
        location = Location(str(path), row.line)
        cells = row.cells
        if problem:
            yield Reject(
                location,
                "missing_column",
                f"{path.name} line {row.line}: {problem}",
                excerpt(delimiter.join(cells)),
            )
        elif len(cells) != width:
            yield Reject(
                location,
                "column_count",
                f"{path.name} line {row.line}: the row has {len(cells)} fields but the header "
                f"has {width}; {_column_count_hint(row)}",
                excerpt(delimiter.join(cells)),
            )
        else:
            values = {name: cells[i] for name, i in index.items()}
            yield Row(location, values, delimiter.join(cells), [])


def _column_count_hint(row: CsvRow) -> str:
    if row.end_line - row.line < _UNCLOSED_QUOTE_LINES:
        return "quote cells that contain the delimiter or line breaks."
    return (
        f"the row runs to line {row.end_line}, so a quote in it is probably never closed and "
        f"lines {row.line + 1}-{row.end_line} were read into it; close the quote."
    )


def read_table(
    path: Path,
    formats: dict[str, str],
    spec: FieldSpec,
    container: str,
    build: Callable[[Row, Path], RecordDraft | Reject],
) -> Iterator[RecordDraft | Reject]:
    """One draft or reject per row of a CSV, JSON or JSONL export (tickets, reviews); a file
    with no rows at all is one `no_items` reject."""
    opened = open_file(path, formats)
    if isinstance(opened, Reject):
        yield opened
        return
    fmt, decoded = opened
    if fmt == "csv":
        rows = csv_rows(decoded.text, path, spec)
    else:
        rows = json_rows(decoded.text, path, fmt, spec, container)
    count = 0
    for row in rows:
        count += 1
        if isinstance(row, Reject):
            yield row
            continue
        item = build(row, path)
        if decoded.notes and isinstance(item, RecordDraft):
            last = row.location.line + row.raw.count("\n") if row.location.line else None
            item.warnings.extend(decoded.notes_for(row.location.line, last))
        yield item
    if count == 0:
        yield no_items(path, container)


def json_rows(
    text: str, path: Path, fmt: str, spec: FieldSpec, container: str
) -> Iterator[Row | Reject]:
    """Items of a JSON or JSONL file as field values. Keys vary from item to item, so a mapped
    key missing from one item is a warning; a missing text key rejects the item."""
    items = iter_jsonl(text, path) if fmt == "jsonl" else iter_json(text, path, (container,))
    for item in items:
        if isinstance(item, Reject):
            yield item
            continue
        location = Location(str(path), item.line)
        obj = item.value
        if not isinstance(obj, dict):
            yield Reject(
                location,
                "invalid_type",
                f"{path.name} line {item.line}: the item is {describe_type(obj)}, but each "
                f"{spec.what} must be a JSON object.",
                excerpt(item.raw),
            )
            continue
        values: dict[str, Any] = {}
        warns: list[str] = []
        for name, keys in spec.names.items():
            key = find_key(obj, keys)
            if key is not None:
                values[name] = obj[key]
            elif name in spec.explicit:
                warns.append(f"mapped key {keys[0]!r} ({name}) is not in this {spec.what}")
        if not any(f in values for f in spec.required):
            yield Reject(
                location,
                "missing_field",
                f"{path.name} line {item.line}: the {spec.what} has no "
                f"{spec.wanted(spec.required)} key; keys found: "
                f"{list_names([str(k) for k in obj])}. Fix the mapping or the file.",
                excerpt(item.raw),
            )
            continue
        yield Row(location, values, item.raw, warns)


def _csv_error(path: Path, error: CsvError) -> Reject:
    return Reject(
        Location(str(path), error.line),
        "invalid_csv",
        f"{path.name} line {error.line}: the row cannot be read as CSV ({error.message}); "
        "check its quotes.",
    )


def type_reject(row: Row, path: Path, exc: FieldTypeError) -> Reject:
    return Reject(
        row.location,
        "invalid_type",
        f"{path.name} line {row.location.line}: {exc}; fix the value or map another field.",
        excerpt(row.raw),
    )


# --------------------------------------------------------------------------- front matter


@dataclass(slots=True)
class FrontMatter:
    """`key: value` pairs between two `---` lines at the top of a TXT or Markdown file."""

    fields: dict[str, str]
    body_start: int
    """Index into the file's lines of the first line after the front matter."""
    warnings: list[str]


_FRONT_LINE = re.compile(r"\s*([^:：\s][^:：]*?)\s*[:：]\s*(.*?)\s*")


def read_front_matter(lines: Sequence[str]) -> FrontMatter:
    if not lines or lines[0].strip() != "---":
        return FrontMatter({}, 0, [])
    for close in range(1, len(lines)):
        if lines[close].strip() in ("---", "..."):
            break
    else:
        return FrontMatter(
            {}, 0, ["the '---' on line 1 is never closed, so it was read as text, not front matter"]
        )
    fields: dict[str, str] = {}
    warns: list[str] = []
    for index in range(1, close):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _FRONT_LINE.fullmatch(line)
        if match is None:
            warns.append(f"front matter line {index + 1} is not 'key: value' and was ignored")
            continue
        key = match.group(1).strip().casefold().replace(" ", "_").replace("-", "_")
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key] = value
    return FrontMatter(fields, close + 1, warns)


# --------------------------------------------------------------------------- speaker labels

_TIMESTAMP = r"[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?[\])]?"
_LABEL_LINE = re.compile(
    rf"[ \t]*(?:{_TIMESTAMP}[ \t]*)?(?P<open>\*\*|__)?"
    r"(?P<label>[^:：\s*_\[\]#>|-][^:：\n*]{0,31}?)[ \t]*(?P<close1>\*\*|__)?[ \t]*[:：](?!//)"
    r"(?P<close2>\*\*|__)?[ \t]*"
)
_LABEL_SUFFIX = re.compile(r"\s*(?:[(（\[【<][^)）\]】>]*[)）\]】>]|[#＃]?\d+)$")
_DIARISED = re.compile(
    r"(?:speaker|spk|说话人|发言人|讲话人|说话者)[ _-]?\d+|s\d+|[A-Z]{2,}_\d+", re.IGNORECASE
)
_NAME = re.compile(r"[^\W\d_][\w.'’ -]{0,30}")


@dataclass(slots=True)
class LabelMatch:
    label: str
    """The speaker label as written, e.g. "客服(小王)" or "Alice"."""
    text_start: int
    """Offset in the line where the spoken text starts, after the label and colon."""
    bold: bool


def match_label(line: str) -> LabelMatch | None:
    """A `Speaker: text` line (optional timestamp, Markdown bold, full-width colon)."""
    match = _LABEL_LINE.match(line)
    if match is None:
        return None
    bold = bool(match.group("open"))
    if bold != bool(match.group("close1") or match.group("close2")):
        return None
    return LabelMatch(match.group("label").strip(), match.end(), bold)


def label_key(label: str) -> str:
    """The label's kind for lookup: case folded, without a number or name in brackets, so
    `客服1`, `客服(小王)` and `AGENT 2` match `客服` and `agent`."""
    key = label.strip().casefold()
    for _ in range(2):
        key = _LABEL_SUFFIX.sub("", key).strip()
    return key


def is_diarised(label: str) -> bool:
    """Labels a diarisation engine writes (`SPEAKER_00`, `Speaker 1`, `说话人1`): no role."""
    return _DIARISED.fullmatch(label.strip().strip("[]【】")) is not None


def is_name(label: str) -> bool:
    """Could this label be a person's name? Starts with a letter; at most six Chinese
    characters (张三, 王女士) or four words, so a sentence ending in a colon is not one."""
    if _NAME.fullmatch(label) is None:
        return False
    if any("\u3400" <= ch <= "\u9fff" for ch in label):
        return len(label) <= 6
    return len(label.split()) <= 4


def labels_from_mapping(mapping: SourceMapping, name: str) -> frozenset[str]:
    return frozenset(label_key(v) for v in mapping.labels.get(name, ()))
