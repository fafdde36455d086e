"""The whole flow as plain functions; the CLI, pipelines/ and the API call these.

Ingestion: adapter drafts -> length check -> PII redaction -> content-hash id -> duplicate and
near-duplicate check -> segmentation into units -> store, in batches, one transaction each.
Every item an adapter reads ends as exactly one of accepted, duplicate or rejected.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from voc.errors import InputError
from voc.ids import fingerprint, record_id, unit_id
from voc.ingest import get_adapter
from voc.ingest.base import Mapping
from voc.pii import Redactor
from voc.segment import Segmenter
from voc.settings import VocSettings
from voc.store import Store
from voc.types import FeedbackRecord, FeedbackUnit, Location, RecordDraft, Reject, Turn

log = logging.getLogger("voc.pipeline")

ProgressCallback = Callable[[str, int], None]
"""Called with (current file, records read so far) after each batch and file."""

SHOWN_PROBLEMS = 50


@dataclass(slots=True)
class IngestSummary:
    """What one ingestion did to every item it read."""

    ingest_id: str
    workspace_id: str
    source: str
    files: list[str]
    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    units: int = 0
    near_duplicates: int = 0
    without_units: int = 0
    reject_codes: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    """The first SHOWN_PROBLEMS rejects; all of them are in the store."""
    warnings: int = 0
    warning_messages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicate + self.rejected == self.read

    @property
    def records_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "units": self.units,
        }


class Ingestor:
    """Holds the loaded parts (segmenter, redactor) so many ingestions reuse them."""

    def __init__(self, store: Store, settings: VocSettings) -> None:
        self.store = store
        self.settings = settings
        self.segmenter = Segmenter(settings)
        self.redactor = Redactor(settings.pii_patterns) if settings.redact_pii else None

    def ingest_paths(
        self,
        paths: Sequence[Path],
        source: str,
        workspace_id: str | None = None,
        mapping: Mapping | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        """Ingest files (directories are walked) of one source into a workspace."""
        adapter = get_adapter(source, mapping, default_tz=ZoneInfo(self.settings.default_tz))
        files = expand_paths(paths)
        workspace_id = workspace_id or self.settings.workspace

        def items() -> Iterator[RecordDraft | Reject]:
            for path in files:
                yield from adapter.read(path)

        return self.ingest_items(items(), source, workspace_id, [str(f) for f in files], progress)

    def ingest_items(
        self,
        items: Iterable[RecordDraft | Reject],
        source: str,
        workspace_id: str,
        files: list[str],
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary(uuid.uuid4().hex, workspace_id, source, files)
        self.store.ensure_workspace(workspace_id)
        self.store.start_ingest(summary.ingest_id, workspace_id, source, files)
        state = _IngestState()
        try:
            batch: list[RecordDraft | Reject] = []
            for item in items:
                batch.append(item)
                if len(batch) >= self.settings.batch_size:
                    self._process(batch, summary, state)
                    batch = []
                    if progress:
                        progress(item.location.file, summary.read)
            if batch:
                self._process(batch, summary, state)
            if progress:
                progress("", summary.read)
        except Exception as exc:
            summary.seconds = time.perf_counter() - started
            self.store.finish_ingest(summary.ingest_id, "failed", summary.counts(), repr(exc))
            raise
        summary.seconds = time.perf_counter() - started
        self.store.finish_ingest(summary.ingest_id, "done", summary.counts())
        log.info(
            "ingest_done ingest_id=%s workspace=%s source=%s read=%d accepted=%d duplicate=%d "
            "rejected=%d units=%d seconds=%.2f",
            summary.ingest_id,
            workspace_id,
            source,
            summary.read,
            summary.accepted,
            summary.duplicate,
            summary.rejected,
            summary.units,
            summary.seconds,
        )
        return summary

    def _process(
        self, batch: list[RecordDraft | Reject], summary: IngestSummary, state: _IngestState
    ) -> None:
        received_at = datetime.now(UTC)
        accepted: list[FeedbackRecord] = []
        batch_rejects: list[Reject] = []
        summary.read += len(batch)
        for item in batch:
            prepared = (
                item if isinstance(item, Reject) else self._prepare(item, summary, received_at)
            )
            if isinstance(prepared, Reject):
                batch_rejects.append(prepared)
                continue
            if prepared.id in state.seen_ids:
                summary.duplicate += 1
                continue
            state.seen_ids.add(prepared.id)
            accepted.append(prepared)

        stored = self.store.existing_record_ids(r.id for r in accepted)
        summary.duplicate += len(stored)
        accepted = [r for r in accepted if r.id not in stored]
        self._flag_near_duplicates(accepted, summary, state)

        units: list[FeedbackUnit] = []
        drafts = self.segmenter.segment_many([(r.text, r.turns) for r in accepted])
        for record, unit_drafts in zip(accepted, drafts, strict=True):
            if not unit_drafts:
                summary.without_units += 1
            for index, d in enumerate(unit_drafts):
                units.append(
                    FeedbackUnit(
                        id=unit_id(record.id, index),
                        record_id=record.id,
                        workspace_id=record.workspace_id,
                        index=index,
                        start=d.start,
                        end=d.end,
                        text=d.text,
                        norm_text=d.norm_text,
                        lang=d.lang,
                        speaker=d.speaker,
                        source=record.source,
                        created_at=record.created_at,
                    )
                )
        self.store.write_batch(
            summary.workspace_id, summary.source, summary.ingest_id, accepted, units, batch_rejects
        )
        summary.accepted += len(accepted)
        summary.units += len(units)
        summary.rejected += len(batch_rejects)
        for reject in batch_rejects:
            summary.reject_codes[reject.code] += 1
            if len(summary.rejects) < SHOWN_PROBLEMS:
                summary.rejects.append(reject)
        for record in accepted:
            summary.warnings += len(record.warnings)
            for warning in record.warnings:
                if len(summary.warning_messages) < SHOWN_PROBLEMS:
                    summary.warning_messages.append(warning)

    def _prepare(
        self, draft: RecordDraft, summary: IngestSummary, received_at: datetime
    ) -> FeedbackRecord | Reject:
        limit = self.settings.max_record_chars
        if len(draft.text) > limit:
            return Reject(
                location=draft.location,
                code="too_long",
                reason=(
                    f"{_where(draft.location)}: text is {len(draft.text):,} characters, over the "
                    f"limit of {limit:,}; split the item or raise VOC_MAX_RECORD_CHARS."
                ),
                excerpt=draft.text[:200],
            )
        text, turns, redactions = draft.text, draft.turns, {}
        if self.redactor is not None:
            redacted = self.redactor.redact(draft.text)
            if redacted.matches:
                text = redacted.text
                turns = [
                    Turn(
                        redacted.map_offset(t.start), redacted.map_offset(t.end), t.role, t.speaker
                    )
                    for t in draft.turns
                ]
                redactions = redacted.counts()
        return FeedbackRecord(
            id=record_id(summary.workspace_id, draft.source, draft.external_id, draft.text),
            workspace_id=summary.workspace_id,
            source=draft.source,
            text=text,
            turns=turns,
            external_id=draft.external_id,
            created_at=draft.created_at,
            received_at=received_at,
            metadata=draft.metadata,
            fingerprint=fingerprint(text),
            file=draft.location.file,
            line=draft.location.line,
            redactions=redactions,
            warnings=list(draft.warnings),
        )

    def _flag_near_duplicates(
        self, accepted: list[FeedbackRecord], summary: IngestSummary, state: _IngestState
    ) -> None:
        unknown = {r.fingerprint for r in accepted} - state.fingerprints.keys()
        state.fingerprints.update(self.store.records_by_fingerprint(summary.workspace_id, unknown))
        for record in accepted:
            earlier = state.fingerprints.setdefault(record.fingerprint, record.id)
            if earlier != record.id:
                record.near_duplicate_of = earlier
                summary.near_duplicates += 1


@dataclass(slots=True)
class _IngestState:
    seen_ids: set[str] = field(default_factory=set)
    fingerprints: dict[str, str] = field(default_factory=dict)


def _where(location: Location) -> str:
    return f"{location.file}:{location.line}" if location.line else location.file


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files given, and the files under directories given (sorted, hidden ones skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"no such file or directory: {path}")
    return files
