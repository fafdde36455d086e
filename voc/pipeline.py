"""The whole flow as plain functions; the CLI, pipelines/ and the API call these.

Ingestion: adapter drafts -> length check -> PII redaction -> content-hash id -> duplicate and
near-duplicate check -> segmentation into units -> store, in batches, one transaction each.
Every item an adapter reads ends as exactly one of accepted, duplicate or rejected.
"""

from __future__ import annotations

import csv
import io
import logging
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from voc import __version__
from voc.cluster import MIN_ROWS, ThemeClusterer, configure_numba_cache
from voc.embed import CachedEmbedder, Embedder
from voc.errors import InputError
from voc.ids import fingerprint, record_id, unit_id
from voc.ingest import get_adapter
from voc.ingest.base import Mapping, read_text
from voc.normalize import normalize_for_analysis
from voc.pii import Redactor
from voc.segment import Segmenter, detect_lang
from voc.settings import VocSettings
from voc.store import Store
from voc.themes import ThemeDescription, describe_themes
from voc.tokenize import Tokenizer
from voc.types import (
    FeedbackRecord,
    FeedbackUnit,
    Location,
    RecordDraft,
    Reject,
    Run,
    Theme,
    Turn,
)

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


# -- re-clustering ---------------------------------------------------------------------------

EMBED_BATCH = 2000
StepCallback = Callable[[str, int, int], None]
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


def embed_units(
    units: Sequence[FeedbackUnit], embedder: Embedder, progress: StepCallback | None = None
) -> np.ndarray:
    """Vectors of the units' analysis text, in batches so progress can be shown."""
    vectors = np.empty((len(units), embedder.dim), dtype=np.float32)
    for start in range(0, len(units), EMBED_BATCH):
        batch = units[start : start + EMBED_BATCH]
        vectors[start : start + len(batch)] = embedder.encode([u.norm_text for u in batch])
        if progress:
            progress("embed", start + len(batch), len(units))
    return vectors


def recluster(
    store: Store,
    settings: VocSettings,
    workspace_id: str,
    embedder: Embedder,
    seed: int = 0,
    clusterer_params: dict[str, Any] | None = None,
    progress: StepCallback | None = None,
) -> tuple[Run, list[Theme]]:
    """Cluster every stored unit of a workspace into a new run of themes.

    The run becomes current only when it is complete (one transaction); a failure marks it
    failed and leaves the previous run served.
    """
    params = {"seed": seed, **(clusterer_params or {})}
    run = Run(
        run_id=uuid.uuid4().hex,
        workspace_id=workspace_id,
        status="running",
        started_at=datetime.now(UTC),
        params=params,
        model_id=embedder.model_id,
        code_version=code_version(),
    )
    store.ensure_workspace(workspace_id)
    store.start_run(run)
    timings: dict[str, float] = {}
    try:
        clock = time.perf_counter()
        units = list(store.iter_units(workspace_id))
        if len(units) < MIN_ROWS:
            raise InputError(
                f"workspace {workspace_id!r} has {len(units)} feedback units; at least "
                f"{MIN_ROWS} are needed to find themes. Ingest more feedback first."
            )
        timings["load"] = time.perf_counter() - clock

        clock = time.perf_counter()
        cached = CachedEmbedder(embedder, store)
        vectors = embed_units(units, cached, progress)
        timings["embed"] = time.perf_counter() - clock

        clock = time.perf_counter()
        configure_numba_cache(settings.data_dir / "numba-cache")
        clusterer = ThemeClusterer(random_state=seed, **(clusterer_params or {}))
        if progress:
            progress("cluster", 0, 1)
        clusterer.fit(vectors, lang=[u.lang for u in units])
        if progress:
            progress("cluster", 1, 1)
        timings["cluster"] = time.perf_counter() - clock

        clock = time.perf_counter()
        tokens = Tokenizer(settings).tokens_many([(u.norm_text, u.lang) for u in units])
        run_themes, unit_themes = _build_themes(run, units, tokens, vectors, clusterer, store)
        timings["describe"] = time.perf_counter() - clock

        run.finished_at = datetime.now(UTC)
        run.n_units = len(units)
        run.n_themes = clusterer.n_themes_
        run.unassigned = int((clusterer.labels_ < 0).sum())
        run.timings = timings
        store.complete_run(run, run_themes, unit_themes)
    except BaseException as exc:
        store.fail_run(run, f"{type(exc).__name__}: {exc}")
        raise
    log.info(
        "recluster_done run_id=%s workspace=%s units=%d themes=%d unassigned=%d timings=%s",
        run.run_id,
        workspace_id,
        run.n_units,
        run.n_themes,
        run.unassigned,
        {k: round(v, 2) for k, v in run.timings.items()},
    )
    return run, run_themes


def _build_themes(
    run: Run,
    units: Sequence[FeedbackUnit],
    tokens: Sequence[Sequence[str]],
    vectors: np.ndarray,
    clusterer: ThemeClusterer,
    store: Store,
) -> tuple[list[Theme], list[tuple[str, str | None, float]]]:
    """Themes (children numbered largest first, then parents with two or more children) and
    each unit's theme id and confidence."""
    labels = clusterer.labels_
    children = describe_themes(units, tokens, vectors, labels)
    next_number = store.max_theme_number(run.workspace_id) + 1
    child_ids: dict[int, str] = {}
    for d in children:
        child_ids[d.label] = f"T-{next_number:04d}"
        next_number += 1
    child_count = np.bincount(clusterer.parent_, minlength=clusterer.n_parents_)
    parent_labels = np.array(
        [
            clusterer.parent_[lb] if lb >= 0 and child_count[clusterer.parent_[lb]] > 1 else -1
            for lb in labels
        ]
    )
    parents = describe_themes(units, tokens, vectors, parent_labels)
    parent_ids: dict[int, str] = {}
    for d in parents:
        parent_ids[d.label] = f"T-{next_number:04d}"
        next_number += 1

    themes: list[Theme] = []
    for d in children:
        parent = int(clusterer.parent_[d.label])
        centroid = clusterer.centroids_[d.label].astype(np.float32)
        themes.append(_theme(run, d, child_ids[d.label], 0, parent_ids.get(parent), centroid))
    for d in parents:
        members = clusterer.centroids_[clusterer.parent_ == d.label].mean(axis=0)
        centroid = (members / max(float(np.linalg.norm(members)), 1e-12)).astype(np.float32)
        themes.append(_theme(run, d, parent_ids[d.label], 1, None, centroid))
    unit_themes = [
        (u.id, child_ids.get(int(lb)), float(c))
        for u, lb, c in zip(units, labels, clusterer.confidence_, strict=True)
    ]
    return themes, unit_themes


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
    vectors = embed_units(units, embedder, progress)
    configure_numba_cache(settings.data_dir / "numba-cache")
    clusterer = ThemeClusterer(random_state=seed).fit(vectors, lang=[u.lang for u in units])
    tokens = Tokenizer(settings).tokens_many([(u.norm_text, u.lang) for u in units])
    labels = {
        d.label: d.name
        for d in describe_themes(units, tokens, vectors, clusterer.labels_, n_quotes=0)
    }
    found = {
        i: (int(lb), float(c))
        for i, lb, c in zip(kept, clusterer.labels_, clusterer.confidence_, strict=True)
    }
    out = []
    for i, row in enumerate(rows):
        theme, confidence = found.get(i, (-1, 0.0))
        out.append(
            Assignment(
                row=i,
                id=row.get(id_column) if id_column else None,
                theme_id=theme,
                theme_label=labels.get(theme, ""),
                confidence=round(confidence, 4),
            )
        )
    return out
