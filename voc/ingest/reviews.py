"""App-store and e-commerce reviews from CSV, JSONL or JSON, one review per row.

Review exports name their columns in many ways, so each field tries several default columns in
order; the title and the body are both the customer's words.
"""

from __future__ import annotations

import math
import re
import unicodedata
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
    excerpt,
    id_value,
    read_date,
    read_table,
    scalar_value,
    text_value,
    type_reject,
)
from voc.types import RecordDraft, Reject, Turn

FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}

_RATING = re.compile(
    r"([+-]?\d+(?:\.\d+)?)\s*(?:/\s*\d+(?:\.\d+)?|stars?|星|分|颗星)?", re.IGNORECASE
)
_STARS = frozenset("★☆")


def parse_rating(value: Any) -> int | float:
    """A rating as a number: `4`, `4.5`, `4/5`, `4 stars`, `4星`, `★★★★☆` (counts ★).

    Raises ValueError for anything else; the adapter keeps the review and warns.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if text and set(text) <= _STARS:
            return text.count("★")
        match = _RATING.fullmatch(text)
        if match is None:
            raise ValueError(f"{value!r} is not a number")
        value = float(match.group(1))
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    return int(value) if float(value).is_integer() else float(value)


class ReviewAdapter:
    """Reads review exports; every field tries its default columns in order."""

    source = "review"
    fields: ClassVar[dict[str, tuple[str, ...]]] = {
        "id": ("id", "review_id"),
        "title": ("title",),
        "text": ("text", "content", "review", "body", "comment"),
        "rating": ("rating", "stars", "score"),
        "product": ("product",),
        "platform": ("platform",),
        "version": ("version",),
        "country": ("country",),
        "customer_id": ("customer_id",),
        "created_at": ("created_at", "date"),
    }
    label_fields: ClassVar[tuple[str, ...]] = ()
    _metadata_fields = ("rating", "product", "platform", "version", "country", "customer_id")

    def __init__(self, mapping: SourceMapping | None = None, *, default_tz: tzinfo = UTC) -> None:
        self.mapping = mapping or SourceMapping()
        self.default_tz = default_tz
        self.spec = FieldSpec.build("review", self.fields, self.mapping, required=("text",))

    def read(self, path: Path) -> Iterator[RecordDraft | Reject]:
        return read_table(path, FORMATS, self.spec, "reviews", self._build)

    def _build(self, row: Row, path: Path) -> RecordDraft | Reject:
        values, warns = row.values, row.warnings
        try:
            title = text_value(values.get("title"), "title", warns).strip()
            body = text_value(values.get("text"), "text", warns).strip()
        except FieldTypeError as exc:
            return type_reject(row, path, exc)
        if not title and not body:
            return Reject(
                row.location,
                "empty_text",
                f"{path.name} line {row.location.line}: the review text is empty; fill it in or "
                "remove the row.",
                excerpt(row.raw),
            )
        builder = TextBuilder("\n\n")
        turns = []
        for part in (title, body):
            if part:
                start = builder.add(part)
                turns.append(Turn(start, start + len(part), "customer"))
        metadata: dict[str, Any] = {}
        for name in self._metadata_fields:
            value = scalar_value(values.get(name))
            if value is None:
                continue
            if name == "rating":
                try:
                    value = parse_rating(value)
                except ValueError:
                    warns.append(f"rating {value!r} is not a number; the rating was left out")
                    continue
            metadata[name] = value
        for name in self.mapping.metadata:
            value = scalar_value(values.get(f"metadata.{name}"))
            if value is not None:
                metadata[name] = value
        return RecordDraft(
            source="review",
            text=builder.build(),
            turns=turns,
            location=row.location,
            external_id=id_value(values.get("id"), warns),
            created_at=read_date(values.get("created_at"), "created_at", self.default_tz, warns),
            metadata=metadata,
            warnings=warns,
        )
