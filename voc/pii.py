"""Personal-data redaction: customers' emails, phone numbers, Chinese resident ID numbers and
bank cards (plus patterns from settings) become "[KIND]" before a record is stored, so they
never reach the database.

Why rules and checksums rather than a model: support text is full of long numbers that are
not personal (order, tracking and transaction numbers, amounts, dates, versions, codes), and
a wrong redaction destroys exactly the text analysts read. ID numbers and bank cards carry
check digits (GB 11643, Luhn), so they are redacted only when the checksum holds; phone
numbers have no checksum, so they are matched by their real shapes only (Chinese mobiles and
landlines, 400/800 lines, North American numbers, `+` international numbers, UK mobiles).

Boundaries: a match never starts or ends next to an ASCII letter, digit or underscore, nor in
the middle of a dash- or dot-joined token (`ORD-20240305-8841`, `192.168.1.10`), nor right
after a currency sign (`¥13812345678`), so digits inside longer identifiers are left alone.
Python's `\\b` is not used because CJK characters count as word characters, which would hide
`邮箱是zhang@example.com谢谢`. Full-width digits and punctuation (`１３８`, `（021）`) are folded
one-to-one before matching, so offsets keep pointing into the original text. Custom patterns
see the original text, exactly as the user wrote them.

Precedence where candidates overlap, highest first; within a rank the longer candidate wins,
then the earlier one:
  1. EMAIL: the address is the whole item, even when its local part is a phone number
     (`13812345678@163.com`).
  2. ID_NUMBER and BANK_CARD: checksum-validated, so they win over PHONE. An 18-digit number
     with an ID's region code and birth date is never a card, whatever its check digit (a
     mistyped ID; Gansu's region code 62 is also UnionPay's prefix). When a 15-digit number
     is both an old ID and a valid card, the nearest word before it (身份证/ID vs 卡/card)
     decides, and ID_NUMBER otherwise.
  3. PHONE.
  4. Custom patterns from settings, which fill the gaps the built-ins leave.

Deliberate choices, each a trade of recall against destroying useful text:
- One-time codes (`验证码 482913`) are not redacted: they expire within minutes and identify
  no one, while "the code expired" is itself feedback worth reading.
- Masked numbers (`138****5678`, `6222 **** **** 1234`, `尾号1234`) are already safe.
- A checksum-valid number directly labelled as another identifier (`订单号`, `运单号`,
  `发票代码`, `order number`, `IMEI`, `transaction`, a courier name) is that identifier.
- Old 15-digit ID numbers have no check digit, so they need an ID word (身份证, 证件, ID, ...)
  shortly before them besides a valid region code and birth date.
- 13-digit numbers are EAN product barcodes far more often than (long obsolete) 13-digit
  Visa cards, so they are cards only after a card word (卡, card, ...).
- Unseparated landlines (`02164123456`), 400/800 numbers and ten bare digits (North American)
  look like invoice codes and member numbers, so they need a phone word (电话, call, ...)
  nearby; written with separators (`021-64123456`, `415-555-0132`) they need nothing.
- Space-separated digit groups continuing on either side of a phone shape are a slice of a
  longer number (`9400 0922 7970 7921 6282`); distinct numbers are not run together so.
- Tax ids, passport numbers, QQ numbers, addresses and internationalised email domains are
  not detected; add custom patterns where they matter.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from voc.errors import ConfigError

EMAIL = "EMAIL"
PHONE = "PHONE"
ID_NUMBER = "ID_NUMBER"
BANK_CARD = "BANK_CARD"
BUILTIN_KINDS: tuple[str, ...] = (EMAIL, PHONE, ID_NUMBER, BANK_CARD)

_RANK = {EMAIL: 0, ID_NUMBER: 1, BANK_CARD: 1, PHONE: 2}
_CUSTOM_RANK = 3


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data: `text[start:end]` of the original text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redacted:
    """Redacted text plus what was replaced, so spans into the original can be moved."""

    text: str
    matches: tuple[PiiMatch, ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _shifts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """_shifts[i]: how far text after matches[:i] moved; one longer than matches."""

    def __post_init__(self) -> None:
        shifts, shift, previous_end = [0], 0, 0
        for m in self.matches:
            if m.start < previous_end or m.end <= m.start:
                raise ValueError(f"matches must be sorted, non-empty and disjoint: {m}")
            shift += len(m.kind) + 2 - (m.end - m.start)
            shifts.append(shift)
            previous_end = m.end
        object.__setattr__(self, "_starts", tuple(m.start for m in self.matches))
        object.__setattr__(self, "_shifts", tuple(shifts))

    def map_offset(self, pos: int) -> int:
        """Offset in the original text -> offset in the redacted text.

        A position inside a match maps to the start of its "[KIND]", a position at a match's
        end to the end of it, so a span that covered the item still covers its replacement.
        """
        original_length = len(self.text) - self._shifts[-1]
        if not 0 <= pos <= original_length:
            raise ValueError(f"offset {pos} is outside the original text (0..{original_length})")
        i = bisect_right(self._starts, pos) - 1
        if i < 0:
            return pos
        m = self.matches[i]
        if pos < m.end:
            return m.start + self._shifts[i]
        return pos + self._shifts[i + 1]

    def counts(self) -> dict[str, int]:
        """Matches per kind, e.g. {"PHONE": 2, "EMAIL": 1}."""
        return dict(Counter(m.kind for m in self.matches))


# ---------------------------------------------------------------------------------------------
# Patterns. They run on the folded text (full-width forms -> ASCII, same length).

_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xA0: 0x20}
_HAS_DIGIT = re.compile(r"[0-9]")

# Not next to a letter, digit, underscore or currency sign, nor inside `ABC-123` or `1.5`.
_LEFT = r"(?<![0-9A-Za-z_$¥￥€£])(?<![0-9A-Za-z_][-_/])(?<![0-9]\.)"
_RIGHT = r"(?![0-9A-Za-z_])(?![-_/][0-9A-Za-z])(?!\.[0-9])"
_EXT = r"(?:\ ?(?:转|分机|(?i:ext\.?|x))\ ?[0-9]{1,6})"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-][A-Za-z0-9._%+\-]*+"
    r"@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)

_CN_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_PHONE_SHAPES: tuple[tuple[str, str, str], ...] = (
    # (name, number, extension), most specific first: the first shape that fits at a position
    # is taken, and the later ones are tried there only if it is rejected (see _phones).
    ("cn_mobile", r"(?:(?:\+|00)86[\ -]?|\(\+?86\)\ ?|86-)?1[3-9][0-9](?:[\ -]?[0-9]{4}){2}", ""),
    (
        "cn_landline",
        rf"(?:(?:(?:\+|00)86[\ -]?|86-){_CN_AREA}[\ -]?|\(0{_CN_AREA}\)\ ?|0{_CN_AREA}[\ -]?)"
        r"[1-9][0-9]{2,3}\ ?[0-9]{4}",
        rf"(?:{_EXT}|-[0-9]{{1,5}})?",
    ),
    ("intl", r"\+[1-9][0-9]*+(?:[\ .-]?(?:\([0-9]{1,4}\)|[0-9]++))*+", _EXT + "?"),
    (
        "nanp",
        r"(?:1[\ .-]?)?(?:\([2-9][0-9]{2}\)\ ?|[2-9][0-9]{2}[\ .-])[2-9][0-9]{2}[\ .-][0-9]{4}",
        _EXT + "?",
    ),
    ("cn_service", r"[48]00[\ -]?[0-9]{3}[\ -]?[0-9]{4}", ""),
    ("uk_mobile", r"07[1-9][0-9]{2}\ ?[0-9]{6}", ""),
    ("nanp_bare", r"[2-9][0-9]{2}[2-9][0-9]{6}", ""),
)
_PHONE = re.compile(
    _LEFT
    + "(?:"
    + "|".join(f"(?P<{name}>{number}){ext}" for name, number, ext in _PHONE_SHAPES)
    + ")"
    + _RIGHT
)
_SHAPE_FALLBACKS: dict[str, tuple[re.Pattern[str], ...]] = {
    name: tuple(
        re.compile(_LEFT + f"(?P<{later}>{number}){ext}" + _RIGHT)
        for later, number, ext in _PHONE_SHAPES[i + 1 :]
    )
    for i, (name, _, _) in enumerate(_PHONE_SHAPES)
}
_BARE_NEEDS_HINT = frozenset({"cn_landline", "cn_service", "nanp_bare"})
_SEPARATED = re.compile(r"[^0-9]")
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000\xa0]")

# Runs of digit groups joined by single spaces or dashes, for ID numbers and bank cards; the
# checks on the characters around a run are done in code (see _long_numbers).
_NUMBER_RUN = re.compile(r"[0-9]+(?:[\ -][0-9]+)*[Xx]?")
_ASCII_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")

_PHONE_HINT = re.compile(
    r"(?i:(?<![a-z])(?:call|phone|cell|mobile|text|tel|reach|contact|number|whatsapp|sms"
    r"|hotline|fax|dial)(?![a-z]))|电话|手机|联系|致电|热线|座机|拨打|回电|来电|打给"
)
_CARD_HINT = re.compile(r"卡|银联|(?i:(?<![a-z])(?:card|visa|debit|credit)(?![a-z]))")
_ID_HINT = re.compile(r"身份证|证件|身份|(?i:(?<![a-z])(?:id|identity|resident|national)(?![a-z]))")
_KIND_HINT = re.compile(
    r"(?P<id>身份证|证件|(?i:(?<![a-z])(?:id\ card|identity\ card|id|identity|resident)"
    r"(?![a-z])))|(?P<card>卡|银联|(?i:(?<![a-z])(?:card|visa|mastercard|amex|debit|credit)"
    r"(?![a-z])))"
)
_OTHER_LABEL = re.compile(
    r"(?:订单|运单|快递|物流|包裹|流水|交易|退款|工单|发票|保单|串号|序列|顺丰|中通|圆通|韵达|申通|极兔"
    r"|(?i:(?<![a-z])(?:order|tracking|parcel|shipment|transaction|txn|refund|invoice|ticket"
    r"|reference|ref|serial|policy|imei|meid|ems|ups|fedex|dhl|usps|sku|ean|upc)))"
    r"\s*(?:编号|单号|号码|代码|号|(?i:id|no\.?|number|num|code)|\#)?\s*(?:(?i:is)|是|为|[:：#])?\s*\Z"
)
_HINT_WINDOW = 24
_LABEL_WINDOW = 40

_PROVINCES = frozenset(
    ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37")
    + ("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64")
    + ("65", "71", "81", "82", "83")
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_CUSTOM_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def _birth_date_ok(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return year >= 1900 and born <= date.today()


def valid_id_number(number: str) -> bool:
    """An 18-character GB 11643 number (check digit, region, birth date) or a 15-digit old one
    (region and birth date only: it has no check digit)."""
    if len(number) == 18:
        body, check = number[:17], number[17].upper()
        if not (body.isascii() and body.isdigit()) or number[:2] not in _PROVINCES:
            return False
        total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
        return _ID_CHECK[total % 11] == check and _birth_date_ok(
            int(number[6:10]), int(number[10:12]), int(number[12:14])
        )
    if len(number) == 15 and number.isascii() and number.isdigit():
        return number[:2] in _PROVINCES and _birth_date_ok(
            1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])
        )
    return False


def _id_shaped(number: str) -> bool:
    """Region code and birth date of an 18-digit ID number, whatever its check digit: such a
    number is a mistyped ID (Gansu's region code 62 is also UnionPay's prefix), not a card."""
    return (
        number[:2] in _PROVINCES
        and number[6:14].isdigit()
        and _birth_date_ok(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    )


def valid_bank_card(number: str) -> bool:
    """13-19 digits, a card network's leading digits (Amex, JCB, Diners 3; Visa 4; Mastercard
    51-55 and 2221-2720; Maestro, UnionPay, Discover 5/6) and a valid Luhn check digit."""
    if not (13 <= len(number) <= 19 and number.isascii() and number.isdigit()):
        return False
    if number[0] not in "3456" and not 2221 <= int(number[:4]) <= 2720:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class _Candidate:
    rank: int
    start: int
    end: int
    kind: str


class Redactor:
    """Finds and replaces personal data; built once and reused for every record."""

    def __init__(self, extra_patterns: Mapping[str, str] | None = None) -> None:
        self._custom: list[tuple[str, re.Pattern[str]]] = [
            (name, _compile_custom(name, pattern))
            for name, pattern in (extra_patterns or {}).items()
        ]

    def find(self, text: str) -> list[PiiMatch]:
        """Every piece of personal data in `text`, sorted by position, none overlapping."""
        folded = text.translate(_FOLD) if _FULL_WIDTH.search(text) else text
        candidates: list[_Candidate] = []
        if "@" in folded:
            candidates.extend(
                _Candidate(_RANK[EMAIL], m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(folded)
            )
        if _HAS_DIGIT.search(folded):
            candidates.extend(_long_numbers(folded))
            candidates.extend(_phones(folded))
        for name, pattern in self._custom:
            candidates.extend(
                _Candidate(_CUSTOM_RANK, m.start(), m.end(), name)
                for m in pattern.finditer(text)
                if m.end() > m.start()
            )
        return _resolve(candidates)

    def redact(self, text: str) -> Redacted:
        """`text` with each match replaced by "[KIND]"."""
        matches = self.find(text)
        if not matches:
            return Redacted(text, ())
        parts, pos = [], 0
        for m in matches:
            parts.append(text[pos : m.start])
            parts.append(f"[{m.kind}]")
            pos = m.end
        parts.append(text[pos:])
        return Redacted("".join(parts), tuple(matches))


def _compile_custom(name: str, pattern: str) -> re.Pattern[str]:
    where = f"pii_patterns[{name!r}]"
    if not isinstance(name, str) or not _CUSTOM_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: pattern names must be UPPER_SNAKE_CASE (letters, digits, underscores, "
            f"starting with a letter), e.g. ORDER_REF; they become the '[NAME]' replacement.",
            name=name,
        )
    if name in BUILTIN_KINDS:
        raise ConfigError(
            f"{where}: {name} is a built-in kind; choose another name, e.g. {name}_EXTRA.",
            name=name,
        )
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: the pattern must be a string, got {pattern!r}.", name=name)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"{where} is not a valid regular expression: {exc} (pattern {pattern!r}).",
            name=name,
            pattern=pattern,
        ) from exc
    if compiled.fullmatch(""):
        raise ConfigError(
            f"{where} matches empty text, which would redact nothing useful; "
            f"make it require at least one character (pattern {pattern!r}).",
            name=name,
            pattern=pattern,
        )
    return compiled


def _phones(folded: str) -> Iterator[_Candidate]:
    """Phone shapes, one scan for all of them; a rejected match gives the later shapes a try
    at the same position (a bare `07712345678` with no phone word nearby is rejected as a
    Nanning landline, then accepted as a UK mobile)."""
    for m in _PHONE.finditer(folded):
        shape = m.lastgroup or ""
        if _phone_ok(folded, m, shape):
            yield _Candidate(_RANK[PHONE], m.start(), m.end(), PHONE)
            continue
        for pattern in _SHAPE_FALLBACKS[shape]:
            retry = pattern.match(folded, m.start())
            if retry is not None and _phone_ok(folded, retry, retry.lastgroup or ""):
                yield _Candidate(_RANK[PHONE], retry.start(), retry.end(), PHONE)
                break


def _phone_ok(folded: str, m: re.Match[str], shape: str) -> bool:
    """Unseparated landline and 400/800 numbers look like invoice codes and member numbers,
    and ten bare digits like anything, so those need a phone word nearby."""
    start, end = m.span()
    if shape == "intl" and not _plausible_international(m.group("intl")):
        return False
    bare = shape in _BARE_NEEDS_HINT and not _SEPARATED.search(folded, start, end)
    if bare and not _hint_near(_PHONE_HINT, folded, start, end):
        return False
    return not (_labelled_as_other(folded, start) or _inside_digit_groups(folded, start, end))


def _inside_digit_groups(text: str, start: int, end: int) -> bool:
    """A space-grouped candidate with more digit groups on either side (`9400 0922 7970 7921
    6282`) is a slice of a longer number; people separate distinct numbers with more than a
    space, or write each one unspaced (`13812345678 13998765432` stays two phones)."""
    if " " not in text[start:end]:
        return False
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return (len(before) == 2 and before[0].isdigit() and before[1] == " ") or (
        len(after) == 2 and after[0] == " " and after[1].isdigit()
    )


def _plausible_international(number: str) -> bool:
    """E.164 allows at most 15 digits; +1 and +86 numbers have fixed lengths, which keeps
    things like `+15 20 30 40` out."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits.startswith("1"):
        return len(digits) == 11
    if digits.startswith("86"):
        return 12 <= len(digits) <= 13
    return 8 <= len(digits) <= 15


def _long_numbers(folded: str) -> Iterator[_Candidate]:
    """ID numbers and bank cards inside runs of digit groups.

    A run touching a letter, a digit-dot or a `ABC-` prefix is part of a longer identifier and
    yields nothing. Otherwise the whole run, or a part of it at either end cut at spaces
    (`6222 0212 3456 7890 2024-03-05`), may be the number.
    """
    for run in _NUMBER_RUN.finditer(folded):
        start, end = run.span()
        if end - start < 13 or _touches_token(folded, start, end):
            continue
        segments = _split_segments(run.group(), start)
        for i, j in _windows(segments):
            w_start, w_end = segments[i][0], segments[j][1]
            groups = [g for _, _, text in segments[i : j + 1] for g in text.split("-")]
            number = "".join(groups)
            if len(number) < 13 or (len(groups) > 1 and any(len(g) < 3 for g in groups)):
                continue
            kind = _classify(folded, w_start, number)
            if kind is not None and not _labelled_as_other(folded, w_start):
                yield _Candidate(_RANK[kind], w_start, w_end, kind)


def _split_segments(run: str, offset: int) -> list[tuple[int, int, str]]:
    """Space-separated parts of a run as (start, end, text); dash-joined groups stay whole."""
    segments, pos = [], 0
    for part in run.split(" "):
        segments.append((offset + pos, offset + pos + len(part), part))
        pos += len(part) + 1
    return segments


def _windows(segments: list[tuple[int, int, str]]) -> Iterator[tuple[int, int]]:
    """(first, last) segment indices of the parts of a run that may be one number: each
    unspaced segment, and prefixes and suffixes of at most 19 digits, the longest a card can
    be. Spaced groups in the middle of a run are a slice of something longer."""
    last = len(segments) - 1
    for i in range(1, last):
        yield i, i
    length = 0
    for j in range(last + 1):
        length += len(segments[j][2]) - segments[j][2].count("-")
        if length > 19:
            break
        yield 0, j
    length = 0
    for i in range(last, 0, -1):
        length += len(segments[i][2]) - segments[i][2].count("-")
        if length > 19:
            break
        yield i, last


def _classify(folded: str, start: int, number: str) -> str | None:
    is_id = valid_id_number(number) and (len(number) == 18 or _hint_before(_ID_HINT, folded, start))
    is_card = valid_bank_card(number) and not (len(number) == 18 and _id_shaped(number))
    if is_card and len(number) == 13:
        is_card = _hint_before(_CARD_HINT, folded, start)
    if is_id and is_card:
        hint = None
        for m in _KIND_HINT.finditer(folded, max(0, start - _HINT_WINDOW), start):
            hint = m.lastgroup
        return BANK_CARD if hint == "card" else ID_NUMBER
    if is_id:
        return ID_NUMBER
    if is_card:
        return BANK_CARD
    return None


def _touches_token(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else ""
    if before in _ASCII_WORD:
        return True
    if before in "-_/" and start >= 2 and text[start - 2] in _ASCII_WORD:
        return True
    if before == "." and start >= 2 and text[start - 2].isdigit():
        return True
    after = text[end] if end < len(text) else ""
    if after in _ASCII_WORD:
        return True
    following = text[end + 1] if end + 1 < len(text) else ""
    if after in "-_/" and following in _ASCII_WORD:
        return True
    return after == "." and following.isdigit()


def _hint_before(hint: re.Pattern[str], text: str, start: int) -> bool:
    return hint.search(text, max(0, start - _HINT_WINDOW), start) is not None


def _hint_near(hint: re.Pattern[str], text: str, start: int, end: int) -> bool:
    return _hint_before(hint, text, start) or hint.search(text, end, end + _HINT_WINDOW) is not None


def _labelled_as_other(text: str, start: int) -> bool:
    return _OTHER_LABEL.search(text, max(0, start - _LABEL_WINDOW), start) is not None


def _resolve(candidates: list[_Candidate]) -> list[PiiMatch]:
    """Keep the best candidates that do not overlap: by rank, then longest, then earliest."""
    candidates.sort(key=lambda c: (c.rank, c.start - c.end, c.start))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[_Candidate] = []
    for c in candidates:
        i = bisect_right(starts, c.start)
        if i and ends[i - 1] > c.start:
            continue
        if i < len(starts) and starts[i] < c.end:
            continue
        starts.insert(i, c.start)
        ends.insert(i, c.end)
        kept.insert(i, c)
    return [PiiMatch(c.kind, c.start, c.end) for c in kept]
