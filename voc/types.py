"""The domain model: one name for one thing, everywhere (see docs/architecture.md).

Plain dataclasses with slots: ingestion builds hundreds of thousands of them, so they
stay cheap. Validation happens in the adapters and at the API boundary, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Source = Literal["ticket", "call", "review", "interview", "survey"]
SOURCES: tuple[str, ...] = ("ticket", "call", "review", "interview", "survey")

Role = Literal["customer", "agent", "interviewer", "quoted", "signature", "system"]
"""Who a turn belongs to. Only `customer` turns become feedback units; the rest stay in the
record as context (agent replies, interviewer questions, quoted earlier mail, signatures,
subject lines written by a system)."""

Lang = Literal["zh", "en"]


@dataclass(slots=True, frozen=True)
class Turn:
    """A stretch of a record's text written or said by one party: `text[start:end]`."""

    start: int
    end: int
    role: Role
    speaker: str = ""


@dataclass(slots=True)
class Location:
    """Where an input record came from, so rejects and records can be traced to a line."""

    file: str
    line: int | None = None
    """1-based line of the first character of the item in the file (CSV row, JSONL line,
    transcript cue); None where a whole file is one record."""


@dataclass(slots=True)
class RecordDraft:
    """What an adapter produces: one input item as received, before redaction and ids.

    `text` is the record's full text as the customer and agent wrote it (an adapter may
    join fields, e.g. a ticket's subject, description and comments, with newlines); `turns`
    cover the parts of `text` that belong to each party. Text outside every turn (labels
    such as "客户:" or timestamps) is context that is never analysed.
    """

    source: Source
    text: str
    turns: list[Turn]
    location: Location
    external_id: str | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Reject:
    """An input item that could not be accepted, with a reason a user can act on."""

    location: Location
    code: str
    reason: str
    excerpt: str = ""


@dataclass(slots=True)
class FeedbackRecord:
    """One input item as stored: PII redacted, content-hash id, turns with spans."""

    id: str
    workspace_id: str
    source: Source
    text: str
    turns: list[Turn]
    external_id: str | None
    created_at: datetime | None
    received_at: datetime
    metadata: dict[str, Any]
    fingerprint: str
    """Hash of the record's normalised text, used to flag near-duplicates."""
    near_duplicate_of: str | None = None
    file: str | None = None
    line: int | None = None
    redactions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FeedbackUnit:
    """The analysable piece: one customer sentence or turn, `record.text[start:end] == text`."""

    id: str
    record_id: str
    workspace_id: str
    index: int
    start: int
    end: int
    text: str
    norm_text: str
    """NFKC, full-width folded, traditional converted to simplified: for analysis only."""
    lang: Lang
    speaker: str = ""
    source: str = ""
    """Copied from the record, so themes can show where a quote came from without a join."""
    created_at: datetime | None = None


@dataclass(slots=True)
class UnitRef:
    """A stored `FeedbackUnit` without its text: what a re-cluster holds for every unit, so
    that its memory grows with the number of units and the vectors kept, not with how much
    customers wrote. `text_hash` keys the embedding cache; a step that needs the words (the
    units describing a theme, quote candidates, units whose needs are unread) fetches them
    from the store by id, a bounded batch at a time."""

    id: str
    record_id: str
    workspace_id: str
    lang: Lang
    text_hash: str
    source: str = ""
    created_at: datetime | None = None


@dataclass(slots=True)
class Run:
    """One clustering of a workspace, with everything needed to reproduce it."""

    run_id: str
    workspace_id: str
    status: str
    """`running`, `done` or `failed`; only a `done` run can be current."""
    started_at: datetime
    params: dict[str, Any]
    model_id: str
    code_version: str
    finished_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)
    n_units: int = 0
    n_themes: int = 0
    unassigned: int = 0
    is_current: bool = False
    error: str | None = None
    stability: float | None = None
    """Share of the units present in this run and the previous one that kept their theme id."""
    data_until: datetime | None = None
    """Date of the newest unit the run covers: the week of data it stands for."""
    themes_version: int = field(default=0, compare=False)
    """How many times its served themes were replaced since it completed (curations); read
    from the store, never written from here."""
    live_version: int = field(default=0, compare=False)
    """How many writes of live assignments to it there were (units submitted since it ran).
    With `themes_version`, what the API's caches of a run's answers are keyed on."""


@dataclass(slots=True)
class Theme:
    """A cluster of units with an id that names it (`T-0042`); level 0 themes hold units,
    level 1 themes are their parents."""

    theme_id: str
    run_id: str
    workspace_id: str
    level: int
    parent_id: str | None
    name: str
    names: dict[str, str]
    keywords: dict[str, list[tuple[str, float]]]
    size: int
    langs: dict[str, int]
    quotes: list[dict[str, Any]]
    centroid: bytes
    needs: dict[str, Any] | None = None
    """The theme's needs profile (voc.needs.ThemeNeeds as a dict); None in runs made before
    needs were analysed."""
