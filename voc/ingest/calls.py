"""Call notes and transcripts: TXT with speaker labels, WebVTT, SRT, and JSON/JSONL turn lists.

Only the customer's turns are analysed, so the hard part is knowing who is who. Known labels
(`客服`, `Customer`, ...) decide directly; diarisation tags and bare names are resolved per call:
the speaker who greets like an agent, or failing that who speaks first, is the agent.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, ClassVar

from voc.ingest.base import (
    DecodedText,
    FieldTypeError,
    JsonItem,
    SourceMapping,
    TextBuilder,
    clean_text,
    describe_type,
    excerpt,
    find_key,
    id_value,
    is_diarised,
    is_name,
    iter_json,
    iter_jsonl,
    label_key,
    labels_from_mapping,
    list_names,
    match_label,
    no_items,
    nul_warning,
    open_file,
    parse_datetime,
    read_date,
    read_front_matter,
    scalar_value,
    split_lines,
    text_value,
)
from voc.types import Location, RecordDraft, Reject, Role, Turn

FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".vtt": "vtt",
    ".srt": "srt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

AGENT_LABELS = frozenset(
    {"客服", "坐席", "座席", "客服人员", "工作人员", "agent", "rep", "representative", "support"}
    | {"operator", "csr", "a"}
)
CUSTOMER_LABELS = frozenset(
    {"客户", "用户", "顾客", "来电人", "customer", "caller", "client", "user", "c"}
)

_GREETING = re.compile(
    r"很高兴为您服务|竭诚为您服务|有什么可以帮[您你]|工号|"
    r"thank(?:s| you) for calling|how (?:can|may) I (?:help|assist)",
    re.IGNORECASE,
)
_CUE_TIME = re.compile(
    r"\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_BROKEN_TIME = re.compile(r"\s*[\d:.,]+\s*-->|\s*-->\s*[\d:.,]+\s*$")
_VOICE = re.compile(r"\s*<v(?:\.[^\s>]+)*(?:\s+(?P<name>[^>]*))?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_BRACKET_SPEAKER = re.compile(r"\s*[\[【](?P<label>[^\]】]{1,32})[\]】]\s*")
_CJK_EDGE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_GREETING_TURNS = 6


@dataclass(slots=True)
class _CueLine:
    """One text line of a cue, with the speaker it names by voice tag or by a label prefix
    (`candidate`, `rest` is the text after it), before knowing which prefixes are speakers."""

    speaker: str | None
    text: str
    candidate: str | None
    rest: str
    start: float
    end: float


_Parsed = tuple[str, list[Turn], dict[str, Role], list[list[float]]]
"""Record text, turns, guessed speaker roles, and per-turn [start, end] cue times."""


@dataclass(slots=True)
class _Segment:
    """One stretch of speech before turns are formed: a TXT line, a cue line, a JSON turn."""

    speaker: str | None
    text: str
    start: float | None = None
    end: float | None = None
    role: Role | None = None


class CallAdapter:
    """Reads one call per TXT/VTT/SRT file, or many per JSON/JSONL file."""

    source = "call"
    fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "id": ("id",),
        "created_at": ("created_at", "date"),
        "turns": ("turns",),
    }
    label_fields: ClassVar[tuple[str, ...]] = ("agent_labels", "customer_labels")

    def __init__(self, mapping: SourceMapping | None = None, *, default_tz: tzinfo = UTC) -> None:
        self.mapping = mapping or SourceMapping()
        self.default_tz = default_tz
        self.agent_keys = AGENT_LABELS | labels_from_mapping(self.mapping, "agent_labels")
        self.customer_keys = CUSTOMER_LABELS | labels_from_mapping(self.mapping, "customer_labels")
        self._keys = {f: self.mapping.columns.get(f, keys) for f, keys in self.fields.items()}

    def read(self, path: Path) -> Iterator[RecordDraft | Reject]:
        opened = open_file(path, FORMATS)
        if isinstance(opened, Reject):
            yield opened
            return
        fmt, decoded = opened
        if fmt in ("json", "jsonl"):
            yield from self._read_json(decoded, path, fmt)
        else:
            item = self._read_file(decoded.text, path, fmt)
            if isinstance(item, RecordDraft):
                item.warnings.extend(decoded.notes_for(None))
            yield item

    # ----------------------------------------------------------------- speakers

    def _known_role(self, label: str) -> Role | None:
        key = label_key(label)
        if key in self.agent_keys:
            return "agent"
        if key in self.customer_keys:
            return "customer"
        return None

    def _accepted_labels(self, candidates: Sequence[str]) -> set[str]:
        """Which `Label:` prefixes are speakers: known labels, diarisation tags, and names that
        label at least two lines (a single `Note:` is text, not a speaker)."""
        counts = Counter(candidates)
        return {
            label
            for label, count in counts.items()
            if self._known_role(label) is not None
            or is_diarised(label)
            or (count >= 2 and is_name(label))
        }

    def _assign_roles(
        self, segments: Sequence[_Segment]
    ) -> tuple[dict[str, Role], dict[str, Role]]:
        """Roles per speaker label, and the subset that was guessed (kept in metadata so a
        wrong guess can be seen and fixed with a label mapping)."""
        roles: dict[str, Role] = {}
        unknown: list[str] = []
        for seg in segments:
            if seg.speaker is None or seg.speaker in roles or seg.speaker in unknown:
                continue
            role = seg.role or self._known_role(seg.speaker)
            if role is None:
                unknown.append(seg.speaker)
            else:
                roles[seg.speaker] = role
        if not unknown:
            return roles, {}
        agent: str | None = None
        if "agent" not in roles.values():
            greeters = (
                s.speaker
                for s in segments[:_GREETING_TURNS]
                if s.speaker in unknown and _GREETING.search(s.text)
            )
            agent = next(greeters, unknown[0])
        guessed: dict[str, Role] = {s: "agent" if s == agent else "customer" for s in unknown}
        return {**roles, **guessed}, guessed

    # ----------------------------------------------------------------- TXT, VTT, SRT

    def _read_file(self, text: str, path: Path, fmt: str) -> RecordDraft | Reject:
        location = Location(str(path), None)
        lines = split_lines(text)
        front = read_front_matter(lines)
        warns = list(front.warnings)
        body, nuls = clean_text("\n".join(lines[front.body_start :]))
        if nuls:
            warns.append(nul_warning(nuls, "the transcript"))
        if not body.strip():
            return Reject(
                location,
                "empty_text",
                f"{path.name} has no call text after its front matter; add the transcript or "
                "remove the file.",
                excerpt(text),
            )
        parsed = self._txt(body) if fmt == "txt" else self._subtitles(body, fmt, warns)
        if parsed is None:
            return Reject(
                location,
                "empty_text",
                f"{path.name} has no cue with text; check that it is a WebVTT or SRT transcript.",
                excerpt(text),
            )
        record_text, turns, guessed, times = parsed
        return self._draft(
            path, location, front.fields, record_text, turns, guessed, times, warns, path.stem
        )

    def _txt(self, body: str) -> _Parsed:
        text = body.strip("\n")
        lines = text.split("\n")
        matches = [match_label(line) for line in lines]
        accepted = self._accepted_labels([m.label for m in matches if m is not None])
        if not accepted:
            stripped = text.strip()
            start = text.index(stripped)
            return text, [Turn(start, start + len(stripped), "customer")], {}, []
        spans: list[list[Any]] = []
        offset = 0
        for line, match in zip(lines, matches, strict=True):
            end = offset + len(line.rstrip())
            if match is not None and match.label in accepted:
                spans.append([offset + min(match.text_start, len(line.rstrip())), end, match.label])
            elif spans and line.strip():
                spans[-1][1] = end
            offset += len(line) + 1
        segments = [_Segment(label, text[start:end]) for start, end, label in spans]
        roles, guessed = self._assign_roles(segments)
        turns = [
            Turn(start, end, roles[label], label) for start, end, label in spans if end > start
        ]
        return text, turns, guessed, []

    def _subtitles(self, body: str, fmt: str, warns: list[str]) -> _Parsed | None:
        """Turns from WebVTT or SRT cues; None when no cue has any text."""
        lines: list[_CueLine] = []
        for line, start, end in _read_cues(body.split("\n"), fmt, warns):
            voice = _VOICE.match(line)
            speaker = None
            if voice is not None:
                speaker = (voice.group("name") or "").strip() or None
                line = line[voice.end() :]
            cleaned = html.unescape(_TAG.sub("", line)).strip()
            if not cleaned:
                continue
            cue = _CueLine(speaker, cleaned, None, cleaned, start, end)
            if speaker is None:
                bracket = _BRACKET_SPEAKER.match(cleaned)
                label = match_label(cleaned)
                if bracket is not None:
                    cue.candidate = bracket.group("label").strip()
                    cue.rest = cleaned[bracket.end() :]
                elif label is not None:
                    cue.candidate, cue.rest = label.label, cleaned[label.text_start :]
            lines.append(cue)
        if not lines:
            return None
        accepted = self._accepted_labels([c.candidate for c in lines if c.candidate is not None])
        segments = [
            _Segment(c.candidate, c.rest, c.start, c.end)
            if c.speaker is None and c.candidate in accepted
            else _Segment(c.speaker, c.text, c.start, c.end)
            for c in lines
        ]
        if not any(seg.speaker for seg in segments):
            warns.append(
                "the transcript has no speaker tags, so all of it is read as customer text "
                "(a call note)"
            )
            text = "\n".join(seg.text for seg in segments)
            times = [[segments[0].start or 0.0, segments[-1].end or 0.0]]
            return text, [Turn(0, len(text), "customer")], {}, times
        merged = _merge(segments, warns)
        roles, guessed = self._assign_roles(merged)
        builder = TextBuilder("\n")
        turns: list[Turn] = []
        times = []
        for seg in merged:
            if seg.speaker is None:
                builder.add(seg.text)
                continue
            start = builder.add(f"{seg.speaker}: {seg.text}") + len(seg.speaker) + 2
            turns.append(Turn(start, start + len(seg.text), roles[seg.speaker], seg.speaker))
            times.append([seg.start or 0.0, seg.end or 0.0])
        return builder.build(), turns, guessed, times

    # ----------------------------------------------------------------- JSON

    def _read_json(
        self, decoded: DecodedText, path: Path, fmt: str
    ) -> Iterator[RecordDraft | Reject]:
        text = decoded.text
        items = iter_jsonl(text, path) if fmt == "jsonl" else iter_json(text, path, ("calls",))
        collected = list(items)
        calls = sum(isinstance(item, JsonItem) for item in collected)
        if not collected:
            yield no_items(path, "calls")
        number = 0
        for item in collected:
            if isinstance(item, Reject):
                yield item
                continue
            number += 1
            fallback_id = path.stem if calls == 1 else f"{path.stem}#{number}"
            call = self._json_call(item, path, fallback_id)
            if isinstance(call, RecordDraft):
                call.warnings.extend(decoded.notes_for(item.line, item.line + item.raw.count("\n")))
            yield call

    def _json_call(self, item: JsonItem, path: Path, fallback_id: str) -> RecordDraft | Reject:
        location = Location(str(path), item.line)
        obj = item.value
        where = f"{path.name} line {item.line}"
        if not isinstance(obj, dict):
            return Reject(
                location,
                "invalid_type",
                f"{where}: the item is {describe_type(obj)}, but each call must be a JSON object "
                'with a "turns" list.',
                excerpt(item.raw),
            )
        turns_key = find_key(obj, self._keys["turns"])
        if turns_key is None:
            return Reject(
                location,
                "missing_field",
                f"{where}: the call has no {self._keys['turns'][0]!r} key; keys found: "
                f"{list_names([str(k) for k in obj])}. Fix the mapping or the file.",
                excerpt(item.raw),
            )
        raw_turns = obj[turns_key]
        if not isinstance(raw_turns, list):
            return Reject(
                location,
                "invalid_type",
                f"{where}: {turns_key!r} is {describe_type(raw_turns)}, but it must be a list of "
                '{"speaker", "text"} objects.',
                excerpt(item.raw),
            )
        warns: list[str] = []
        segments: list[_Segment] = []
        try:
            for number, turn in enumerate(raw_turns, 1):
                previous = segments[-1].speaker if segments else None
                segment = self._json_turn(turn, number, previous, warns)
                if segment is not None:
                    segments.append(segment)
        except FieldTypeError as exc:
            return Reject(
                location,
                "invalid_type",
                f"{where}: {exc}; fix the value or map another field.",
                excerpt(item.raw),
            )
        if not segments:
            return Reject(
                location,
                "empty_text",
                f"{where}: the call has no turns with text; add them or remove the call.",
                excerpt(item.raw),
            )
        roles, guessed = self._assign_roles(segments)
        builder = TextBuilder("\n")
        turns: list[Turn] = []
        for seg in segments:
            speaker = seg.speaker or ""
            prefix = f"{speaker}: " if speaker else ""
            start = builder.add(prefix + seg.text) + len(prefix)
            turns.append(Turn(start, start + len(seg.text), roles[speaker], speaker))
        times = [[s.start, s.end] for s in segments if s.start is not None and s.end is not None]
        fields = {str(k): v for k, v in obj.items() if k != turns_key}
        return self._draft(
            path,
            location,
            fields,
            builder.build(),
            turns,
            guessed,
            times if len(times) == len(turns) else [],
            warns,
            fallback_id,
        )

    def _json_turn(
        self, turn: Any, number: int, previous: str | None, warns: list[str]
    ) -> _Segment | None:
        """A turn without speaker or role continues the previous speaker, as an unlabelled
        line does in a TXT transcript."""
        if not isinstance(turn, dict):
            raise FieldTypeError(f"turn {number} is {describe_type(turn)}, not an object")
        text = text_value(turn.get("text"), f"turn {number} text", warns).strip()
        if not text:
            return None
        speaker = str(scalar_value(turn.get("speaker")) or "")
        raw_role = str(scalar_value(turn.get("role")) or "")
        role: Role | None = None
        if raw_role:
            role = "system" if raw_role.casefold() == "system" else self._known_role(raw_role)
            if role is None:
                warns.append(
                    f"turn {number} has role {raw_role!r}, which is not an agent or customer "
                    "label; its speaker was guessed"
                )
        if not speaker:
            speaker = raw_role or previous or "unknown"
            if not raw_role and not previous:
                warns.append(f"turn {number} has neither speaker nor role; its role was guessed")
        start, end = turn.get("start"), turn.get("end")
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, end))
        return _Segment(
            speaker,
            text,
            float(start) if numeric else None,
            float(end) if numeric else None,
            role,
        )

    # ----------------------------------------------------------------- record

    def _draft(
        self,
        path: Path,
        location: Location,
        fields: dict[str, Any],
        text: str,
        turns: list[Turn],
        guessed: dict[str, Role],
        times: list[list[float]],
        warns: list[str],
        fallback_id: str,
    ) -> RecordDraft:
        fields = dict(fields)
        id_key = find_key(fields, self._keys["id"])
        external_id = id_value(fields.pop(id_key, None), warns) or fallback_id
        date_key = find_key(fields, self._keys["created_at"])
        created_at = read_date(fields.pop(date_key, None), "created_at", self.default_tz, warns)
        if date_key is None and fallback_id == path.stem:
            created_at = _date_in_name(path.stem, self.default_tz)
            if created_at is not None:
                fields["date_source"] = "file name"
        for name, key in self.mapping.metadata.items():
            found = find_key(fields, (key,))
            if found is not None:
                fields[name] = fields.pop(found)
        metadata: dict[str, Any] = {}
        for key, value in fields.items():
            value = scalar_value(value)
            if value is not None:
                metadata[key] = value
        if guessed:
            metadata["speaker_roles"] = guessed
        if times:
            metadata["turn_times"] = times
        if not any(t.role == "customer" for t in turns):
            warns.append("the call has no customer turns, so nothing in it will be analysed")
        return RecordDraft(
            source="call",
            text=text,
            turns=turns,
            location=location,
            external_id=external_id,
            created_at=created_at,
            metadata=metadata,
            warnings=warns,
        )


_NAME_DATE = re.compile(r"(?<!\d)(20\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")


def _date_in_name(stem: str, default_tz: tzinfo) -> datetime | None:
    """Recordings are often named by date (REC-20260818-02.vtt); use it when nothing else dates
    the call."""
    match = _NAME_DATE.search(stem)
    if match is None:
        return None
    try:
        return parse_datetime("-".join(match.groups()), default_tz)
    except ValueError:
        return None


def _read_cues(lines: list[str], fmt: str, warns: list[str]) -> list[tuple[str, float, float]]:
    """(text line, cue start, cue end) for every text line of every cue.

    A block without a timing line right after a cue is that cue's text broken by a stray blank
    line, so it is kept with the cue rather than dropped.
    """
    out: list[tuple[str, float, float]] = []
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*lines, ""], 1):
        if line.strip():
            block.append((number, line))
            continue
        if not block:
            continue
        first = block[0][1].strip()
        is_meta = first.startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))
        timing = next(
            ((i, m) for i, (_, ln) in enumerate(block[:2]) if (m := _CUE_TIME.match(ln))), None
        )
        broken = next((i for i, (_, ln) in enumerate(block[:2]) if _BROKEN_TIME.match(ln)), None)
        if timing is not None:
            index, match = timing
            start, end = _seconds(match.group("start")), _seconds(match.group("end"))
            out.extend((ln, start, end) for _, ln in block[index + 1 :])
        elif broken is not None:
            # A cut-off or mistyped timing line: its text is kept with the previous cue's
            # times rather than read as speech (or dropped with the cue).
            number, line = block[broken]
            text = block[broken + 1 :]
            kept = "its text was kept with the cue before it" if text else "it has no text"
            warns.append(
                f"line {number} of the {fmt.upper()} file is a broken cue timing "
                f"({line.strip()[:60]!r}, expected 'HH:MM:SS.mmm --> HH:MM:SS.mmm'); {kept}"
            )
            times = (out[-1][1], out[-1][2]) if out else (0.0, 0.0)
            out.extend((ln, *times) for _, ln in text)
        elif not is_meta and out:
            out.extend((ln, out[-1][1], out[-1][2]) for _, ln in block)
        elif not is_meta:
            warns.append(
                f"lines {block[0][0]}-{block[-1][0]} of the {fmt.upper()} file are not a cue "
                "(no 'start --> end' line) and were ignored"
            )
        block = []
    return out


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return round(value, 3)


def _merge(segments: list[_Segment], warns: list[str]) -> list[_Segment]:
    """Consecutive cues of one speaker form one turn; a cue without a speaker continues the
    previous one. Cues before the first speaker are kept as unattributed context."""
    merged: list[_Segment] = []
    orphans = 0
    for seg in segments:
        if not seg.text:
            continue
        speaker = seg.speaker
        if speaker is None and merged:
            speaker = merged[-1].speaker
        if speaker is None:
            orphans += 1
        if merged and merged[-1].speaker == speaker:
            last = merged[-1]
            last.text = _join(last.text, seg.text)
            last.end = seg.end
        else:
            merged.append(_Segment(speaker, seg.text, seg.start, seg.end))
    if orphans:
        lines = "1 cue line has" if orphans == 1 else f"{orphans} cue lines have"
        warns.append(f"{lines} no speaker before the first speaker tag; kept as context")
    return merged


def _join(left: str, right: str) -> str:
    """Chinese runs on without a space; other scripts get one."""
    if _CJK_EDGE.match(left[-1:]) or _CJK_EDGE.match(right[:1]):
        return left + right
    return f"{left} {right}"
