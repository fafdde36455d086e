"""User interviews from Markdown or TXT, one interview per file.

The participant's answers are the feedback; the interviewer's questions are context. Who is the
interviewer comes from a generic label (`Q:`, `访谈者：`), from front matter, or, for named
speakers, from who asks the questions.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, ClassVar

from voc.ingest.base import (
    SourceMapping,
    clean_text,
    excerpt,
    find_key,
    id_value,
    is_name,
    label_key,
    labels_from_mapping,
    match_label,
    nul_warning,
    open_file,
    read_date,
    read_front_matter,
    scalar_value,
    split_lines,
)
from voc.types import Location, RecordDraft, Reject, Role, Turn

FORMATS = {".md": "md", ".markdown": "md", ".txt": "txt", ".text": "txt"}

INTERVIEWER_LABELS = frozenset(
    {"q", "问", "访谈者", "采访者", "访问者", "主持人", "interviewer", "moderator", "researcher"}
    | {"facilitator"}
)
PARTICIPANT_LABELS = frozenset(
    {"a", "答", "受访者", "被访者", "参与者", "用户", "participant", "respondent", "interviewee"}
    | {"user", "customer", "客户"}
)

_HEADING = re.compile(r" {0,3}#{1,6}(?:\s|$)")
_RULE = re.compile(r"\s*(?:-{3,}|\*{3,}|_{3,})\s*")
# A line that is only an aside, e.g. "*(laughs)*", "[pause]", "（笑）": not part of an answer.
_NOTE = re.compile(r"\s*(?:\*+[^*]+\*+|_[^_]+_|\[[^\]]*\]|\([^)]*\)|（[^）]*）)\s*")
_QUESTION = re.compile(r"[?？]|[吗呢么][。.!！]?\s*$")


class InterviewAdapter:
    """Reads one interview per Markdown or TXT file."""

    source = "interview"
    fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "id": ("id",),
        "created_at": ("created_at", "date"),
        "interviewer": ("interviewer",),
        "participant": ("participant",),
    }
    label_fields: ClassVar[tuple[str, ...]] = ("interviewer_labels", "participant_labels")

    def __init__(self, mapping: SourceMapping | None = None, *, default_tz: tzinfo = UTC) -> None:
        self.mapping = mapping or SourceMapping()
        self.default_tz = default_tz
        self.interviewer_keys = INTERVIEWER_LABELS | labels_from_mapping(
            self.mapping, "interviewer_labels"
        )
        self.participant_keys = PARTICIPANT_LABELS | labels_from_mapping(
            self.mapping, "participant_labels"
        )
        self._keys = {f: self.mapping.columns.get(f, keys) for f, keys in self.fields.items()}

    def read(self, path: Path) -> Iterator[RecordDraft | Reject]:
        opened = open_file(path, FORMATS)
        if isinstance(opened, Reject):
            yield opened
            return
        fmt, decoded = opened
        item = self._read(decoded.text, path)
        if isinstance(item, RecordDraft):
            item.warnings.extend(decoded.notes_for(None))
        yield item

    def _read(self, raw_text: str, path: Path) -> RecordDraft | Reject:
        location = Location(str(path), None)
        lines = split_lines(raw_text)
        front = read_front_matter(lines)
        warns = list(front.warnings)
        body, nuls = clean_text("\n".join(lines[front.body_start :]))
        if nuls:
            warns.append(nul_warning(nuls, "the interview"))
        text = body.strip("\n")
        if not text.strip():
            return Reject(
                location,
                "empty_text",
                f"{path.name} has no interview text after its front matter; add the transcript "
                "or remove the file.",
                excerpt(raw_text),
            )
        fields = dict(front.fields)
        picked: dict[str, Any] = {}
        for name, keys in self._keys.items():
            key = find_key(fields, keys)
            if key is not None:
                picked[name] = fields.pop(key)
        named = _named_roles(picked)
        spans = self._spans(text, named)
        if not spans:
            warns.append(
                "no speaker labels were found, so all text outside headings is read as the "
                "participant's"
            )
            spans = _unlabelled_spans(text)
        roles, guessed = self._roles(text, spans, named)
        turns = [Turn(start, end, roles[label], label) for start, end, label in spans]
        metadata: dict[str, Any] = {}
        for key in ("interviewer", "participant"):
            if picked.get(key):
                metadata[key] = picked[key]
        for name, key in self.mapping.metadata.items():
            found = find_key(fields, (key,))
            if found is not None:
                fields[name] = fields.pop(found)
        for key, value in fields.items():
            value = scalar_value(value)
            if value is not None:
                metadata[key] = value
        if guessed:
            metadata["speaker_roles"] = guessed
        if not any(t.role == "customer" for t in turns):
            warns.append("the interview has no participant turns, so nothing will be analysed")
        return RecordDraft(
            source="interview",
            text=text,
            turns=turns,
            location=location,
            external_id=id_value(picked.get("id"), warns) or path.stem,
            created_at=read_date(picked.get("created_at"), "created_at", self.default_tz, warns),
            metadata=metadata,
            warnings=warns,
        )

    def _is_speaker(
        self, label: str, bold: bool, counts: Counter[str], named: dict[str, Role]
    ) -> bool:
        key = label_key(label)
        if key in self.interviewer_keys or key in self.participant_keys or key in named:
            return True
        return is_name(label) and (bold or counts[label] >= 2)

    def _spans(self, text: str, named: dict[str, Role]) -> list[tuple[int, int, str]]:
        """(start, end, speaker label) of each turn. Unlabelled lines continue the current
        turn; a heading or rule ends it; an aside line splits it around itself."""
        lines = text.split("\n")
        matches = [match_label(line) for line in lines]
        counts = Counter(m.label for m in matches if m is not None)
        spans: list[list[Any]] = []
        speaker: str | None = None
        open_span = False
        offset = 0
        for line, match in zip(lines, matches, strict=True):
            line_start, offset = offset, offset + len(line) + 1
            end = line_start + len(line.rstrip())
            if match is not None and self._is_speaker(match.label, match.bold, counts, named):
                speaker = match.label
                start = min(line_start + match.text_start, end)
                spans.append([start, end, speaker])
                open_span = True
            elif _HEADING.match(line) or _RULE.fullmatch(line):
                speaker, open_span = None, False
            elif not line.strip():
                continue
            elif _NOTE.fullmatch(line):
                open_span = False
            elif speaker is not None and open_span:
                spans[-1][1] = end
            elif speaker is not None:
                spans.append([line_start + len(line) - len(line.lstrip()), end, speaker])
                open_span = True
        return [(start, end, label) for start, end, label in spans if end > start]

    def _roles(
        self, text: str, spans: list[tuple[int, int, str]], named: dict[str, Role]
    ) -> tuple[dict[str, Role], dict[str, Role]]:
        """Roles per label and the guessed subset. Without a known interviewer, the speaker
        whose turns are most often questions asks them; with one speaker, it is the participant."""
        roles: dict[str, Role] = {}
        unknown: list[str] = []
        for _, _, label in spans:
            if label in roles or label in unknown:
                continue
            key = label_key(label)
            if key in named:
                roles[label] = named[key]
            elif key in self.interviewer_keys:
                roles[label] = "interviewer"
            elif key in self.participant_keys or label == "":
                roles[label] = "customer"
            else:
                unknown.append(label)
        if not unknown:
            return roles, {}
        interviewer: str | None = None
        if "interviewer" not in roles.values() and len(roles) + len(unknown) > 1:
            asked: Counter[str] = Counter()
            spoke: Counter[str] = Counter()
            for start, end, label in spans:
                spoke[label] += 1
                asked[label] += bool(_QUESTION.search(text[start:end]))
            interviewer = max(unknown, key=lambda s: (asked[s] / spoke[s], -unknown.index(s)))
        guessed: dict[str, Role] = {
            s: "interviewer" if s == interviewer else "customer" for s in unknown
        }
        return {**roles, **guessed}, guessed


_FRONT_MATTER_ROLES: tuple[tuple[str, Role], ...] = (
    ("interviewer", "interviewer"),
    ("participant", "customer"),
)


def _named_roles(picked: dict[str, Any]) -> dict[str, Role]:
    """Label keys of the people front matter names (`interviewer: 李明, 王芳`) and their roles."""
    named: dict[str, Role] = {}
    for name, role in _FRONT_MATTER_ROLES:
        for person in str(picked.get(name) or "").split(","):
            if person.strip():
                named[label_key(person)] = role
    return named


def _unlabelled_spans(text: str) -> list[tuple[int, int, str]]:
    """Paragraph runs outside headings and rules, for an interview written without labels."""
    spans: list[list[Any]] = []
    offset = 0
    open_span = False
    for line in text.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        if _HEADING.match(line) or _RULE.fullmatch(line):
            open_span = False
            continue
        if not line.strip():
            continue
        end = line_start + len(line.rstrip())
        if open_span:
            spans[-1][1] = end
        else:
            spans.append([line_start + len(line) - len(line.lstrip()), end, ""])
            open_span = True
    return [(start, end, label) for start, end, label in spans]
