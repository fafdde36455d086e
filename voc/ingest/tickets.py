"""Help-desk tickets from CSV, JSON and JSONL exports.

A ticket's text is its subject, description and comment bodies joined by blank lines. Only what
the customer wrote becomes `customer` turns: quoted earlier mail and signatures inside it are
marked so they are never counted as the customer's words, and agent replies stay as context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, ClassVar

from voc.ingest.base import (
    FieldSpec,
    FieldTypeError,
    Row,
    SourceMapping,
    TextBuilder,
    describe_type,
    excerpt,
    id_value,
    read_date,
    read_table,
    scalar_value,
    text_value,
    type_reject,
)
from voc.types import RecordDraft, Reject, Role, Turn

FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}

CUSTOMER_ROLES = frozenset(
    {"customer", "end-user", "end_user", "enduser", "requester", "user", "客户", "用户", "顾客"}
)
AGENT_ROLES = frozenset({"agent", "admin", "staff", "support", "客服", "坐席", "座席"})
SYSTEM_ROLES = frozenset({"system", "系统"})

_TAG_SPLIT = re.compile(r"[,;|，；、]")

# Lines that start quoted earlier mail: everything from them to the end is quoted.
_QUOTE_HEADER = re.compile(
    r"\s*(?:On\s.+\bwrote:|-{2,}\s*Original Message\s*-{2,}|在.+写道[：:]"
    r"|-{2,}\s*原始邮件\s*-{2,})\s*",
    re.IGNORECASE,
)
# Lines that start a signature: everything from them up to a quote header is signature.
_SIGNATURE_START = re.compile(
    r"\s*(?:--|(?:best|kind|warm)\s+regards,?|regards,?|cheers,?|sent from my\s.+"
    r"|get outlook for\s.+|发自我的.+|此致|祝好[!！。]?|敬礼[!！。]?)\s*",
    re.IGNORECASE,
)
# Substrings without which no line can be a quote or signature marker: a cheap test that lets
# the common ticket skip line scanning (a regex over every ticket costs more than the rest).
_MARKERS = (">", "--", "wrote:", "original message", "写道", "原始邮件", "regards", "cheers")
_MARKERS += ("sent from", "get outlook", "发自", "此致", "祝好", "敬礼")


def customer_turns(text: str, offset: int, speaker: str = "") -> list[Turn]:
    """Turns for customer-written text placed at `offset` in the record.

    Lines starting with `>` and everything after a quote header are `quoted`; a signature runs
    from its first line to the next quote header. Each turn is trimmed of surrounding blank
    space, so `record.text[turn.start:turn.end]` is exactly the text it claims.
    """
    folded = text.lower()
    if not any(marker in folded for marker in _MARKERS):
        return [Turn(offset, offset + len(text), "customer", speaker)]
    spans: list[tuple[int, int, Role]] = []
    state: Role = "customer"
    pos = 0
    for line in text.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        stripped = line.strip()
        if not stripped:
            continue
        start = line_start + len(line) - len(line.lstrip())
        end = line_start + len(line.rstrip())
        role: Role
        if state == "quoted" or _QUOTE_HEADER.fullmatch(line):
            state = role = "quoted"
        elif stripped.startswith(">"):
            role = "quoted"
        elif state == "signature" or _SIGNATURE_START.fullmatch(line):
            state = role = "signature"
        else:
            role = "customer"
        if spans and spans[-1][2] == role:
            spans[-1] = (spans[-1][0], end, role)
        else:
            spans.append((start, end, role))
    return [Turn(offset + start, offset + end, role, speaker) for start, end, role in spans]


def normalise_tags(value: Any, warns: list[str]) -> list[str]:
    """Tags as a list of strings: JSON lists as given, strings split on , ; | (and the
    full-width forms), duplicates dropped in order."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = _TAG_SPLIT.split(value)
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        parts = [str(v) for v in value]
    else:
        warns.append(f"tags is {describe_type(value)}, not a list or text; the tags were ignored")
        return []
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


class TicketAdapter:
    """Reads help-desk exports; field names per docs/formats.md, renamed by a mapping."""

    source = "ticket"
    fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "id": ("id",),
        "subject": ("subject",),
        "description": ("description",),
        "comments": ("comments",),
        "status": ("status",),
        "tags": ("tags",),
        "customer_id": ("customer_id",),
        "product": ("product",),
        "channel": ("channel",),
        "priority": ("priority",),
        "created_at": ("created_at",),
    }
    label_fields: ClassVar[tuple[str, ...]] = ()
    _metadata_fields = ("status", "tags", "customer_id", "product", "channel", "priority")

    def __init__(self, mapping: SourceMapping | None = None, *, default_tz: tzinfo = UTC) -> None:
        self.mapping = mapping or SourceMapping()
        self.default_tz = default_tz
        self.spec = FieldSpec.build(
            "ticket", self.fields, self.mapping, required=("subject", "description")
        )

    def read(self, path: Path) -> Iterator[RecordDraft | Reject]:
        return read_table(path, FORMATS, self.spec, "tickets", self._build)

    def _build(self, row: Row, path: Path) -> RecordDraft | Reject:
        values, warns = row.values, row.warnings
        try:
            subject = text_value(values.get("subject"), "subject", warns).strip()
            description = text_value(values.get("description"), "description", warns).strip()
        except FieldTypeError as exc:
            return type_reject(row, path, exc)
        builder = TextBuilder("\n\n")
        turns: list[Turn] = []
        if subject:
            start = builder.add(subject)
            turns.append(Turn(start, start + len(subject), "customer"))
        if description:
            turns.extend(customer_turns(description, builder.add(description)))
        comments = values.get("comments")
        if comments is not None:
            for body, role, author in _comments(comments, warns):
                start = builder.add(body)
                if role == "customer":
                    turns.extend(customer_turns(body, start, author))
                else:
                    turns.append(Turn(start, start + len(body), role, author))
        text = builder.build()
        if not any(t.role == "customer" for t in turns):
            return Reject(
                row.location,
                "empty_text",
                f"{path.name} line {row.location.line}: the ticket has no customer text (no text "
                f"in {self.spec.wanted(('subject', 'description'))}); fill it in or remove the "
                "row.",
                excerpt(row.raw or text),
            )
        metadata: dict[str, Any] = {}
        for name in self._metadata_fields:
            if name == "tags":
                tags = normalise_tags(values.get("tags"), warns)
                if tags:
                    metadata["tags"] = tags
                continue
            value = scalar_value(values.get(name))
            if value is not None:
                metadata[name] = value
        for name in self.mapping.metadata:
            value = scalar_value(values.get(f"metadata.{name}"))
            if value is not None:
                metadata[name] = value
        return RecordDraft(
            source="ticket",
            text=text,
            turns=turns,
            location=row.location,
            external_id=id_value(values.get("id"), warns),
            created_at=read_date(values.get("created_at"), "created_at", self.default_tz, warns),
            metadata=metadata,
            warnings=warns,
        )


def _comments(value: Any, warns: list[str]) -> Iterator[tuple[str, Role, str]]:
    """(body, role, author) per comment. A CSV cell may hold the comments as JSON text."""
    if isinstance(value, str):
        if not value.strip():
            return
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            warns.append("comments is not a JSON list of comments; the comments were ignored")
            return
    if not isinstance(value, list):
        warns.append(f"comments is {describe_type(value)}, not a list; the comments were ignored")
        return
    for number, comment in enumerate(value, 1):
        if not isinstance(comment, dict):
            warns.append(
                f"comment {number} is {describe_type(comment)}, not an object, and was ignored"
            )
            continue
        try:
            body = text_value(comment.get("body"), f"comment {number}", warns).strip()
        except FieldTypeError as exc:
            warns.append(f"{exc}; the comment was ignored")
            continue
        if not body:
            continue
        author = str(scalar_value(comment.get("author")) or "")
        raw_role = str(scalar_value(comment.get("author_role")) or "")
        key = raw_role.casefold()
        role: Role
        if key in CUSTOMER_ROLES:
            role = "customer"
        elif key in AGENT_ROLES:
            role = "agent"
        elif key in SYSTEM_ROLES:
            role = "system"
        else:
            warns.append(
                f"comment {number} has author_role {raw_role!r}, which is not a known role "
                "(customer, end-user, requester, user, agent, admin, staff, support, system); "
                "it is kept as context, not analysed"
            )
            role = "system"
        yield body, role, author
