"""The whole flow as plain functions; the CLI, pipelines/ and the API call these.

Ingestion: adapter drafts -> length check -> PII redaction -> content-hash id -> duplicate and
near-duplicate check -> segmentation into units -> store, in batches, one transaction each.
Every item an adapter reads ends as exactly one of accepted, duplicate or rejected.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gc
import hashlib
import io
import json
import logging
import multiprocessing
import signal
import subprocess
import threading
import time
import unicodedata
import uuid
from collections import Counter, abc
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import make_url as sa_make_url
from threadpoolctl import threadpool_limits

from voc import __version__
from voc.alerts import DeliveryReport, post_alerts
from voc.cluster import MIN_ROWS, ThemeClusterer, center_languages, nearest_neighbors
from voc.embed import CachedEmbedder, Embedder
from voc.engine import Engine, LocalEngine, StepCallback, make_engine
from voc.errors import InputError, NotFoundError, StoreError, VocError
from voc.ids import fingerprint, record_id, text_hash, unit_id
from voc.ingest import get_adapter
from voc.ingest.base import (
    FieldTypeError,
    Mapping,
    TextBuilder,
    describe_type,
    excerpt,
    id_value,
    read_date,
    read_text,
    scalar_value,
    text_value,
)
from voc.jobs import Heartbeat, acquire_run_lock
from voc.needs import (
    NeedsAnalyzer,
    NeedsParams,
    ThemeNeeds,
    UnitContext,
    UnitNeeds,
    default_analyzer,
    rank_priorities,
    record_ratings,
    theme_needs,
)
from voc.needs_model import NeedsModel, default_model
from voc.normalize import normalize_for_analysis
from voc.pii import Redactor
from voc.registry import (
    ClusterSnapshot,
    ClusterTheme,
    Curation,
    LineageEvent,
    Matching,
    ThemeResult,
    ThemeSnapshot,
    apply_curation,
    match_runs,
    merge_converged,
    pinned_ids,
)
from voc.segment import Segmenter, detect_lang
from voc.settings import VocSettings
from voc.store import (
    EXTERNAL_ID_CHARS,
    SPEAKER_CHARS,
    Job,
    LineageRow,
    LiveAssignment,
    NewCuration,
    RunCluster,
    RunLineage,
    RunSpace,
    Store,
    StoredCuration,
)
from voc.themes import (
    ThemeDescription,
    UnitTexts,
    describe_themes,
    theme_quotes,
    unit_texts,
)
from voc.tokenize import Tokenizer
from voc.trends import (
    Alert,
    detect_alerts,
    lineage_alerts,
    period_label,
    period_start,
    trend_points,
)
from voc.types import (
    SOURCES,
    FeedbackRecord,
    FeedbackUnit,
    Location,
    RecordDraft,
    Reject,
    Role,
    Run,
    Theme,
    Turn,
    UnitRef,
)

log = logging.getLogger("voc.pipeline")

ProgressCallback = Callable[[str, int], None]
"""Called with (current file, records read so far) after each batch and file."""

SHOWN_PROBLEMS = 50
NEEDS_BATCH = 20_000
"""Units whose needs are read (lexicon, cached vectors, classifiers) and stored per batch."""
API_LABEL = "api"
"""The file name of items submitted to the API; their line is their 1-based batch index."""


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
    """Holds the loaded parts (segmenter, redactor) so many ingestions reuse them.

    One Ingestor may serve many threads (the API): the duplicate check and the write of a
    batch run under a per-workspace lock, so two requests sending the same record at once
    store it once. Separate processes can still race; the store then skips the record the
    other one wrote (same id, same content), so both requests succeed.
    """

    def __init__(self, store: Store, settings: VocSettings) -> None:
        self.store = store
        self.settings = settings
        self.segmenter = Segmenter(settings)
        self.redactor = Redactor(settings.pii_patterns) if settings.redact_pii else None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, workspace_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(workspace_id, threading.Lock())

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
                    with self._lock(workspace_id):
                        self._process(batch, summary, state)
                    batch = []
                    if progress:
                        progress(item.location.file, summary.read)
            if batch:
                with self._lock(workspace_id):
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
    ) -> list[ItemOutcome]:
        """Write one batch; returns what became of each item, in batch order."""
        received_at = datetime.now(UTC)
        accepted: list[FeedbackRecord] = []
        batch_rejects: list[Reject] = []
        outcomes: list[ItemOutcome] = []
        summary.read += len(batch)
        for item in batch:
            prepared = (
                item if isinstance(item, Reject) else self._prepare(item, summary, received_at)
            )
            if isinstance(prepared, Reject):
                batch_rejects.append(prepared)
                outcomes.append(ItemOutcome("rejected", code=prepared.code, reason=prepared.reason))
                continue
            outcomes.append(ItemOutcome("accepted", record_id=prepared.id))
            if prepared.id in state.seen_ids:
                summary.duplicate += 1
                outcomes[-1].status = "duplicate"
                continue
            state.seen_ids.add(prepared.id)
            accepted.append(prepared)

        stored = self.store.existing_record_ids(r.id for r in accepted)
        summary.duplicate += len(stored)
        accepted = [r for r in accepted if r.id not in stored]
        for outcome in outcomes:
            if outcome.status == "accepted" and outcome.record_id in stored:
                outcome.status = "duplicate"
        self._flag_near_duplicates(accepted, summary, state)

        units: list[FeedbackUnit] = []
        by_record = {o.record_id: o for o in outcomes if o.status == "accepted"}
        drafts = self.segmenter.segment_many([(r.text, r.turns) for r in accepted])
        for record, unit_drafts in zip(accepted, drafts, strict=True):
            if not unit_drafts:
                summary.without_units += 1
            by_record[record.id].warnings = list(record.warnings)
            by_record[record.id].near_duplicate_of = record.near_duplicate_of
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
                by_record[record.id].units.append(units[-1])
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
        return outcomes

    def submit(
        self, items: Sequence[Any], workspace_id: str, label: str = API_LABEL
    ) -> tuple[IngestSummary, list[ItemOutcome]]:
        """Ingest JSON records sent to the API as one ingest, reporting each item.

        Beyond the content-hash check every ingestion makes, a record whose source and
        external id are already stored is a duplicate even if its text changed: a client
        resending a ticket it already sent must not create a second one.

        A duplicate whose units were never placed in a theme (the request that stored it
        failed after committing, before assigning) carries those units, so assigning this
        request's units retries the placement: a client's retry heals the failure.
        """
        started = time.perf_counter()
        tz = ZoneInfo(self.settings.default_tz)
        drafts = [draft_from_json(obj, n, label, tz) for n, obj in enumerate(items, 1)]
        outcomes: list[ItemOutcome | None] = [None] * len(drafts)
        summary = IngestSummary(uuid.uuid4().hex, workspace_id, label, [label])
        self.store.ensure_workspace(workspace_id)
        self.store.start_ingest(summary.ingest_id, workspace_id, label, [label])
        try:
            with self._lock(workspace_id):
                fresh = self._known_external_ids(drafts, outcomes, workspace_id)
                processed = self._process([drafts[i] for i in fresh], summary, _IngestState())
        except Exception as exc:
            self.store.finish_ingest(summary.ingest_id, "failed", summary.counts(), repr(exc))
            raise
        for i, outcome in zip(fresh, processed, strict=True):
            outcomes[i] = outcome
        self._attach_unplaced_units([o for o in outcomes if o is not None], workspace_id)
        early = len(drafts) - len(fresh)
        summary.read += early
        summary.duplicate += early
        summary.seconds = time.perf_counter() - started
        self.store.finish_ingest(summary.ingest_id, "done", summary.counts())
        done = [o for o in outcomes if o is not None]
        log.info(
            "submit_done ingest_id=%s workspace=%s read=%d accepted=%d duplicate=%d rejected=%d "
            "units=%d seconds=%.3f",
            summary.ingest_id,
            workspace_id,
            summary.read,
            summary.accepted,
            summary.duplicate,
            summary.rejected,
            summary.units,
            summary.seconds,
        )
        return summary, done

    def _attach_unplaced_units(self, outcomes: Sequence[ItemOutcome], workspace_id: str) -> None:
        """Give each stored duplicate its units that have no live assignment and are not in
        the current run; a record accepted in this batch is placed by this request already,
        and a record sent twice gets its units once."""
        accepted = {o.record_id for o in outcomes if o.status == "accepted"}
        duplicates = {
            o.record_id: o
            for o in outcomes
            if o.status == "duplicate" and o.record_id and o.record_id not in accepted
        }
        if not duplicates:
            return
        run = self.store.current_run(workspace_id)
        run_id = run.run_id if run else None
        for unit in self.store.unplaced_units(workspace_id, duplicates, run_id):
            duplicates[unit.record_id].units.append(unit)

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
        if draft.external_id is not None and len(draft.external_id) > EXTERNAL_ID_CHARS:
            return Reject(
                location=draft.location,
                code="id_too_long",
                reason=(
                    f"{_where(draft.location)}: the id is {len(draft.external_id):,} characters, "
                    f"over the limit of {EXTERNAL_ID_CHARS}; map a shorter id column "
                    "(--map id=COLUMN)."
                ),
                excerpt=draft.text[:200],
            )
        if not _has_words(draft):
            return Reject(
                location=draft.location,
                code="empty_text",
                reason=(
                    f"{_where(draft.location)}: the customer text is only punctuation, spaces "
                    "or invisible marks, so there is nothing to analyse; fill in the text or "
                    "remove the item."
                ),
                excerpt=draft.text[:200],
            )
        turns, warnings = _short_speakers(draft)
        text, redactions = draft.text, {}
        if self.redactor is not None:
            redacted = self.redactor.redact(draft.text)
            if redacted.matches:
                text = redacted.text
                turns = [
                    Turn(
                        redacted.map_offset(t.start), redacted.map_offset(t.end), t.role, t.speaker
                    )
                    for t in turns
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
            warnings=warnings,
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

    def _known_external_ids(
        self,
        drafts: Sequence[RecordDraft | Reject],
        outcomes: list[ItemOutcome | None],
        workspace_id: str,
    ) -> list[int]:
        """Mark drafts whose source and external id are stored (or earlier in the batch) as
        duplicates; returns the positions of the others."""
        known: dict[tuple[str, str], str] = {}
        wanted: dict[str, set[str]] = {}
        for d in drafts:
            if isinstance(d, RecordDraft) and d.external_id:
                wanted.setdefault(d.source, set()).add(d.external_id)
        for source, external_ids in wanted.items():
            found = self.store.records_by_external_id(workspace_id, source, external_ids)
            known.update(((source, e), rid) for e, rid in found.items())
        fresh: list[int] = []
        for i, d in enumerate(drafts):
            if isinstance(d, RecordDraft) and d.external_id:
                earlier = known.get((d.source, d.external_id))
                if earlier is not None:
                    outcomes[i] = ItemOutcome("duplicate", record_id=earlier)
                    continue
                known[(d.source, d.external_id)] = record_id(
                    workspace_id, d.source, d.external_id, d.text
                )
            fresh.append(i)
        return fresh


@dataclass(slots=True)
class ItemOutcome:
    """What became of one submitted item: accepted (with its units), duplicate of a stored
    record, or rejected with a code and a reason a user can act on."""

    status: Literal["accepted", "duplicate", "rejected"]
    record_id: str | None = None
    code: str | None = None
    reason: str | None = None
    units: list[FeedbackUnit] = field(default_factory=list)
    near_duplicate_of: str | None = None
    warnings: list[str] = field(default_factory=list)


JSON_RECORD_KEYS = ("source", "text", "turns", "external_id", "created_at", "metadata")
JSON_TURN_ROLES: tuple[Role, ...] = ("customer", "agent", "interviewer", "system")


def draft_from_json(obj: Any, number: int, file: str, default_tz: tzinfo) -> RecordDraft | Reject:
    """A record sent as JSON (`source`, `text` or `turns`, `external_id`, `created_at`,
    `metadata`) as a draft, under the rules the file adapters apply to the same fields:
    text must be text (numbers are read as text with a warning), NULs are removed, an
    unreadable date keeps the record without a date, and a record without customer text is
    rejected."""
    location = Location(file, number)
    where = f"record {number}"
    raw = excerpt(json.dumps(obj, ensure_ascii=False, default=str))

    def reject(code: str, problem: str) -> Reject:
        return Reject(location, code, f"{where}: {problem}", raw)

    if not isinstance(obj, dict):
        return reject("invalid_type", f"the item is {describe_type(obj)}, not a JSON object.")
    source = obj.get("source")
    if source not in SOURCES:
        return reject(
            "invalid_source", f"source {source!r} is not one of {', '.join(SOURCES)}; set it."
        )
    warns: list[str] = []
    unknown = sorted(str(k) for k in obj if k not in JSON_RECORD_KEYS)
    if unknown:
        warns.append(
            f"keys {', '.join(unknown)} are not record fields and were ignored; put extra "
            "fields under metadata"
        )
    has_text, has_turns = obj.get("text") is not None, obj.get("turns") is not None
    if has_text == has_turns:
        both = "both text and turns" if has_text else "neither text nor turns"
        return reject("missing_field", f"the record has {both}; give exactly one of them.")
    try:
        if has_text:
            text = text_value(obj["text"], "text", warns).strip()
            turns = [Turn(0, len(text), "customer")] if text else []
        else:
            text, turns = _json_turns(obj["turns"], warns)
    except FieldTypeError as exc:
        return reject("invalid_type", f"{exc}; fix the value.")
    if not any(t.role == "customer" and t.end > t.start for t in turns):
        return reject(
            "empty_text", "the record has no customer text; fill in text or a customer turn."
        )
    metadata: dict[str, Any] = {}
    raw_meta = obj.get("metadata")
    if isinstance(raw_meta, dict):
        for key, value in raw_meta.items():
            value = scalar_value(value)
            if value is not None:
                metadata[str(key)] = value
    elif raw_meta is not None:
        warns.append(f"metadata is {describe_type(raw_meta)}, not an object, and was ignored")
    return RecordDraft(
        source=source,
        text=text,
        turns=turns,
        location=location,
        external_id=id_value(obj.get("external_id"), warns),
        created_at=read_date(obj.get("created_at"), "created_at", default_tz, warns),
        metadata=metadata,
        warnings=warns,
    )


def _json_turns(value: Any, warns: list[str]) -> tuple[str, list[Turn]]:
    """Turns as "speaker: text" lines, like a call transcript; only customer turns are
    analysed."""
    if not isinstance(value, list):
        raise FieldTypeError(f"turns is {describe_type(value)}, but it must be a list")
    builder = TextBuilder("\n")
    turns: list[Turn] = []
    for number, turn in enumerate(value, 1):
        if not isinstance(turn, dict):
            raise FieldTypeError(f"turn {number} is {describe_type(turn)}, not an object")
        body = text_value(turn.get("text"), f"turn {number} text", warns).strip()
        role = turn.get("role", "customer")
        if role not in JSON_TURN_ROLES:
            raise FieldTypeError(
                f"turn {number} has role {role!r}, but it must be one of "
                f"{', '.join(JSON_TURN_ROLES)}"
            )
        if not body:
            continue
        speaker = str(scalar_value(turn.get("speaker")) or "")
        prefix = f"{speaker}: " if speaker else ""
        start = builder.add(prefix + body) + len(prefix)
        turns.append(Turn(start, start + len(body), role, speaker))
    return builder.build(), turns


@dataclass(slots=True)
class _IngestState:
    seen_ids: set[str] = field(default_factory=set)
    fingerprints: dict[str, str] = field(default_factory=dict)


def _short_speakers(draft: RecordDraft) -> tuple[list[Turn], list[str]]:
    """The draft's turns with speaker labels cut to what the store keeps, and its warnings
    with one more when any was cut: a label that long is a parsing accident, and rejecting the
    customer's text over it would break "nothing lost"."""
    if all(len(t.speaker) <= SPEAKER_CHARS for t in draft.turns):
        return draft.turns, list(draft.warnings)
    cut = [dataclasses.replace(t, speaker=t.speaker[:SPEAKER_CHARS]) for t in draft.turns]
    where = _where(draft.location)
    return cut, [*draft.warnings, f"{where}: speaker labels cut to {SPEAKER_CHARS} characters"]


def _has_words(draft: RecordDraft) -> bool:
    """Whether any customer turn holds a letter, digit or symbol (emoji count: "👍" is
    feedback). A draft without customer turns passes: adapters keep such calls with a
    warning, as context. Text of only "!!!" or "。。。" gives no unit and no theme, so
    accepting it would count as received something nobody can read."""
    customer = [draft.text[t.start : t.end] for t in draft.turns if t.role == "customer"]
    if not customer:
        return True
    return any(unicodedata.category(ch)[0] in "LNS" for part in customer for ch in part)


def _where(location: Location) -> str:
    """Where an item came from, for reasons: `file:line`, or `record N` (1-based) for an item
    of a batch sent to the API, whose client knows no file."""
    if location.file == API_LABEL and location.line:
        return f"record {location.line}"
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


# -- re-clustering ---------------------------------------------------------------------------

"""Called with (step name, done, total) while a run embeds and clusters."""


def code_version() -> str:
    """voc's version, plus the git commit when run from a checkout, so a run can be redone."""
    version = f"voc {__version__}"
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists():
        try:
            sha = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return version
        return f"{version} ({sha})"
    return version


def recluster(
    store: Store,
    settings: VocSettings,
    workspace_id: str,
    embedder: Embedder,
    seed: int = 0,
    clusterer_params: dict[str, Any] | None = None,
    progress: StepCallback | None = None,
    run_id: str | None = None,
    lock: Job | None = None,
    engine: Engine | None = None,
) -> tuple[Run, list[Theme]]:
    """Cluster every stored unit of a workspace into a new run of themes.

    Clusters are matched to the current run's (voc.registry) so a theme keeps its id while it
    holds the same feedback, and the workspace's curations are re-applied on top. The run,
    its served themes, its matched clusters and its lineage become current only when complete
    (one transaction); a failure marks it failed and leaves the previous run served. `run_id`
    lets a caller that queues the run (the API) name it before it starts. `engine` embeds and
    assigns the units (voc.engine); None uses the one `settings.engine` names.

    The run holds its workspace's run lock (voc.jobs) from before its row is written until
    it is complete or failed: `lock` is the lock job a caller already holds and finishes
    itself (the API's queued job); without one the lock is taken here, kept alive by a
    heartbeat and released at the end, and a run already in progress anywhere raises
    RunInProgressError.
    """
    run_id = run_id or uuid.uuid4().hex
    engine = engine or make_engine(settings)

    def run_it() -> tuple[Run, list[Theme]]:
        return _recluster(
            store,
            settings,
            workspace_id,
            embedder,
            seed,
            clusterer_params,
            progress,
            run_id,
            engine,
        )

    if lock is not None:
        return run_it()
    job = acquire_run_lock(
        store,
        workspace_id,
        run_id,
        {"seed": seed, "clusterer": clusterer_params or {}},
        settings.run_stale_after_s,
    )
    heartbeat = Heartbeat(store, settings.run_heartbeat_s, [job.id]).start()
    try:
        store.update_job(job.id, status="running")
        run, themes = run_it()
    except BaseException as exc:
        _quietly(store.update_job, job.id, status="failed", error=failure_reason(exc))
        raise
    finally:
        heartbeat.stop()
    result = {"run_id": run.run_id, "n_units": run.n_units, "n_themes": run.n_themes}
    _quietly(store.update_job, job.id, status="done", result=result)
    return run, themes


def failure_reason(exc: BaseException) -> str:
    """What a failed run or job says: a stop (Ctrl-C, SIGTERM) as an interruption.

    A stop that lands inside a database call can leave the connection mid-query, and cleaning
    it up then raises an error of its own (psycopg: "can't change 'autocommit' now"), with the
    stop as its context; the stop is still what happened, so the chain is searched for it.
    """
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt | SystemExit):
            detail = str(cause) or type(cause).__name__
            return f"interrupted: the process running it was stopped ({detail}); start it again."
        seen.add(id(cause))
        # As a traceback reads the chain: an explicit cause, else the context unless
        # `raise ... from None` hid it.
        hidden = cause.__suppress_context__
        cause = cause.__cause__ or (None if hidden else cause.__context__)
    return f"{type(exc).__name__}: {exc}"


def _quietly(write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Record an outcome without hiding the one that matters: when the database is the
    problem (down, locked, full), recording a failure fails too, and the first error is the
    one to report; a completed run is current whether or not its lock's release was recorded.
    Recovery (voc.jobs) settles what was not recorded once this process is gone."""
    try:
        write(*args, **kwargs)
    except Exception as exc:
        log.warning("could_not_record_failure error=%s: %s", type(exc).__name__, exc)


def _recluster(
    store: Store,
    settings: VocSettings,
    workspace_id: str,
    embedder: Embedder,
    seed: int,
    clusterer_params: dict[str, Any] | None,
    progress: StepCallback | None,
    run_id: str,
    engine: Engine,
) -> tuple[Run, list[Theme]]:
    params = {"seed": seed, **(clusterer_params or {})}
    run = Run(
        run_id=run_id,
        workspace_id=workspace_id,
        status="running",
        started_at=datetime.now(UTC),
        params=params,
        model_id=embedder.model_id,
        code_version=code_version(),
    )
    store.ensure_workspace(workspace_id)
    previous = store.current_run(workspace_id)
    store.start_run(run)
    timings: dict[str, float] = {}
    reader: NeedsReader | None = None
    try:
        clock = time.perf_counter()
        units = list(store.iter_unit_refs(workspace_id))
        if len(units) < MIN_ROWS:
            raise InputError(
                f"workspace {workspace_id!r} has {len(units)} feedback units; at least "
                f"{MIN_ROWS} are needed to find themes. Ingest more feedback first."
            )
        timings["load"] = time.perf_counter() - clock

        clock = time.perf_counter()
        cached = CachedEmbedder(embedder, store)
        vectors = engine.embed_stored(
            [u.text_hash for u in units],
            cached,
            functools.partial(store.norm_texts_by_hash, workspace_id),
            progress,
        )
        timings["embed"] = time.perf_counter() - clock

        clock = time.perf_counter()
        clusterer = ThemeClusterer(
            random_state=seed, n_jobs=settings.threads, **(clusterer_params or {})
        )
        if progress:
            progress("cluster", 0, 1)
        previous_themes = _previous_themes(store, previous, units)
        run.params["previous_run"] = previous.run_id if previous else None
        langs = [u.lang for u in units]
        sample = fit_sample([u.id for u in units], settings.fit_sample)
        run.params["fit_units"] = len(sample)
        run.params["engine"] = engine.name
        clusterer.fit(
            vectors[sample],
            lang=[langs[i] for i in sample],
            previous=None if previous_themes is None else previous_themes[sample],
        )
        if progress:
            progress("cluster", 1, 1)
        timings["cluster"] = time.perf_counter() - clock
        timings.update({f"cluster.{k}": v for k, v in clusterer.timings_.items()})

        # After the fit: beside the graph's two BLAS threads the reader slowed it by as much
        # as it saved (10k units: clustering 3.3 -> 5.3 s).
        reader = NeedsReader.start(store, settings, workspace_id, units)
        clock = time.perf_counter()
        labels, confidence = _label_all(clusterer, vectors, langs, sample, engine, progress)
        timings["assign"] = time.perf_counter() - clock

        clock = time.perf_counter()
        texts = StoredTexts(store, workspace_id, units)
        tokens = theme_tokens(Tokenizer.shared(settings), units, labels, texts=texts)
        built = _build_themes(
            run, units, tokens, vectors, clusterer, labels, confidence, store, previous, texts
        )
        del texts
        timings["describe"] = time.perf_counter() - clock

        clock = time.perf_counter()
        shared = waited = 0.0
        if reader is not None:
            reader.share()
            shared = time.perf_counter() - clock
            reader.wait()
            waited = time.perf_counter() - clock - shared
        attach_needs(store, settings, run, built.themes, built.unit_themes, units)
        timings["needs"] = time.perf_counter() - clock
        if reader is not None:
            timings["needs.share"], timings["needs.wait"] = shared, waited

        run.finished_at = datetime.now(UTC)
        run.n_units = len(units)
        run.n_themes = sum(t.level == 0 for t in built.themes)
        run.unassigned = int((labels < 0).sum())
        space = RunSpace(
            assign_threshold=float(clusterer.assign_threshold_),
            lang_means={
                k: v.astype(np.float32).tobytes() for k, v in clusterer.lang_means_.items()
            },
        )
        clock = time.perf_counter()
        run.timings = timings
        store.complete_run(run, built.themes, built.unit_themes, space, built.lineage)
        timings["store"] = time.perf_counter() - clock
    except BaseException as exc:
        if reader is not None:
            reader.stop()
        _quietly(store.fail_run, run, failure_reason(exc))
        raise
    _quietly(store.update_run_timings, run.run_id, timings)
    log.info(
        "recluster_done run_id=%s workspace=%s units=%d fit_units=%d themes=%d unassigned=%d "
        "stability=%s lineage=%s timings=%s",
        run.run_id,
        workspace_id,
        run.n_units,
        len(sample),
        run.n_themes,
        run.unassigned,
        built.lineage.stability,
        dict(Counter(e.kind for e in built.lineage.events)),
        {k: round(v, 2) for k, v in run.timings.items()},
    )
    return run, built.themes


DESCRIBE_UNITS = 1000
"""Most units of a theme whose words make its keywords and name: a theme's top words are
settled long before a thousand units, and tokenising every unit of a million-unit workspace
on every run would cost minutes. Quotes are still chosen among all of a theme's units."""


def _hash_keys(unit_ids: Sequence[str]) -> np.ndarray:
    """A uniform, stable 64-bit key per unit id."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(uid.encode(), digest_size=8).digest(), "big")
            for uid in unit_ids
        ),
        dtype=np.uint64,
        count=len(unit_ids),
    )


def theme_tokens(
    tokenizer: Tokenizer,
    units: Sequence[FeedbackUnit] | Sequence[UnitRef],
    labels: np.ndarray,
    cap: int = DESCRIBE_UNITS,
    texts: UnitTexts | None = None,
) -> list[Sequence[str]]:
    """Tokens of the units that describe their themes: every unit of a theme of at most `cap`
    units, and the `cap` whose ids hash lowest of a larger one (the same units every run
    while the theme holds them); no tokens for the others and for units without a theme,
    which take no part in keywords. Only the describing units' texts are read (`texts`,
    for units held without text)."""
    keys = _hash_keys([u.id for u in units])
    rows: list[int] = []
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        if len(members) > cap:
            members = members[np.argsort(keys[members], kind="stable")[:cap]]
        rows.extend(members.tolist())
    rows.sort()
    none: tuple[str, ...] = ()
    tokens: list[Sequence[str]] = [none] * len(units)
    norm = unit_texts(units, texts).norm_texts(rows)
    read = tokenizer.tokens_many([(t, units[i].lang) for i, t in zip(rows, norm, strict=True)])
    for i, toks in zip(rows, read, strict=True):
        tokens[i] = toks
    return tokens


class StoredTexts:
    """`UnitTexts` of a run's units held without text: fetched from the store by id, the
    normalised texts kept once read (the describing units': keywords and names of the
    children, the parents and curated themes read the same ones)."""

    def __init__(self, store: Store, workspace_id: str, units: Sequence[UnitRef]) -> None:
        self.store = store
        self.workspace_id = workspace_id
        self.refs = units
        self._norm: dict[int, str] = {}

    def norm_texts(self, rows: Sequence[int]) -> list[str]:
        unread = [i for i in rows if i not in self._norm]
        if unread:
            found = self.store.norm_texts(self.workspace_id, [self.refs[i].id for i in unread])
            for i in unread:
                self._norm[i] = _stored(found, self.refs[i].id)
        return [self._norm[i] for i in rows]

    def units(self, rows: Sequence[int]) -> list[FeedbackUnit]:
        found = self.store.units_by_id(self.workspace_id, [self.refs[i].id for i in rows])
        return [_stored(found, self.refs[i].id) for i in rows]


def _stored(found: abc.Mapping[str, Any], unit_id: str) -> Any:
    try:
        return found[unit_id]
    except KeyError:
        raise InputError(
            f"unit {unit_id} is no longer stored (its record was deleted while the run read "
            "it?); run the re-cluster again"
        ) from None


def fit_sample(unit_ids: Sequence[str], size: int) -> np.ndarray:
    """Rows of the units the themes are learnt from, in row order: all of them up to `size`,
    otherwise the `size` units whose ids hash lowest. A hash sample is uniform (each theme in
    proportion to its volume) and stable: next week's sample keeps this week's units except
    those displaced by new ones, so a weekly run re-learns its themes from mostly the same
    feedback."""
    n = len(unit_ids)
    if n <= size:
        return np.arange(n)
    return np.sort(np.argpartition(_hash_keys(unit_ids), size - 1)[:size])


def _label_all(
    clusterer: ThemeClusterer,
    vectors: np.ndarray,
    langs: Sequence[str],
    sample: np.ndarray,
    engine: Engine,
    progress: StepCallback | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's theme and confidence: the fit's for the sample, the nearest theme by the
    engine (`ThemeClusterer.predict`) for the others."""
    n = vectors.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    confidence = np.zeros(n, dtype=np.float32)
    labels[sample], confidence[sample] = clusterer.labels_, clusterer.confidence_
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    if len(rest):
        labels[rest], confidence[rest] = engine.assign(
            clusterer, vectors[rest], [langs[i] for i in rest], progress
        )
    return labels, confidence


@dataclass(slots=True)
class _Built:
    themes: list[Theme]
    unit_themes: list[tuple[str, str | None, float]]
    lineage: RunLineage


def _flat_keywords(keywords: dict[str, list[tuple[str, float]]]) -> tuple[str, ...]:
    """Both languages' keywords in one list, best weight first (what registry compares)."""
    pairs = [pair for words in keywords.values() for pair in words]
    return tuple(w for w, _ in sorted(pairs, key=lambda p: (-p[1], p[0])))


def _unit_vector(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _snapshots(
    clusters: Sequence[RunCluster], members: dict[str, set[str]], pinned: frozenset[str]
) -> list[ThemeSnapshot]:
    return [
        ThemeSnapshot(
            theme_id=c.theme_id,
            unit_ids=frozenset(members.get(c.theme_id, ())),
            centroid=np.frombuffer(c.centroid, dtype=np.float32),
            name=c.name,
            keywords=tuple(c.keywords),
            pinned=c.theme_id in pinned,
        )
        for c in clusters
    ]


CONVERGED_BY = "voc:converged"
"""`created_by` of the merges voc makes when two themes' content converges (voc.registry)."""


def _converged_pairs(stored: Iterable[StoredCuration]) -> set[frozenset[str]]:
    """Pairs of ids a convergence joined before, applied or undone since: never proposed
    again, so a product manager's undo sticks."""
    return {
        frozenset((c.theme_id, c.target_id))
        for c in stored
        if c.created_by == CONVERGED_BY and c.kind == "merge" and c.target_id
    }


def _registry_curations(stored: Sequence[StoredCuration]) -> list[Curation]:
    return [
        Curation(
            kind=c.kind,  # type: ignore[arg-type]
            theme_id=c.theme_id,
            name=c.name,
            target_id=c.target_id,
            unit_ids=frozenset(c.unit_ids),
        )
        for c in stored
    ]


def _lineage_rows(run_id: str, level: int, events: Iterable[LineageEvent]) -> list[LineageRow]:
    return [
        LineageRow(
            run_id=run_id,
            level=level,
            kind=e.kind,
            theme_id=e.theme_id,
            other_ids=list(e.other_ids),
            overlap=None if e.overlap is None else round(e.overlap, 4),
            similarity=None if e.similarity is None else round(e.similarity, 4),
            detail=e.detail,
        )
        for e in events
    ]


def _previous_themes(
    store: Store, previous: Run | None, units: Sequence[UnitRef]
) -> np.ndarray | None:
    """Each unit's matched theme in the previous run as 0..k-1 (-1 new or unassigned); they
    vote in this run's consensus so that a week of new feedback re-cuts only the themes it
    clearly changes. None without a previous run."""
    if previous is None:
        return None
    members, _ = store.cluster_members(previous.run_id)
    theme_of = {unit: number for number, ids in enumerate(members.values()) for unit in ids}
    return np.array([theme_of.get(u.id, -1) for u in units], dtype=np.int64)


def _build_themes(
    run: Run,
    units: Sequence[UnitRef],
    tokens: Sequence[Sequence[str]],
    vectors: np.ndarray,
    clusterer: ThemeClusterer,
    labels: np.ndarray,
    confidences: np.ndarray,
    store: Store,
    previous: Run | None,
    texts: UnitTexts,
) -> _Built:
    """Match the clusters to the previous run's, re-apply curations, and describe what is
    served.

    Children are matched by units and centroids (voc.registry); two themes whose content
    converged in this run are merged by curations voc makes itself (`CONVERGED_BY`), written
    with the run and re-applied after every re-cluster like a product manager's. Parents
    (groups of two or more children) are matched the same way in a second call on their own
    snapshots, so a parent keeps its id while it groups the same feedback. Ids come from the
    workspace's one counter, so a minted id is never one used before.
    """
    counter = [store.max_theme_number(run.workspace_id)]

    def mint() -> str:
        counter[0] += 1
        return f"T-{counter[0]:04d}"

    every_curation = store.list_curations(run.workspace_id, active_only=False)
    curations = _registry_curations([c for c in every_curation if c.active])
    pinned = pinned_ids(curations)
    # A run made before lineage was recorded has no matched clusters: it is matched as none.
    prev_clusters = store.run_clusters(previous.run_id) if previous else []
    members: dict[str, set[str]] = {}
    prev_units: set[str] = set()
    if previous is not None and prev_clusters:
        members, prev_units = store.cluster_members(previous.run_id)
    prev_children = [c for c in prev_clusters if c.level == 0]
    prev_parents = [c for c in prev_clusters if c.level == 1]
    parent_members: dict[str, set[str]] = {}
    for c in prev_children:
        if c.parent_id:
            parent_members.setdefault(c.parent_id, set()).update(members.get(c.theme_id, ()))
    unit_ids = [u.id for u in units]

    children = describe_themes(units, tokens, vectors, labels, n_quotes=0, texts=texts)
    described = {d.label: d for d in children}
    child_units: dict[int, set[str]] = {}
    for uid, lb in zip(unit_ids, labels, strict=True):
        if lb >= 0:
            child_units.setdefault(int(lb), set()).add(uid)
    current = [
        ClusterSnapshot(
            label=d.label,
            unit_ids=frozenset(child_units[d.label]),
            centroid=clusterer.centroids_[d.label],
            name=d.name,
            keywords=_flat_keywords(d.keywords),
        )
        for d in children
    ]
    previous_children = _snapshots(prev_children, members, pinned)
    matching = match_runs(
        previous_children, current, mint, previous_units=prev_units, current_units=unit_ids
    )
    matching = merge_converged(
        previous_children,
        current,
        matching,
        previous_units=prev_units,
        current_units=unit_ids,
        curations=curations,
        settled=_converged_pairs(every_curation),
    )
    converged = [(found, cur) for found in matching.converged for cur in found.curations()]

    child_count = np.bincount(clusterer.parent_, minlength=clusterer.n_parents_)
    parent_labels = np.array(
        [
            clusterer.parent_[lb] if lb >= 0 and child_count[clusterer.parent_[lb]] > 1 else -1
            for lb in labels
        ]
    )
    parents = describe_themes(units, tokens, vectors, parent_labels, texts=texts)
    parent_units: dict[int, set[str]] = {}
    for uid, lb in zip(unit_ids, parent_labels, strict=True):
        if lb >= 0:
            parent_units.setdefault(int(lb), set()).add(uid)
    parent_centroid = {
        d.label: _unit_vector(clusterer.centroids_[clusterer.parent_ == d.label].mean(axis=0))
        for d in parents
    }
    parent_matching = match_runs(
        _snapshots(prev_parents, parent_members, frozenset()),
        [
            ClusterSnapshot(
                label=d.label,
                unit_ids=frozenset(parent_units[d.label]),
                centroid=parent_centroid[d.label],
                name=d.name,
                keywords=_flat_keywords(d.keywords),
            )
            for d in parents
        ],
        mint,
        previous_units=prev_units,
        current_units=unit_ids,
    )
    parent_ids = parent_matching.theme_ids()
    prev_names = {c.theme_id: c.names for c in prev_clusters}

    child_ids = matching.theme_ids()
    clusters: list[RunCluster] = []
    for ct in matching.clusters:
        d = described[ct.label]
        parent = int(clusterer.parent_[ct.label])
        clusters.append(
            RunCluster(
                theme_id=ct.theme_id,
                level=0,
                parent_id=parent_ids.get(parent),
                name=ct.name,
                names=prev_names.get(ct.theme_id, d.names) if ct.name_kept else d.names,
                keywords=list(_flat_keywords(d.keywords)),
                size=d.size,
                centroid=clusterer.centroids_[ct.label].astype(np.float32).tobytes(),
            )
        )
    parent_names = {c.label: c for c in parent_matching.clusters}
    for d in parents:
        pt = parent_names[d.label]
        clusters.append(
            RunCluster(
                theme_id=pt.theme_id,
                level=1,
                parent_id=None,
                name=pt.name,
                names=prev_names.get(pt.theme_id, d.names) if pt.name_kept else d.names,
                keywords=list(_flat_keywords(d.keywords)),
                size=d.size,
                centroid=parent_centroid[d.label].tobytes(),
            )
        )
    cluster_ids = {
        uid: child_ids[int(lb)] for uid, lb in zip(unit_ids, labels, strict=True) if lb >= 0
    }
    confidence = {uid: float(c) for uid, c in zip(unit_ids, confidences, strict=True)}
    curated = apply_curation(matching, curations + [cur for _, cur in converged])
    by_id = {c.theme_id: c for c in clusters}
    parent_themes = []
    for d in parents:
        theme_id = parent_names[d.label].theme_id
        theme = _theme(run, d, theme_id, 1, None, parent_centroid[d.label])
        theme.name, theme.names = by_id[theme_id].name, by_id[theme_id].names
        parent_themes.append(theme)
    served, unit_themes = serve_themes(
        run,
        units,
        tokens,
        vectors,
        curated.themes,
        child_ids,
        clusters,
        parent_themes,
        confidence,
        clusterer.lang_means_,
        texts,
        known={frozenset(child_units[d.label]): d for d in children},
    )
    events = _lineage_rows(run.run_id, 0, curated.events) + _lineage_rows(
        run.run_id, 1, parent_matching.events
    )
    dates = [u.created_at for u in units if u.created_at is not None]
    return _Built(
        served,
        unit_themes,
        RunLineage(
            clusters=clusters,
            cluster_ids=cluster_ids,
            events=events,
            stability=round(matching.stability, 4) if prev_clusters else None,
            data_until=max(dates, default=None),
            hidden=frozenset(t.theme_id for t in curated.themes if t.hidden),
            curations=[
                NewCuration(
                    "merge", cur.theme_id, cur.target_id, CONVERGED_BY, found.reason(cur.theme_id)
                )
                for found, cur in converged
            ],
        ),
    )


def serve_themes(
    run: Run,
    units: Sequence[FeedbackUnit] | Sequence[UnitRef],
    tokens: Sequence[Sequence[str]],
    vectors: np.ndarray,
    results: Sequence[ThemeResult],
    label_ids: dict[int, str],
    clusters: Sequence[RunCluster],
    parent_themes: Sequence[Theme],
    confidence: dict[str, float],
    lang_means: dict[str, np.ndarray],
    texts: UnitTexts | None = None,
    known: abc.Mapping[frozenset[str], ThemeDescription] | None = None,
) -> tuple[list[Theme], list[tuple[str, str | None, float]]]:
    """The themes users see: one per curated result, described from its own units (a merged
    or split-off theme gets the keywords and quotes of what it now holds), under the name
    matching or curation chose; a parent left without a child is dropped.

    A theme made of clusters (`label_ids` maps a result's labels to matched cluster ids) has
    the size-weighted mean of their centroids; a split-off theme (no cluster) the mean of its
    units' vectors in the run's language-centred space, so live assignment places new units
    the same way the run did.

    `known` holds the descriptions (without quotes) of the clusters the run found, by their
    units: when the served themes are exactly those clusters (no curation moved a unit), their
    keywords and names are those and only the quotes are chosen here. Units held without
    text come with their `texts`.
    """
    held = unit_texts(units, texts)
    by_id = {c.theme_id: c for c in clusters}
    index = {u.id: i for i, u in enumerate(units)}
    served_label = np.full(len(units), -1, dtype=np.int64)
    for k, result in enumerate(results):
        for uid in result.unit_ids:
            served_label[index[uid]] = k
    sets = [frozenset(r.unit_ids) for r in results]
    if known and len(known) == len(sets) and all(u in known for u in sets):
        described = {}
        for k, unit_set in enumerate(sets):
            idx = np.flatnonzero(served_label == k)
            described[k] = dataclasses.replace(
                known[unit_set],
                label=k,
                quotes=theme_quotes(held, idx.tolist(), vectors[idx]),
            )
    else:
        described = {
            d.label: d
            for d in describe_themes(units, tokens, vectors, served_label.tolist(), texts=held)
        }
    out: list[Theme] = []
    for k, result in enumerate(results):
        if k not in described:
            continue
        sources = [by_id[label_ids[lb]] for lb in result.labels]
        if sources:
            weights = np.array([c.size for c in sources], dtype=np.float64)
            stacked = np.vstack([np.frombuffer(c.centroid, dtype=np.float32) for c in sources])
            centroid = _unit_vector((stacked * weights[:, None]).sum(axis=0))
        else:
            idx = np.flatnonzero(served_label == k)
            centred, _ = center_languages(
                vectors[idx], [units[i].lang for i in idx], lang_means or None
            )
            centroid = _unit_vector(centred.mean(axis=0))
        largest = max(sources, key=lambda c: c.size) if sources else None
        theme = _theme(
            run, described[k], result.theme_id, 0, largest.parent_id if largest else None, centroid
        )
        theme.name = result.name
        if result.name_source in ("kept", "new") and largest is not None:
            theme.names = largest.names
        out.append(theme)
    has_child = {t.parent_id for t in out}
    out.sort(key=lambda t: (-t.size, t.theme_id))
    out += [p for p in parent_themes if p.theme_id in has_child]
    unit_themes = [
        (u.id, results[lb].theme_id if lb >= 0 else None, confidence.get(u.id, 0.0))
        for u, lb in zip(units, served_label.tolist(), strict=True)
    ]
    return out, unit_themes


def _theme(
    run: Run,
    d: ThemeDescription,
    theme_id: str,
    level: int,
    parent_id: str | None,
    centroid: np.ndarray,
) -> Theme:
    return Theme(
        theme_id=theme_id,
        run_id=run.run_id,
        workspace_id=run.workspace_id,
        level=level,
        parent_id=parent_id,
        name=d.name,
        names=d.names,
        keywords=d.keywords,
        size=d.size,
        langs=d.langs,
        quotes=[
            {
                "unit_id": q.unit_id,
                "record_id": q.record_id,
                "span": [q.start, q.end],
                "text": q.text,
                "lang": q.lang,
                "source": q.source,
                "created_at": q.created_at.isoformat() if q.created_at else None,
                "reason": q.reason,
            }
            for q in d.quotes
        ],
        centroid=centroid.tobytes(),
    )


# -- needs: intents, signals, stages per unit; need gap and priority per theme ---------------


def needs_params(settings: VocSettings) -> NeedsParams:
    return NeedsParams(priority_weights=dict(settings.priority_weights))


def analyze_units(
    store: Store,
    workspace_id: str,
    units: Sequence[FeedbackUnit] | Sequence[UnitRef],
    analyzer: NeedsAnalyzer | None = None,
    model: NeedsModel | None | Literal["default"] = "default",
    records: abc.Mapping[str, abc.Mapping[str, Any]] | None = None,
    batch_size: int = NEEDS_BATCH,
) -> dict[str, UnitNeeds]:
    """Every unit's needs: stored ones made by this lexicon and model version, the rest read
    now (lexicon with their records' metadata for stage hints, then the classifiers where the
    unit's embedding by the model's embedder is cached) and stored, so a re-run reads only new
    or changed units. A unit read by the lexicon alone is stored under the lexicon's version
    and read again once its embedding is there. `records` is the records' metadata when the
    caller has already read it. Units are read and stored `batch_size` at a time; units held
    without text (`UnitRef`) have theirs fetched a batch at a time."""
    a = analyzer or default_analyzer()
    m = default_model() if model == "default" else model
    full = needs_version(a, m)
    ids = None if len(units) > 5000 else [u.id for u in units]
    have = store.unit_needs(workspace_id, full, ids)
    missing = [u for u in units if u.id not in have]
    if not missing:
        return have
    meta = records
    if meta is None:
        meta = store.record_metadata(workspace_id, {u.record_id for u in missing})
    # In batches, each stored before the next is read: a first run over a million units held
    # every unit's vectors and two readings at once (10.9 GB), and an interrupted one kept
    # nothing.
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        norm = _norm_texts(store, workspace_id, batch)
        hashes = [u.text_hash if isinstance(u, UnitRef) else text_hash(u.norm_text) for u in batch]
        fresh = {
            u.id: a.analyze(text, meta.get(u.record_id), normalized=True)
            for u, text in zip(batch, norm, strict=True)
        }
        if m is not None:
            cached = store.cached_vectors(m.embedder_id, set(hashes))
            ready = [k for k, h in enumerate(hashes) if h in cached]
            if ready:
                vectors = np.vstack([cached[hashes[k]] for k in ready])
                del cached
                got = m.refine(
                    [fresh[batch[k].id] for k in ready],
                    [norm[k] for k in ready],
                    vectors.astype(np.float32),
                )
                refined = {batch[k].id: n for k, n in zip(ready, got, strict=True)}
                store.save_unit_needs(workspace_id, full, refined)
                fresh.update(refined)
                have.update(refined)
        plain = {uid: n for uid, n in fresh.items() if uid not in have}
        store.save_unit_needs(workspace_id, a.version, plain)
        have.update(plain)
    return have


def _norm_texts(
    store: Store, workspace_id: str, units: Sequence[FeedbackUnit] | Sequence[UnitRef]
) -> list[str]:
    """The units' normalised texts: their own, or fetched for units held without text."""
    refs = [u.id for u in units if isinstance(u, UnitRef)]
    found = store.norm_texts(workspace_id, refs) if refs else {}
    return [_stored(found, u.id) if isinstance(u, UnitRef) else u.norm_text for u in units]


def needs_version(analyzer: NeedsAnalyzer, model: NeedsModel | None) -> str:
    """The version a unit's needs are stored under: the lexicon's, plus the classifiers'
    when they refined the reading."""
    return f"{analyzer.version}+{model.version}" if model else analyzer.version


class NeedsReader:
    """Reads the needs of a re-cluster's unread units in a second process while the run
    assigns and describes, then shares what is left with the run, so that a first run's
    needs step costs what the two cores can do together.

    Reading needs (the lexicon's patterns over every unit, then the classifiers) is pure
    Python, 4-5 s for 10,000 new units, and so is describing the themes (jieba and spaCy
    tokenising): run one after the other they keep one core of two idle. The reader is a fork
    of the re-cluster's process taken after the fit (the units and their cached vectors are
    there). The unread units are cut into batches of `batch_size`; the reader claims them one
    at a time from a shared counter and stores each through a connection of its own, as
    `analyze_units` does. When the run has described its themes it claims batches too
    (`share`) until none is left, then waits for the reader's last one; its needs step's
    `analyze_units` finds every reading stored. A reader that fails or is stopped costs time,
    never a result: what it left unread is read by the run, and readings are the same in
    either process.

    Started only where it can help and is safe: `threads` >= 2, a platform that forks, a
    database another process can open (not in-memory SQLite), and units never read. Units
    the lexicon alone read are left to the run's needs step: their embedding may be cached by
    now (to be read again by the classifiers), or may never be (another embedder).
    """

    #: Units a process claims at a time: small enough that neither process waits long for
    #: the other's last batch (about 1 s of reading), large enough to store in one go.
    batch_size: int = 2_000
    #: How long the reader may go without storing a batch before the run gives up on it and
    #: reads the rest itself: a fork taken while another thread of the parent held a lock the
    #: reader needs would never store one.
    stall_s: float = 300.0

    def __init__(
        self,
        process: BaseProcess,
        store: Store,
        workspace_id: str,
        versions: Collection[str],
        batches: Sequence[Sequence[FeedbackUnit] | Sequence[UnitRef]] = (),
        claimed: Any = None,
    ) -> None:
        self.process = process
        self.store = store
        self.workspace_id = workspace_id
        self.versions = versions
        self.batches = batches
        self.claimed = claimed
        """Shared counter (a `multiprocessing.Value`): the next batch to claim."""

    @classmethod
    def start(
        cls,
        store: Store,
        settings: VocSettings,
        workspace_id: str,
        units: Sequence[FeedbackUnit] | Sequence[UnitRef],
        batch_size: int | None = None,
    ) -> NeedsReader | None:
        """Fork a reader for `units` never read, in batches of `batch_size` (the class's by
        default); None where it cannot help."""
        if settings.threads < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        if _in_memory(store.url):
            return None
        analyzer = default_analyzer()
        versions = {analyzer.version, needs_version(analyzer, default_model())}
        if store.count_unit_needs(workspace_id, versions) >= len(units):
            return None
        read = store.unit_ids_with_needs(workspace_id, versions)
        unread = [u for u in units if u.id not in read]
        del read
        if not unread:
            return None
        size = batch_size or cls.batch_size
        batches = [unread[i : i + size] for i in range(0, len(unread), size)]
        context = multiprocessing.get_context("fork")
        claimed = context.Value("i", 0)
        process = context.Process(
            target=_read_needs,
            args=(store.url, workspace_id, batches, claimed),
            name="voc-needs-reader",
            daemon=True,
        )
        # The fork shares the run's memory copy-on-write; a garbage collection in the reader
        # would write to every tracked object's header and copy the run's pages. Frozen
        # objects are never collected, in either process.
        gc.freeze()
        try:
            process.start()
        except (OSError, AssertionError) as exc:  # AssertionError: a daemonic parent
            log.warning("needs_reader_not_started error=%s", failure_reason(exc))
            return None
        finally:
            gc.unfreeze()
        return cls(process, store, workspace_id, versions, batches, claimed)

    def share(self) -> None:
        """Read, in this process, the batches the reader has not claimed yet."""
        if self.claimed is not None:
            _read_batches(self.store, self.workspace_id, self.batches, self.claimed)

    def wait(self) -> bool:
        """Wait for the reader; whether it read and stored every batch it claimed. A reader
        that stores nothing for `stall_s` is stopped: the needs step reads the rest."""
        stored = self.store.count_unit_needs(self.workspace_id, self.versions)
        progress_at = time.monotonic()
        while True:
            self.process.join(min(1.0, self.stall_s))
            if self.process.exitcode is not None:
                break
            now = self.store.count_unit_needs(self.workspace_id, self.versions)
            if now > stored:
                stored, progress_at = now, time.monotonic()
            elif time.monotonic() - progress_at > self.stall_s:
                log.warning("needs_reader_stalled stall_s=%s: stopping it", self.stall_s)
                self.stop()
                return False
        if self.process.exitcode == 0:
            return True
        log.warning(
            "needs_reader_failed exitcode=%s: the needs step reads the rest itself",
            self.process.exitcode,
        )
        return False

    def stop(self) -> None:
        """End the reader now (the run failed or was stopped); what it stored stays valid."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)


def _in_memory(url: str) -> bool:
    parsed = sa_make_url(url)
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    )


def _read_batches(
    store: Store,
    workspace_id: str,
    batches: Sequence[Sequence[FeedbackUnit] | Sequence[UnitRef]],
    claimed: Any,
) -> None:
    """Claim batches from the shared counter and read them until none is left. A counter
    whose lock stays taken (its holder killed inside the few instructions it holds it) ends
    the claiming: what is left is read by the needs step."""
    analyzer, model = default_analyzer(), default_model()
    lock = claimed.get_lock()
    while True:
        if not lock.acquire(timeout=10):
            log.warning("needs_batches_lock_timeout: the needs step reads the rest")
            return
        try:
            index = claimed.value
            claimed.value = index + 1
        finally:
            lock.release()
        if index >= len(batches):
            return
        analyze_units(store, workspace_id, batches[index], analyzer, model)


def _read_needs(
    url: str,
    workspace_id: str,
    batches: Sequence[Sequence[FeedbackUnit] | Sequence[UnitRef]],
    claimed: Any,
) -> None:
    """The reader process: default signal handling (the parent's handlers raise into its own
    run), one BLAS thread (the other core is the run's), a connection of its own."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        with threadpool_limits(1, user_api="blas"):
            store = Store(url)
            try:
                _read_batches(store, workspace_id, batches, claimed)
            finally:
                store.close()
    except Exception as exc:
        log.warning("needs_reader_error error=%s", failure_reason(exc))
        raise SystemExit(1) from None


def attach_needs(
    store: Store,
    settings: VocSettings,
    run: Run,
    served: Sequence[Theme],
    unit_themes: Sequence[tuple[str, str | None, float]],
    units: Sequence[FeedbackUnit] | Sequence[UnitRef],
) -> dict[str, ThemeNeeds]:
    """Profile every served theme (a parent over its children's units) and rank level-0 and
    parent themes by priority, each level against its own; sets `Theme.needs`."""
    analyzer = default_analyzer()
    params = needs_params(settings)
    meta = store.record_metadata(run.workspace_id)
    needs = analyze_units(store, run.workspace_id, units, analyzer, records=meta)
    by_id = {u.id: u for u in units}
    members: dict[str, list[str]] = {}
    for uid, tid, _ in unit_themes:
        if tid is not None:
            members.setdefault(tid, []).append(uid)
    parent_of = {t.theme_id: t.parent_id for t in served if t.level == 0 and t.parent_id}
    for child, parent in parent_of.items():
        members.setdefault(parent, []).extend(members.get(child, ()))
    totals = record_ratings(meta, params.rating_fields)
    until = max((u.created_at for u in units if u.created_at is not None), default=None)
    profiles: dict[str, ThemeNeeds] = {}
    for theme in served:
        uids = [u for u in members.get(theme.theme_id, ()) if u in needs]
        context = [
            UnitContext(by_id[u].record_id, by_id[u].lang, by_id[u].source, by_id[u].created_at)
            for u in uids
        ]
        topics = {k: v for k, v in theme.names.items() if v} or {"zh": theme.name, "en": theme.name}
        profiles[theme.theme_id] = theme_needs(
            [needs[u] for u in uids], context, topics, analyzer, meta, totals, until, params
        )
    for level in (0, 1):
        rank_priorities(
            {t.theme_id: profiles[t.theme_id] for t in served if t.level == level}, params
        )
    for theme in served:
        theme.needs = profiles[theme.theme_id].to_dict()
    return profiles


# -- live assignment between runs -------------------------------------------------------------


class ThemeAssigner:
    """Puts newly submitted units into the current run's themes at once, the way the run's
    clusterer would (`ThemeClusterer.predict`): vectors centred with the run's language means,
    the nearest level-0 centroid by cosine, kept when it reaches the threshold, otherwise
    pending until the next re-cluster.

    `threshold` None uses the run's own (the similarity at which it assigned outliers); a
    number overrides it. A run's centroids are read once and kept, so an assignment costs one
    embedding and one matrix product.
    """

    CACHED_RUNS = 32
    FALLBACK_THRESHOLD = 0.2
    """For runs stored without their space (made before it was recorded)."""

    def __init__(self, embedder: Embedder, threshold: float | None = None) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self._runs: dict[str, _RunIndex] = {}
        self._lock = threading.Lock()

    def _index(self, store: Store, workspace_id: str, run: Run) -> _RunIndex:
        run_id = run.run_id
        with self._lock:
            cached = self._runs.get(run_id)
        # A curation (in any process) replaces the run's themes and bumps its themes_version.
        if cached is not None and cached.themes_version >= run.themes_version:
            return cached
        children = [t for t in store.list_themes(run_id) if t.level == 0]
        centroids = np.zeros((len(children), self.embedder.dim), dtype=np.float32)
        for i, theme in enumerate(children):
            centroids[i] = np.frombuffer(theme.centroid, dtype=np.float32)
        space = store.run_space(run_id)
        means = (
            {k: np.frombuffer(v, dtype=np.float32) for k, v in space.lang_means.items()}
            if space
            else {}
        )
        threshold = self.threshold
        if threshold is None:
            threshold = space.assign_threshold if space else self.FALLBACK_THRESHOLD
        index = _RunIndex(
            [t.theme_id for t in children],
            centroids,
            means,
            threshold,
            workspace_id,
            run.themes_version,
        )
        with self._lock:
            # A workspace's new run retires its older ones here: a service re-clustering one
            # workspace all day would otherwise hold every run it ever served.
            for old in [r for r, i in self._runs.items() if i.workspace_id == workspace_id]:
                del self._runs[old]
            if len(self._runs) >= self.CACHED_RUNS:
                self._runs.clear()
            self._runs[run_id] = index
        return index

    def forget(self, run_id: str) -> None:
        """Drop a run's index after its themes changed (a curation re-derived them)."""
        with self._lock:
            self._runs.pop(run_id, None)

    def assign(
        self, store: Store, workspace_id: str, units: Sequence[FeedbackUnit]
    ) -> list[LiveAssignment]:
        """Embed (through the cache, so the next run reuses the vectors), assign and store."""
        if not units:
            return []
        vectors = CachedEmbedder(self.embedder, store).encode([u.norm_text for u in units])
        run = store.current_run(workspace_id)
        rows: list[LiveAssignment] = []
        if run is None:
            rows = [LiveAssignment(u.id, workspace_id, None, None, 0.0) for u in units]
        else:
            index = self._index(store, workspace_id, run)
            if index.lang_means:
                vectors, _ = center_languages(vectors, [u.lang for u in units], index.lang_means)
            sims = vectors @ index.centroids.T
            for unit, row in zip(units, sims, strict=True):
                best = int(np.argmax(row)) if index.theme_ids else -1
                similarity = float(row[best]) if best >= 0 else 0.0
                theme = (
                    index.theme_ids[best] if best >= 0 and similarity >= index.threshold else None
                )
                rows.append(
                    LiveAssignment(unit.id, workspace_id, run.run_id, theme, round(similarity, 4))
                )
        store.write_live_assignments(rows)
        return rows

    def assign_stale(self, store: Store, workspace_id: str, run_id: str) -> int:
        """After a run: give its themes to units submitted while it was clustering."""
        stale = store.stale_live_units(workspace_id, run_id)
        self.assign(store, workspace_id, stale)
        return len(stale)


@dataclass(frozen=True, slots=True)
class _RunIndex:
    theme_ids: list[str]
    centroids: np.ndarray
    lang_means: dict[str, np.ndarray]
    threshold: float
    workspace_id: str
    themes_version: int = 0


# -- stateless clustering of a CSV -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    """One input row's theme in a stateless run (`voc cluster`)."""

    row: int
    """0-based index of the data row in the input file."""
    id: str | None
    theme_id: int
    """-1 only for an unassigned row (an empty text, or a unit far from every theme)."""
    theme_label: str
    confidence: float
    intent: str = ""
    """voc.needs: pain, request, question, praise or other; empty for an empty text."""
    stage: str = ""
    sentiment: str = ""


def cluster_csv(
    path: Path,
    text_column: str,
    embedder: Embedder,
    settings: VocSettings,
    id_column: str | None = None,
    seed: int = 0,
    progress: StepCallback | None = None,
) -> list[Assignment]:
    """Themes for every row of a CSV in any encoding the ingestion layer reads; nothing stored.

    Each row is one unit (no segmentation): the caller chose what a row means.
    """
    decoded = read_text(path)
    rows = list(csv.DictReader(io.StringIO(decoded.text, newline="")))
    columns = list(rows[0]) if rows else []
    for wanted in filter(None, (text_column, id_column)):
        if rows and wanted not in rows[0]:
            raise InputError(
                f"{path.name} has no column {wanted!r}; its columns are {', '.join(columns)}."
            )
    texts = [normalize_for_analysis(r.get(text_column) or "") for r in rows]
    kept = [i for i, t in enumerate(texts) if t]
    units = [
        FeedbackUnit(
            id=str(i),
            record_id=str(i),
            workspace_id="",
            index=0,
            start=0,
            end=len(texts[i]),
            text=texts[i],
            norm_text=texts[i],
            lang=detect_lang(texts[i]),
        )
        for i in kept
    ]
    if len(units) < MIN_ROWS:
        raise InputError(
            f"{path.name} has {len(units)} non-empty texts in column {text_column!r}; at least "
            f"{MIN_ROWS} are needed to find themes."
        )
    vectors = LocalEngine().embed([u.norm_text for u in units], embedder, progress)
    clusterer = ThemeClusterer(random_state=seed, n_jobs=settings.threads).fit(
        vectors, lang=[u.lang for u in units]
    )
    tokens = Tokenizer.shared(settings).tokens_many([(u.norm_text, u.lang) for u in units])
    labels = {
        d.label: d.name
        for d in describe_themes(units, tokens, vectors, clusterer.labels_, n_quotes=0)
    }
    found = {
        i: (int(lb), float(c))
        for i, lb, c in zip(kept, clusterer.labels_, clusterer.confidence_, strict=True)
    }
    analyzer = default_analyzer()
    read = [analyzer.analyze(texts[i], normalized=True) for i in kept]
    model = default_model()
    if model is not None and model.embedder_id == embedder.model_id:
        read = model.refine(read, [texts[i] for i in kept], vectors)
    needs = dict(zip(kept, read, strict=True))
    out = []
    for i, row in enumerate(rows):
        theme, confidence = found.get(i, (-1, 0.0))
        unit = needs.get(i)
        out.append(
            Assignment(
                row=i,
                id=row.get(id_column) if id_column else None,
                theme_id=theme,
                theme_label=labels.get(theme, ""),
                confidence=round(confidence, 4),
                intent=unit.intent if unit else "",
                stage=unit.stage if unit else "",
                sentiment=unit.sentiment if unit else "",
            )
        )
    return out


# -- curation of the current run -------------------------------------------------------------

CURATION_KINDS = ("rename", "merge", "split_off", "pin", "hide")


def curate(
    store: Store,
    settings: VocSettings,
    workspace_id: str,
    kind: str,
    theme_id: str,
    created_by: str,
    name: str | None = None,
    target_id: str | None = None,
    unit_ids: Sequence[str] = (),
) -> tuple[StoredCuration, list[Theme]]:
    """Record a curation and apply it to the current run at once (every re-cluster after
    re-applies it). Returns the curation (for `split_off`, its `theme_id` is the new theme's,
    minted from the workspace counter) and the run's served themes after it.
    """
    run = store.current_run(workspace_id)
    if run is None:
        raise NotFoundError(
            f"workspace {workspace_id!r} has no themes to curate yet; run `voc recluster` first."
        )
    if kind not in CURATION_KINDS:
        raise InputError(f"curation kind must be one of {', '.join(CURATION_KINDS)}, not {kind!r}")
    served = {t.theme_id: t for t in store.list_themes(run.run_id) if t.level == 0}
    if theme_id not in served:
        raise NotFoundError(f"theme {theme_id!r} is not a theme of the current run")
    if kind in ("rename", "split_off") and not (name and name.strip()):
        raise InputError(f"a {kind} needs a non-empty name")
    stored_units: list[str] = []
    if kind == "merge":
        if target_id == theme_id:
            raise InputError(f"theme {theme_id} cannot be merged into itself")
        if target_id not in served:
            raise NotFoundError(f"merge target {target_id!r} is not a theme of the current run")
    elif kind == "split_off":
        members = {u for u, (t, _) in store.unit_assignments(run.run_id).items() if t == theme_id}
        wanted = list(dict.fromkeys(unit_ids))
        outside = [u for u in wanted if u not in members]
        if not wanted or outside:
            raise InputError(
                f"a split needs unit ids of theme {theme_id}; "
                + (f"not in it: {', '.join(outside[:5])}" if outside else "none were given")
            )
        stored_units = wanted
        theme_id = f"T-{store.max_theme_number(workspace_id) + 1:04d}"
    curation = store.add_curation(
        workspace_id,
        kind,
        theme_id,
        created_by,
        name=name.strip() if name else None,
        target_id=target_id if kind == "merge" else None,
        unit_ids=stored_units,
    )
    themes = apply_curations_now(store, settings, run, curation)
    return curation, themes


def apply_curations_now(
    store: Store, settings: VocSettings, run: Run, newest: StoredCuration
) -> list[Theme]:
    """Re-derive the run's served themes from its matched clusters and every active
    curation, exactly as a re-cluster would, and record the newest curation in the lineage."""

    def lineage(curated: Matching) -> list[LineageRow]:
        applied = not any(
            (c.kind, c.theme_id) == (newest.kind, newest.theme_id) for c in curated.unapplied
        )
        return _lineage_rows(run.run_id, 0, curated.events[-1:] if applied else ())

    renamed = {newest.theme_id: newest.target_id} if newest.target_id else {}
    return _reserve_curated(store, settings, run, lineage, renamed)


class CurationInactiveError(VocError):
    """The curation was already undone (or set aside as conflicting); undoing it again would
    change nothing, so the caller hears about it rather than getting a silent success."""

    code = "conflict"
    status = 409


def undo_curation(
    store: Store, settings: VocSettings, workspace_id: str, curation_id: int, created_by: str
) -> tuple[StoredCuration, list[Theme]]:
    """Stop applying a curation and re-derive the current run's served themes without it, as
    `curate` does after a change; it stays on record, inactive, and the lineage says it was
    undone. Returns the curation, now inactive, and the run's served themes after the undo.
    """
    found = store.get_curation(curation_id)
    if found is None or found.workspace_id != workspace_id:
        raise NotFoundError(f"curation {curation_id} is not a curation of {workspace_id!r}")
    if not found.active:
        raise CurationInactiveError(f"curation {curation_id} is already undone")
    run = store.current_run(workspace_id)
    store.deactivate_curation(curation_id)
    undone = dataclasses.replace(found, active=False)
    if run is None:
        return undone, []
    row = LineageRow(
        run_id=run.run_id,
        level=0,
        kind="curated",
        theme_id=found.theme_id,
        other_ids=[found.target_id] if found.target_id else [],
        overlap=None,
        similarity=None,
        detail=f"undone by {created_by}: {found.kind} (curation {curation_id})",
    )
    return undone, _reserve_curated(store, settings, run, lambda _: [row], {})


def _reserve_curated(
    store: Store,
    settings: VocSettings,
    run: Run,
    lineage: Callable[[Matching], Sequence[LineageRow]],
    renamed: dict[str, str],
) -> list[Theme]:
    """Serve the run's matched clusters with every active curation applied, as a re-cluster
    would, writing the lineage rows `lineage` picks from the curation's outcome."""
    clusters = store.run_clusters(run.run_id)
    members, every = store.cluster_members(run.run_id)
    children = [c for c in clusters if c.level == 0]
    label_ids = dict(enumerate(c.theme_id for c in children))
    base = Matching(
        clusters=tuple(
            ClusterTheme(i, c.theme_id, c.name, c.theme_id, True, None)
            for i, c in enumerate(children)
        ),
        themes=tuple(
            ThemeResult(c.theme_id, c.name, "kept", (i,), frozenset(members.get(c.theme_id, ())))
            for i, c in enumerate(children)
        ),
        events=(),
        stability=1.0,
        shared_units=0,
    )
    stored = store.list_curations(run.workspace_id)
    curated = apply_curation(base, _registry_curations(stored))
    units = [u for u in store.iter_unit_refs(run.workspace_id) if u.id in every]
    cached = store.cached_vectors(run.model_id, {u.text_hash for u in units})
    missing = [u.id for u in units if u.text_hash not in cached]
    if missing:
        raise StoreError(
            f"the embeddings of {len(missing)} units of run {run.run_id} are no longer cached; "
            "re-cluster to apply the curation"
        )
    vectors = np.vstack([cached[u.text_hash] for u in units]).astype(np.float32)
    del cached
    row = {u.id: i for i, u in enumerate(units)}
    labels = np.full(len(units), -1, dtype=np.int64)
    for k, result in enumerate(curated.themes):
        labels[[row[u] for u in result.unit_ids if u in row]] = k
    texts = StoredTexts(store, run.workspace_id, units)
    tokens = theme_tokens(Tokenizer.shared(settings), units, labels, texts=texts)
    space = store.run_space(run.run_id)
    means = (
        {k: np.frombuffer(v, dtype=np.float32) for k, v in space.lang_means.items()}
        if space
        else {}
    )
    assigned = store.unit_assignments(run.run_id)
    served, unit_themes = serve_themes(
        run,
        units,
        tokens,
        vectors,
        curated.themes,
        label_ids,
        clusters,
        [t for t in store.list_themes(run.run_id) if t.level == 1],
        {u: c for u, (_, c) in assigned.items()},
        means,
        texts,
    )
    attach_needs(store, settings, run, served, unit_themes, units)
    cluster_ids = {u: cid for cid, us in members.items() for u in us}
    hidden = frozenset(t.theme_id for t in curated.themes if t.hidden)
    store.replace_served(
        run,
        served,
        unit_themes,
        cluster_ids,
        hidden,
        lineage(curated),
        renamed,
    )
    return served


# -- alerts and the run summary --------------------------------------------------------------


PROPOSE_SIMILARITY = 0.5
"""Cosine (language-centred) two pending units need to count as saying the same thing: well
above what unrelated feedback scores, so a proposed theme is one problem, not a topic area.
With the default embedder, rewordings of one complaint score 0.7-0.95 within a language and
0.4-0.75 across English and Chinese, unrelated feedback under 0.3. The run's own assign
threshold is a floor, so a group is never looser than a theme."""
PROPOSE_NEIGHBOURS = 5
"""Neighbours each unit links to: at least `PROPOSE_MIN_UNITS` - 1, so the members of a
smallest group can all be each other's neighbours."""
PROPOSE_MIN_UNITS = 5
"""The smallest group worth a product manager's look, like the trends' `min_count`."""
_QUOTE_CHARS = 80


@dataclass(frozen=True, slots=True)
class PendingGroup:
    """Pending units close to each other: a problem no theme covers yet."""

    unit_ids: tuple[str, ...]
    quotes: tuple[str, ...]
    """Up to three unit texts, the most central (highest mean similarity to the group) first."""
    first_seen: datetime
    last_seen: datetime

    @property
    def group_id(self) -> str:
        """Stable while the group keeps its members, so a repeated alert reads as the same."""
        return "proposed-" + text_hash(",".join(self.unit_ids))[:12]

    def alert(self) -> Alert:
        start = period_start(self.last_seen, "week")
        first, last = f"{self.first_seen:%Y-%m-%d}", f"{self.last_seen:%Y-%m-%d}"
        span = first if first == last else f"{first} to {last}"
        examples = " / ".join(f"\u201c{_truncate(q)}\u201d" for q in self.quotes)
        return Alert(
            kind="proposed",
            theme_id=self.group_id,
            period=start,
            label=period_label(start, "week"),
            count=len(self.unit_ids),
            baseline=0.0,
            p_value=None,
            message=(
                f"Proposed theme: {len(self.unit_ids)} pending feedback units ({span}) far "
                f"from every theme but close to each other, such as {examples}"
            ),
        )


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1].rstrip() + "\u2026"


def pending_groups(store: Store, workspace_id: str) -> list[PendingGroup]:
    """Dense groups among the current run's pending units, so an emerging problem is proposed
    as soon as it is submitted rather than at the weekly re-cluster.

    Vectors come from the embedding cache under the run's model (live assignment put them
    there), centred with the run's language means as assignment does, so an English and a
    Chinese complaint about one thing meet. Two units are linked when each is among the
    other's `PROPOSE_NEIGHBOURS` nearest and their similarity reaches `PROPOSE_SIMILARITY`
    (or the run's assign threshold, if higher); mutual neighbours keep a unit that is merely
    near a group from chaining two groups together. Connected groups of at least
    `PROPOSE_MIN_UNITS` units are returned, largest first. A unit whose vector is not cached
    (embedded by another model) is left out: there is no embedder here to make one.
    """
    run = store.current_run(workspace_id)
    if run is None:
        return []
    pending = store.pending_units(workspace_id, run.run_id)
    if len(pending) < PROPOSE_MIN_UNITS:
        return []
    cached = store.cached_vectors(run.model_id, {text_hash(u.norm_text) for u, _ in pending})
    pending = [(u, seen) for u, seen in pending if text_hash(u.norm_text) in cached]
    if len(pending) < PROPOSE_MIN_UNITS:
        return []
    vectors = np.stack([cached[text_hash(u.norm_text)] for u, _ in pending]).astype(np.float32)
    space = store.run_space(run.run_id)
    threshold = PROPOSE_SIMILARITY
    if space is not None:
        threshold = max(threshold, space.assign_threshold)
        means = {k: np.frombuffer(v, dtype=np.float32) for k, v in space.lang_means.items()}
        if means:
            vectors, _ = center_languages(vectors, [u.lang for u, _ in pending], means)
    neighbours, similarity = nearest_neighbors(vectors, PROPOSE_NEIGHBOURS)
    near = [
        {int(j) for j, s in zip(row, sims, strict=True) if s >= threshold}
        for row, sims in zip(neighbours, similarity, strict=True)
    ]
    parent = list(range(len(pending)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, js in enumerate(near):
        for j in js:
            if i in near[j]:
                parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(pending)):
        members.setdefault(root(i), []).append(i)
    groups: list[PendingGroup] = []
    for idx in members.values():
        if len(idx) < PROPOSE_MIN_UNITS:
            continue
        centrality = (vectors[idx] @ vectors[idx].T).mean(axis=1)
        central = [idx[k] for k in np.argsort(-centrality, kind="stable")]
        seen = [pending[i][1] for i in idx]
        groups.append(
            PendingGroup(
                unit_ids=tuple(sorted(pending[i][0].id for i in idx)),
                quotes=tuple(pending[i][0].text for i in central[:3]),
                first_seen=min(seen),
                last_seen=max(seen),
            )
        )
    return sorted(groups, key=lambda g: (-len(g.unit_ids), g.unit_ids))


def workspace_alerts(store: Store, workspace_id: str) -> list[Alert]:
    """Alerts of the current run's latest week: spikes, emerging and silenced themes from the
    weekly trends (born dates from the lineage, so a theme born this run is emerging even if
    a few older units joined it), plus a `died` alert for each theme the run's matching found
    no cluster for."""
    run = store.current_run(workspace_id)
    if run is None:
        return []
    # Themed units before the volume, so concurrent submits only add to the volume (a unit
    # counted in a theme but not in the volume is refused by trend_points).
    observations = store.theme_observations(run.run_id)
    volume = Counter(d.date() for d in store.unit_dates(workspace_id) if d is not None)
    points = trend_points(observations, volume, "week")
    themes = store.list_themes(run.run_id)
    names = {t.theme_id: t.name for t in themes}
    hidden = store.hidden_themes(run.run_id)
    # A workspace's first run gives every theme its id at once: that says nothing about when
    # the theme started, so those themes count as born when their data first shows them, and
    # only themes that really start late are reported emerging.
    done = [r for r in store.list_runs(workspace_id) if r.status == "done"]
    first = min(done, key=lambda r: r.started_at).run_id if done else None
    born = {k: v.date() for k, v in store.births(workspace_id, exclude_run=first).items()}
    alerts = [a for a in detect_alerts(points, names=names, born=born) if a.theme_id not in hidden]
    data_until = run.data_until
    if data_until is not None:
        events = [
            LineageEvent(e.kind, e.theme_id)  # type: ignore[arg-type]
            for e in store.lineage(run.run_id)
            if e.level == 0 and e.kind == "died"
        ]
        previous_names = _previous_names(store, workspace_id, run)
        alerts += lineage_alerts(events, data_until.date(), "week", previous_names)
    return alerts + [g.alert() for g in pending_groups(store, workspace_id)]


def _previous_names(store: Store, workspace_id: str, run: Run) -> dict[str, str]:
    """Names of the themes of the run before `run` (where a died theme last had one)."""
    runs = [r for r in store.list_runs(workspace_id) if r.status == "done"]
    older = [r for r in runs if r.started_at < run.started_at]
    if not older:
        return {}
    return {t.theme_id: t.name for t in store.list_themes(older[0].run_id)}


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a weekly run did, for the CLI, pipelines/weekly_recluster.py and logs."""

    workspace_id: str
    run_id: str
    units: int
    themes: int
    unassigned: int
    lineage: dict[str, int]
    stability: float | None
    alerts: list[Alert]
    timings: dict[str, float]
    skipped: bool = False
    """True when nothing changed since the current run, so no run was made."""
    top_priority: list[tuple[str, str, float]] = field(default_factory=list)
    """(theme id, name, priority) of the highest-priority themes."""
    unstated: list[tuple[str, str, str]] = field(default_factory=list)
    """(theme id, name, need statement) of the unstated needs, strongest first."""

    def lines(self) -> list[str]:
        head = f"workspace {self.workspace_id}: run {self.run_id}"
        if self.skipped:
            head += " (up to date: no new feedback since this run; nothing re-clustered)"
        stability = (
            "n/a (no earlier run to compare)" if self.stability is None else f"{self.stability:.3f}"
        )
        counts = ", ".join(
            f"{k} {self.lineage.get(k, 0)}" for k in ("born", "died", "merged", "split")
        )
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        out = [
            head,
            f"  units {self.units}, themes {self.themes}, unassigned {self.unassigned}",
            f"  lineage: {counts}, continued {self.lineage.get('continued', 0)}, "
            f"curated {self.lineage.get('curated', 0)}",
            f"  stability {stability}",
            f"  alerts {len(self.alerts)}",
        ]
        out += [f"    [{a.kind}] {a.message}" for a in self.alerts]
        if self.top_priority:
            out.append(
                "  top priority: "
                + "; ".join(f"{t} {n} ({p:.0f})" for t, n, p in self.top_priority)
            )
        out.append(f"  unstated needs {len(self.unstated)}")
        out += [f"    {t} {n}: {statement}" for t, n, statement in self.unstated]
        out.append(f"  timings: {timing}")
        return out


def run_summary(store: Store, run: Run, skipped: bool = False) -> RunSummary:
    stability = run.stability
    events = [e for e in store.lineage(run.run_id) if e.level == 0]
    served = [t for t in store.list_themes(run.run_id) if t.level == 0 and t.needs]
    hidden = store.hidden_themes(run.run_id)
    served = [t for t in served if t.theme_id not in hidden]
    ranked = sorted(served, key=lambda t: (-t.needs["priority"], t.theme_id))  # type: ignore[index]
    unstated = sorted(
        (t for t in served if t.needs["unstated"]),  # type: ignore[index]
        key=lambda t: (-t.needs["unstated_score"], t.theme_id),  # type: ignore[index]
    )
    return RunSummary(
        workspace_id=run.workspace_id,
        run_id=run.run_id,
        units=run.n_units,
        themes=run.n_themes,
        unassigned=run.unassigned,
        lineage=dict(Counter(e.kind for e in events)),
        stability=stability,
        alerts=workspace_alerts(store, run.workspace_id),
        timings=run.timings,
        skipped=skipped,
        top_priority=[(t.theme_id, t.name, t.needs["priority"]) for t in ranked[:3]],  # type: ignore[index]
        unstated=[
            (t.theme_id, t.name, " / ".join(t.needs["need_statement"].values()))  # type: ignore[index]
            for t in unstated[:5]
        ],
    )


def weekly_recluster(
    store: Store,
    settings: VocSettings,
    workspace_id: str,
    embedder: Embedder,
    seed: int = 0,
    force: bool = False,
    progress: StepCallback | None = None,
) -> RunSummary:
    """One workspace's weekly run, safe to repeat: when the current run already covers every
    stored unit it is reported again instead of re-clustered (unless `force`), so a cron job
    that fires twice makes one run and posts its alerts once."""
    current = store.current_run(workspace_id)
    if current is not None and not force:
        _, covered = store.cluster_members(current.run_id)
        if covered and covered == {u.id for u in store.iter_unit_refs(workspace_id)}:
            return run_summary(store, current, skipped=True)
    run, _ = recluster(store, settings, workspace_id, embedder, seed, None, progress)
    return run_summary(store, run)


def post_run_alerts(settings: VocSettings, summary: RunSummary) -> DeliveryReport | None:
    """POST a fresh run's alerts to `VOC_WEBHOOK_URL`; None when no URL is set or the run was
    skipped (its alerts went out when it was made)."""
    if not settings.webhook_url or summary.skipped:
        return None
    report = post_alerts(settings.webhook_url, summary.alerts, workspace_id=summary.workspace_id)
    log.info(
        "alerts_posted workspace=%s sent=%d delivered=%s attempts=%d error=%s",
        summary.workspace_id,
        report.sent,
        report.delivered,
        report.attempts,
        report.error,
    )
    return report
