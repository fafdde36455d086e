"""The store: the only module that speaks SQL.

SQLAlchemy Core over SQLite (the embedded default) or PostgreSQL; the schema is owned by the
Alembic migrations in voc/migrations, and `metadata` below mirrors it (a test checks that the
two agree). Ids are content hashes, so writing the same record twice is a no-op.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from voc.errors import InputError, NotFoundError, RunInterruptedError, StoreError
from voc.ids import text_hash
from voc.needs import UnitNeeds
from voc.types import FeedbackRecord, FeedbackUnit, Reject, Run, Theme, Turn, UnitRef

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

EXTERNAL_ID_CHARS = 300
"""Longest external id stored. PostgreSQL enforces VARCHAR lengths that SQLite ignores, so
callers check these limits themselves, the same way on both databases."""
SPEAKER_CHARS = 100
"""Longest speaker label stored (see EXTERNAL_ID_CHARS)."""
WORKSPACE_ID_CHARS = 64
"""Longest workspace id (see EXTERNAL_ID_CHARS)."""
IDEMPOTENCY_PRUNE_EVERY_S = 3600.0
"""How often, at most, a Store deletes expired Idempotency-Keys when it saves one: the table
then holds about VOC_API_IDEMPOTENCY_DAYS of keys (plus an hour), for one indexed DELETE an
hour per process."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps go in as UTC and come back tz-aware, on SQLite (which keeps no zone) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(WORKSPACE_ID_CHARS), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

ingests = sa.Table(
    "ingests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("paths", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("read", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("duplicate", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("external_id", sa.String(EXTERNAL_ID_CHARS)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("turns", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("near_duplicate_of", sa.String(32)),
    sa.Column("ingest_id", sa.String(32)),
    sa.Column("file", sa.Text),
    sa.Column("line", sa.Integer),
    sa.Column("redactions", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),
    sa.Index("ix_records_ws_fingerprint", "workspace_id", "fingerprint"),
    sa.Index("ix_records_ws_external", "workspace_id", "source", "external_id"),
    sa.Index("ix_records_ws_created", "workspace_id", "created_at"),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "record_id", sa.String(32), sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("span_start", sa.Integer, nullable=False),
    sa.Column("span_end", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("norm_text", sa.Text, nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("speaker", sa.String(SPEAKER_CHARS), nullable=False),
    sa.Column("text_hash", sa.String(32), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime),
    sa.Index("ix_units_record", "record_id"),
    sa.Index("ix_units_ws_created", "workspace_id", "created_at"),
    sa.Index("ix_units_text_hash", "text_hash"),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("ingest_id", sa.String(32)),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("file", sa.Text),
    sa.Column("line", sa.Integer),
    sa.Column("code", sa.String(60), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("excerpt", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_rejects_ws_ingest", "workspace_id", "ingest_id"),
)


embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("text_hash", sa.String(32), primary_key=True),
    sa.Column("model_id", sa.String(200), primary_key=True),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("model_id", sa.String(200), nullable=False),
    sa.Column("code_version", sa.String(100), nullable=False),
    sa.Column("timings", sa.JSON, nullable=False),
    sa.Column("n_units", sa.Integer, nullable=False),
    sa.Column("n_themes", sa.Integer, nullable=False),
    sa.Column("unassigned", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("stability", sa.Float),
    sa.Column("data_until", UTCDateTime),
    # Bumped by replace_served and write_live_assignments (migration 0008); never by _run_row.
    sa.Column("themes_version", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("live_version", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Index("ix_runs_ws_started", "workspace_id", "started_at"),
)

themes = sa.Table(
    "themes",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("theme_id", sa.String(20), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("parent_id", sa.String(20)),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("names", sa.JSON, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("langs", sa.JSON, nullable=False),
    sa.Column("quotes", sa.JSON, nullable=False),
    sa.Column("centroid", sa.LargeBinary, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("needs", sa.JSON),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("unit_id", sa.String(40), primary_key=True),
    sa.Column("theme_id", sa.String(20)),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("cluster_id", sa.String(20)),
    sa.Index("ix_assignments_run_theme", "run_id", "theme_id"),
)

run_clusters = sa.Table(
    "run_clusters",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("theme_id", sa.String(20), primary_key=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("parent_id", sa.String(20)),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("names", sa.JSON, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("centroid", sa.LargeBinary, nullable=False),
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("theme_id", sa.String(20), nullable=False),
    sa.Column("other_ids", sa.JSON, nullable=False),
    sa.Column("overlap", sa.Float),
    sa.Column("similarity", sa.Float),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_lineage_run", "run_id"),
    sa.Index("ix_lineage_ws_theme", "workspace_id", "theme_id"),
)

curations = sa.Table(
    "curations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("theme_id", sa.String(20), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("target_id", sa.String(20)),
    sa.Column("unit_ids", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("ix_curations_ws", "workspace_id", "id"),
)


run_spaces = sa.Table(
    "run_spaces",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("assign_threshold", sa.Float, nullable=False),
    sa.Column("lang_means", sa.JSON, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    sa.Index("ix_api_keys_ws", "workspace_id"),
)

unit_needs = sa.Table(
    "unit_needs",
    metadata,
    sa.Column(
        "unit_id", sa.String(40), sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("analyzer", sa.String(60), nullable=False),
    sa.Column("intent", sa.String(12), nullable=False),
    sa.Column("sentiment", sa.String(10), nullable=False),
    sa.Column("sentiment_score", sa.Float, nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("stage_from", sa.String(10), nullable=False),
    sa.Column("signals", sa.JSON, nullable=False),
    sa.Column("facets", sa.JSON, nullable=False),
    sa.Index("ix_unit_needs_ws_intent", "workspace_id", "intent"),
    sa.Index("ix_unit_needs_ws_stage", "workspace_id", "stage"),
)

live_assignments = sa.Table(
    "live_assignments",
    metadata,
    sa.Column(
        "unit_id", sa.String(40), sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE")),
    sa.Column("theme_id", sa.String(20)),
    sa.Column("similarity", sa.Float, nullable=False),
    sa.Column("assigned_at", UTCDateTime, nullable=False),
    sa.Index("ix_live_assignments_run_theme", "run_id", "theme_id"),
    sa.Index("ix_live_assignments_ws", "workspace_id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("workspace_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_idempotency_keys_created", "created_at"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("active_lock", sa.String(100)),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("progress", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("owner", sa.JSON),
    sa.Column("heartbeat_at", UTCDateTime),
    sa.Index("ix_jobs_ws_created", "workspace_id", "created_at"),
    sa.Index("ux_jobs_active_lock", "active_lock", unique=True),
)


@dataclasses.dataclass(slots=True)
class RunSpace:
    """What a run's centroids need to place a new unit: the per-language mean vectors removed
    before clustering, and the similarity at which the run itself assigned outliers."""

    assign_threshold: float
    lang_means: dict[str, bytes] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class RunVersion:
    """A workspace's current run as far as what it serves is concerned: its id and the two
    counters that change when its themes are replaced (`themes_version`, curations) or units
    are placed in them (`live_version`). `Run` carries the same three."""

    run_id: str
    themes_version: int
    live_version: int


@dataclasses.dataclass(frozen=True, slots=True)
class RunCluster:
    """A cluster of a run under the id matching gave it, before curation: what the next run
    is matched against (curation is re-applied on top, see voc.registry)."""

    theme_id: str
    level: int
    parent_id: str | None
    name: str
    names: dict[str, str]
    keywords: list[str]
    """Top keywords of both languages, best first."""
    size: int
    centroid: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class LineageRow:
    """One lineage event of a run (voc.registry.LineageEvent plus where it happened)."""

    run_id: str
    level: int
    kind: str
    theme_id: str
    other_ids: list[str]
    overlap: float | None
    similarity: float | None
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCuration:
    """A product manager's change to the themes, re-applied after every re-cluster."""

    id: int
    workspace_id: str
    kind: str
    theme_id: str
    name: str | None
    target_id: str | None
    unit_ids: list[str]
    created_at: datetime
    created_by: str
    """The API key id that made it, `cli`, or `voc:...` for a change voc made itself (a
    convergence, see voc.registry)."""
    active: bool
    reason: str | None = None
    """Why voc made it; None for a person's change."""


@dataclasses.dataclass(frozen=True, slots=True)
class NewCuration:
    """A curation voc makes during a run, recorded in the run's own transaction so that the
    run's served themes and the curation they depend on become current together."""

    kind: str
    theme_id: str
    target_id: str | None
    created_by: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class RunLineage:
    """What a run adds to its themes beyond `Run`: matched clusters, lineage and stability."""

    clusters: Sequence[RunCluster] = ()
    cluster_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    """unit id -> matched (uncurated) cluster id."""
    events: Sequence[LineageRow] = ()
    stability: float | None = None
    data_until: datetime | None = None
    """The newest unit's date: the period the run speaks for."""
    hidden: frozenset[str] = frozenset()
    curations: Sequence[NewCuration] = ()
    """Curations the run made (voc.registry's converged rule), applied to its served themes."""


@dataclasses.dataclass(slots=True)
class ApiKey:
    """An API key as stored: only the hash of its secret, never the secret."""

    id: str
    workspace_id: str
    name: str
    secret_hash: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


@dataclasses.dataclass(slots=True)
class Job:
    """Background work (a re-cluster, an upload's ingestion) and how far it got."""

    id: str
    workspace_id: str
    kind: str
    status: str
    """`queued`, `running`, `done` or `failed`."""
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner: dict[str, Any] | None = None
    """The process that holds the job (voc.jobs.ProcessOwner as JSON); None in jobs made
    before owners were recorded."""
    heartbeat_at: datetime | None = None
    """When the owner last said it was alive: how a process on another machine is judged."""


@dataclasses.dataclass(slots=True)
class LiveAssignment:
    """A unit's theme between re-clusters: `theme_id` None means pending (far from every
    theme, or no run yet)."""

    unit_id: str
    workspace_id: str
    run_id: str | None
    theme_id: str | None
    similarity: float


@dataclasses.dataclass(slots=True)
class ThemeStat:
    """How many units a theme holds under a filter, and when the newest was written."""

    size: int
    latest: datetime | None


@dataclasses.dataclass(slots=True)
class UnitHit:
    """A unit with its theme in the current run; `provisional` marks a live assignment."""

    unit: FeedbackUnit
    theme_id: str | None
    score: float | None
    provisional: bool


@dataclasses.dataclass(slots=True)
class StoredReject:
    """A reject as read back from the store, for summaries and the API."""

    ingest_id: str | None
    source: str
    file: str | None
    line: int | None
    code: str
    reason: str
    excerpt: str


def _now() -> datetime:
    return datetime.now(UTC)


class _Revocations:
    """Counts API keys revoked by this process (through any Store), after each commit, so
    what the process keeps of keys (api/keycache.py) can drop them at once."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def note(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


KEY_REVOCATIONS = _Revocations()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Switching a new database file to WAL needs its exclusive lock, and SQLite answers "locked"
    # at once, without its busy handler, while another process is migrating it (two processes
    # starting together); wait for that lock like any other.
    deadline = time.monotonic() + SQLITE_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


SQLITE_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another one's lock before the database counts as
unavailable; `sqlite:///PATH?timeout=SECONDS` sets another."""

_SQLITE_UNAVAILABLE = {
    5: "it is locked by another writer for longer than the busy timeout",  # SQLITE_BUSY
    6: "a table is locked by another connection",  # SQLITE_LOCKED
    7: "SQLite ran out of memory",  # SQLITE_NOMEM
    8: "the database file is read-only",  # SQLITE_READONLY
    10: "reading or writing the file failed (disk I/O error)",  # SQLITE_IOERR
    13: "the disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
}
"""SQLite result codes that say the database cannot be used now (not that a query is wrong)."""

_PG_UNAVAILABLE = {
    "08": "the connection to the server failed",
    "53": "the server ran out of a resource (disk, memory or connections)",
    "57": "the server is shutting down or starting up",
}
"""SQLSTATE classes that say the same of PostgreSQL."""


def _unavailable_reason(context: sa.engine.ExceptionContext) -> str | None:
    """Why the database cannot be used, when that is what the error says; None for errors of
    the statement itself (a constraint, a bug), which stay what they are."""
    orig = context.original_exception
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return _SQLITE_UNAVAILABLE.get(code & 0xFF)
    if context.is_disconnect:
        return "the connection to the server was lost"
    if type(orig).__module__.startswith("psycopg") and type(orig).__name__ == "OperationalError":
        state = getattr(orig, "sqlstate", None)
        if state is None:
            first = str(orig).strip().splitlines()[0] if str(orig).strip() else "no answer"
            return f"cannot connect to the server: {first}"
        return _PG_UNAVAILABLE.get(state[:2])
    state = getattr(orig, "sqlstate", None)
    return _PG_UNAVAILABLE.get(state[:2]) if isinstance(state, str) else None


MIGRATION_LOCK = 0x766F63
"""PostgreSQL advisory lock key ("voc") held while migrating."""


def _lock_for_migration(conn: Connection) -> None:
    """Hold the migration lock until the transaction ends: an advisory lock on PostgreSQL; on
    SQLite the write lock, taken at once (the driver would begin the transaction only at the
    first data write, after the schema was already read)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _in_key_order(batch: Sequence[FeedbackRecord]) -> list[FeedbackRecord]:
    """Records sorted by id. PostgreSQL locks each row an upsert inserts until the transaction
    ends, so two writers inserting overlapping keys in different orders can each wait for the
    other (a deadlock, one of them fails); in one shared order the second simply waits."""
    return sorted(batch, key=lambda r: r.id)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Store:
    """Records, units and rejects of every workspace, behind plain methods."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            parsed = sa.make_url(url)
            self.safe_url = parsed.render_as_string(hide_password=True)
            # A server may close idle connections (restarts, proxies); SQLite files cannot.
            ping = parsed.get_backend_name() == "postgresql"
            connect_args: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite" and "timeout" not in parsed.query:
                connect_args["timeout"] = SQLITE_TIMEOUT_S
            # hide_parameters: a failed statement's message then carries no bound values,
            # which are customer text, into logs, job errors and API problems.
            self.engine: Engine = sa.create_engine(
                url,
                future=True,
                pool_pre_ping=ping,
                connect_args=connect_args,
                hide_parameters=True,
            )
        except (SQLAlchemyError, ImportError) as exc:
            # The URL may not even parse; mask anything that looks like a password in it.
            shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
            raise StoreError(f"cannot open database {shown!r}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        sa.event.listen(self.engine, "handle_error", self._unavailable)
        self.idempotency_prune_every_s = IDEMPOTENCY_PRUNE_EVERY_S
        """Least seconds between two automatic deletions of expired Idempotency-Keys (0: at
        every save)."""
        self._keys_pruned_at: float | None = None
        self._keys_prune_lock = threading.Lock()

    def _unavailable(self, context: sa.engine.ExceptionContext) -> None:
        """Turn "the database cannot be used now" (locked past the busy timeout, disk full,
        server down or restarting) into one StoreError, raised from any method, so the CLI
        prints one clear line and the API answers 503 with Retry-After instead of a 500. A
        failed pre-ping is left alone: the pool then reconnects by itself, and so is an
        interruption (Ctrl-C, SIGTERM as voc.jobs.Stopped) that came during a statement, which
        SQLAlchemy reports as a lost connection but must stay what it is."""
        if context.is_pre_ping or not isinstance(context.original_exception, Exception):
            return
        reason = _unavailable_reason(context)
        if reason is None:
            return
        raise StoreError(
            f"the database {self.safe_url} is unavailable: {reason} "
            f"({type(context.original_exception).__name__}: "
            f"{str(context.original_exception).strip().splitlines()[0]}). "
            "Nothing was written by this step; retry once the database is back.",
            retryable=True,
        ) from context.original_exception

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema to the newest migration."""
        store = cls(url)
        store.upgrade()
        return store

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` in one transaction that first takes the database's
        migration lock: processes starting together (the API and the worker) would otherwise
        both create the tables, and one would fail (or, on PostgreSQL, wait forever); the
        second now waits and then finds nothing left to do."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as conn:
                _lock_for_migration(conn)
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        except OperationalError as exc:
            raise StoreError(f"cannot migrate database {self.safe_url}: {exc.orig}") from exc

    def schema_revision(self) -> str | None:
        """The migration the database is at; None before the first (no version table yet,
        which SQLite reports as an operational error and PostgreSQL as a programming one)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that can skip or update rows whose key exists, in one statement: a
        check-then-insert lets two concurrent writers (threads or worker processes) both see
        a key missing and the second then fail on the primary key."""
        name = self.engine.dialect.name
        if name == "sqlite":
            return sqlite.insert(table)
        if name == "postgresql":
            return postgresql.insert(table)
        raise StoreError(
            f"database {self.safe_url} is {name}; voc supports SQLite and PostgreSQL only, "
            "whose INSERT ... ON CONFLICT keeps concurrent writes safe."
        )

    # -- workspaces --------------------------------------------------------------------------

    def ensure_workspace(self, workspace_id: str, name: str | None = None) -> None:
        """Create the workspace unless it exists; the read first spares every request a write,
        the insert skips a workspace a concurrent request created in between."""
        if len(workspace_id) > WORKSPACE_ID_CHARS:
            raise InputError(
                f"workspace id {workspace_id[:20]!r}... is {len(workspace_id)} characters; "
                f"use at most {WORKSPACE_ID_CHARS}."
            )
        with self.engine.connect() as conn:
            exists = conn.execute(
                sa.select(workspaces.c.id).where(workspaces.c.id == workspace_id)
            ).first()
        if exists is not None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(workspaces)
                .values(id=workspace_id, name=name or workspace_id, settings={}, created_at=_now())
                .on_conflict_do_nothing(index_elements=[workspaces.c.id])
            )

    def workspace_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(workspaces.c.id).order_by(workspaces.c.id)).scalars()
            )

    # -- ingests -----------------------------------------------------------------------------

    def start_ingest(
        self, ingest_id: str, workspace_id: str, source: str, paths: list[str]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                ingests.insert().values(
                    id=ingest_id,
                    workspace_id=workspace_id,
                    source=source,
                    paths=paths,
                    status="running",
                    started_at=_now(),
                    read=0,
                    accepted=0,
                    duplicate=0,
                    rejected=0,
                    units=0,
                )
            )

    def finish_ingest(
        self, ingest_id: str, status: str, counts: dict[str, int], error: str = ""
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                ingests.update()
                .where(ingests.c.id == ingest_id)
                .values(status=status, finished_at=_now(), error=error or None, **counts)
            )

    # -- records and units -------------------------------------------------------------------

    def existing_record_ids(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                found.update(
                    conn.execute(sa.select(records.c.id).where(records.c.id.in_(chunk))).scalars()
                )
        return found

    def records_by_fingerprint(
        self, workspace_id: str, fingerprints: Iterable[str]
    ) -> dict[str, str]:
        """fingerprint -> id of the earliest stored record with it."""
        return self._earliest_records(
            records.c.fingerprint, fingerprints, records.c.workspace_id == workspace_id
        )

    def _earliest_records(
        self, column: sa.Column[Any], values: Iterable[str], *conditions: Any
    ) -> dict[str, str]:
        """value of `column` -> id of the earliest stored record (matching `conditions`) with
        it: the record a later duplicate points at."""
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(values)):
                rows = conn.execute(
                    sa.select(column, records.c.id)
                    .where(*conditions)
                    .where(column.in_(chunk))
                    .order_by(records.c.received_at, records.c.id)
                )
                for value, record_id in rows:
                    found.setdefault(value, record_id)
        return found

    def write_batch(
        self,
        workspace_id: str,
        source: str,
        ingest_id: str | None,
        batch_records: Sequence[FeedbackRecord],
        batch_units: Sequence[FeedbackUnit],
        batch_rejects: Sequence[Reject],
    ) -> set[str]:
        """Write one batch in one transaction: all of it lands, or none of it. Returns the ids
        of the records written: one another process stored meanwhile (ids are content hashes,
        so it is the same record) is skipped with its units instead of failing the batch."""
        by_id = {r.id: r for r in batch_records}
        written: set[str] = set()
        try:
            with self.engine.begin() as conn:
                if batch_records:
                    written = set(
                        conn.execute(
                            self._insert(records)
                            .on_conflict_do_nothing(index_elements=[records.c.id])
                            .returning(records.c.id),
                            [_record_row(r, ingest_id) for r in _in_key_order(batch_records)],
                        ).scalars()
                    )
                fresh_units = [u for u in batch_units if u.record_id in written]
                if fresh_units:
                    conn.execute(
                        units.insert(), [_unit_row(u, by_id[u.record_id]) for u in fresh_units]
                    )
                if batch_rejects:
                    conn.execute(
                        rejects.insert(),
                        [_reject_row(workspace_id, source, ingest_id, rj) for rj in batch_rejects],
                    )
        except OperationalError as exc:
            raise StoreError(f"cannot write to database {self.safe_url}: {exc.orig}") from exc
        return written

    def count(self, workspace_id: str, table: str = "records") -> int:
        tbl = {"records": records, "units": units, "rejects": rejects}[table]
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(tbl)
                .where(tbl.c.workspace_id == workspace_id)
            ).scalar_one()

    def unit_counts(self, workspace_id: str, by: Sequence[str]) -> dict[tuple[Any, ...], int]:
        """Unit counts grouped by unit columns (e.g. ("source", "lang"))."""
        cols = [units.c[name] for name in by]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*cols, sa.func.count())
                .where(units.c.workspace_id == workspace_id)
                .group_by(*cols)
                .order_by(*cols)
            )
            return {tuple(row[:-1]): row[-1] for row in rows}

    def unit_dates(self, workspace_id: str) -> list[datetime | None]:
        """When each unit was written, for volume over time."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(units.c.created_at).where(units.c.workspace_id == workspace_id)
                ).scalars()
            )

    def get_record(self, workspace_id: str, record_id: str) -> FeedbackRecord:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(records)
                .where(records.c.workspace_id == workspace_id)
                .where(records.c.id == record_id)
            ).first()
        if row is None:
            raise NotFoundError(f"record {record_id!r} not found in workspace {workspace_id!r}")
        return _record_from_row(row)

    def iter_records(self, workspace_id: str) -> Iterator[FeedbackRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(records)
                .where(records.c.workspace_id == workspace_id)
                .order_by(records.c.created_at.asc().nulls_first(), records.c.id)
            )
            for row in rows:
                yield _record_from_row(row)

    def iter_units(self, workspace_id: str) -> Iterator[FeedbackUnit]:
        """Every unit of the workspace, whole, in record order (a re-cluster holds
        `iter_unit_refs` instead, without text). Values that repeat from unit to unit
        (workspace, language, source, speaker, a record's date) are one object each, and a
        unit whose normalised text is its text holds one string, not two."""
        common: dict[str, str] = {}
        last: FeedbackUnit | None = None
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(units)
                .where(units.c.workspace_id == workspace_id)
                .order_by(units.c.record_id, units.c.idx)
            )
            for row in rows:
                unit = _unit_from_row(row)
                if unit.norm_text == unit.text:
                    unit.norm_text = unit.text
                if last is not None and unit.record_id == last.record_id:
                    # A record's units carry its id, workspace, source and date.
                    unit.record_id, unit.workspace_id = last.record_id, last.workspace_id
                    unit.source, unit.created_at = last.source, last.created_at
                else:
                    unit.workspace_id = common.setdefault(unit.workspace_id, unit.workspace_id)
                    unit.source = common.setdefault(unit.source, unit.source)
                unit.lang = common.setdefault(unit.lang, unit.lang)  # type: ignore[assignment]
                unit.speaker = common.setdefault(unit.speaker, unit.speaker)
                last = unit
                yield unit

    def iter_unit_refs(self, workspace_id: str) -> Iterator[UnitRef]:
        """Every unit of the workspace without its text (`UnitRef`), in record order, with
        the values that repeat from unit to unit (workspace, language, source, a record's
        id and date) one object each: what a re-cluster holds for every unit."""
        common: dict[str, str] = {}
        last: UnitRef | None = None
        columns = (
            units.c.id,
            units.c.record_id,
            units.c.workspace_id,
            units.c.lang,
            units.c.text_hash,
            units.c.source,
            units.c.created_at,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*columns)
                .where(units.c.workspace_id == workspace_id)
                .order_by(units.c.record_id, units.c.idx)
            )
            for row in rows:
                if last is not None and row.record_id == last.record_id:
                    record_id, workspace, source = last.record_id, last.workspace_id, last.source
                    created_at = last.created_at
                else:
                    record_id, created_at = row.record_id, row.created_at
                    workspace = common.setdefault(row.workspace_id, row.workspace_id)
                    source = common.setdefault(row.source, row.source)
                last = UnitRef(
                    id=row.id,
                    record_id=record_id,
                    workspace_id=workspace,
                    lang=common.setdefault(row.lang, row.lang),  # type: ignore[arg-type]
                    text_hash=row.text_hash,
                    source=source,
                    created_at=created_at,
                )
                yield last

    def units_by_id(self, workspace_id: str, ids: Iterable[str]) -> dict[str, FeedbackUnit]:
        """The workspace's units among `ids`, whole (with their text), by id; ids of other
        workspaces' units or of no unit are left out."""
        out: dict[str, FeedbackUnit] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                # By primary key, the workspace checked here (see `unit_needs`).
                rows = conn.execute(sa.select(units).where(units.c.id.in_(chunk)))
                out.update(
                    (r.id, _unit_from_row(r)) for r in rows if r.workspace_id == workspace_id
                )
        return out

    def norm_texts(self, workspace_id: str, ids: Iterable[str]) -> dict[str, str]:
        """unit id -> normalised text, for the workspace's units among `ids`."""
        out: dict[str, str] = {}
        query = sa.select(units.c.id, units.c.workspace_id, units.c.norm_text)
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                rows = conn.execute(query.where(units.c.id.in_(chunk)))
                out.update((r.id, r.norm_text) for r in rows if r.workspace_id == workspace_id)
        return out

    def norm_texts_by_hash(self, workspace_id: str, hashes: Iterable[str]) -> dict[str, str]:
        """text hash -> normalised text, for the hashes of the workspace's units (what an
        embedding cache miss needs to embed)."""
        out: dict[str, str] = {}
        query = sa.select(units.c.text_hash, units.c.workspace_id, units.c.norm_text).distinct()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(hashes)):
                rows = conn.execute(query.where(units.c.text_hash.in_(chunk)))
                out.update(
                    (r.text_hash, r.norm_text) for r in rows if r.workspace_id == workspace_id
                )
        return out

    def list_rejects(self, workspace_id: str, ingest_id: str | None = None) -> list[StoredReject]:
        query = sa.select(rejects).where(rejects.c.workspace_id == workspace_id)
        if ingest_id is not None:
            query = query.where(rejects.c.ingest_id == ingest_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(rejects.c.id))
            return [
                StoredReject(
                    ingest_id=r.ingest_id,
                    source=r.source,
                    file=r.file,
                    line=r.line,
                    code=r.code,
                    reason=r.reason,
                    excerpt=r.excerpt,
                )
                for r in rows
            ]

    # -- embedding cache ---------------------------------------------------------------------

    def cached_vectors(self, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """text hash -> vector, for the hashes already embedded by this model: float16 as
        cached now, float32 as cached by earlier versions (told apart by the row's dim)."""
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(hashes)):
                rows = conn.execute(
                    sa.select(embeddings.c.text_hash, embeddings.c.dim, embeddings.c.vector)
                    .where(embeddings.c.model_id == model_id)
                    .where(embeddings.c.text_hash.in_(chunk))
                )
                found.update((h, decode_vector(bytes(v), dim)) for h, dim, v in rows)
        return found

    def cache_vectors(self, model_id: str, dim: int, vectors: dict[str, bytes]) -> None:
        """Add vectors to the cache; a hash cached meanwhile (a concurrent request or run) is
        kept, atomically, since the same text embeds to the same vector. Rows go in key order
        (see `_in_key_order`)."""
        if not vectors:
            return
        rows = [
            {"text_hash": h, "model_id": model_id, "dim": dim, "vector": vectors[h]}
            for h in sorted(vectors)
        ]
        statement = self._insert(embeddings).on_conflict_do_nothing(
            index_elements=[embeddings.c.text_hash, embeddings.c.model_id]
        )
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    # -- runs and themes ---------------------------------------------------------------------

    def start_run(self, run: Run) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(_run_row(run)))

    def complete_run(
        self,
        run: Run,
        run_themes: Sequence[Theme],
        unit_themes: Sequence[tuple[str, str | None, float]],
        space: RunSpace | None = None,
        lineage_info: RunLineage | None = None,
    ) -> None:
        """Write a finished run's themes and assignments (and its matched clusters, lineage
        and stability) and make it the workspace's current run, all in one transaction:
        readers see the previous run until this one is whole."""
        info = lineage_info or RunLineage()
        with self.engine.begin() as conn:
            still_running = conn.execute(
                runs.update()
                .where(runs.c.id == run.run_id)
                .where(runs.c.status == "running")
                .values(status="completing")
            )
            if still_running.rowcount != 1:
                # Recovery or a shutdown failed it (its process looked dead, or the grace
                # period passed): a run declared interrupted must not become current later.
                raise RunInterruptedError(
                    f"run {run.run_id} was marked failed while it was still being made "
                    "(interrupted); nothing of it was kept. Start another run."
                )
            if space is not None:
                conn.execute(
                    run_spaces.insert().values(
                        run_id=run.run_id,
                        assign_threshold=space.assign_threshold,
                        lang_means={k: v.hex() for k, v in space.lang_means.items()},
                    )
                )
            _write_served(conn, run.run_id, run_themes, unit_themes, info.cluster_ids, info.hidden)
            if info.clusters:
                conn.execute(
                    run_clusters.insert(),
                    [{"run_id": run.run_id, **dataclasses.asdict(c)} for c in info.clusters],
                )
            _write_lineage(conn, run.workspace_id, info.events)
            for made in info.curations:
                _insert_curation(
                    conn,
                    run.workspace_id,
                    made.kind,
                    made.theme_id,
                    made.created_by,
                    target_id=made.target_id,
                    reason=made.reason,
                )
            conn.execute(
                runs.update()
                .where(runs.c.workspace_id == run.workspace_id)
                .where(runs.c.is_current)
                .where(runs.c.id != run.run_id)
                .values(is_current=False)
            )
            run.status, run.is_current = "done", True
            run.stability, run.data_until = info.stability, info.data_until
            conn.execute(
                runs.update()
                .where(runs.c.id == run.run_id)
                .values(
                    {**_run_row(run), "stability": info.stability, "data_until": info.data_until}
                )
            )

    def replace_served(
        self,
        run: Run,
        run_themes: Sequence[Theme],
        unit_themes: Sequence[tuple[str, str | None, float]],
        cluster_ids: dict[str, str],
        hidden: frozenset[str],
        events: Sequence[LineageRow],
        renamed: dict[str, str],
    ) -> None:
        """Swap a run's served themes for a re-curated version in one transaction, which
        also bumps the run's `themes_version`: what any process derived from its themes is
        then out of date.

        Live assignments to a theme id that curation merged away follow it (`renamed`, old
        id -> new id), so units submitted since the run keep counting.
        """
        with self.engine.begin() as conn:
            conn.execute(themes.delete().where(themes.c.run_id == run.run_id))
            conn.execute(assignments.delete().where(assignments.c.run_id == run.run_id))
            _write_served(conn, run.run_id, run_themes, unit_themes, cluster_ids, hidden)
            _write_lineage(conn, run.workspace_id, events)
            for old, new in renamed.items():
                conn.execute(
                    live_assignments.update()
                    .where(live_assignments.c.run_id == run.run_id)
                    .where(live_assignments.c.theme_id == old)
                    .values(theme_id=new)
                )
            _bump(conn, [run.run_id], runs.c.themes_version)

    def run_clusters(self, run_id: str) -> list[RunCluster]:
        """The run's matched clusters, children first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(run_clusters)
                .where(run_clusters.c.run_id == run_id)
                .order_by(run_clusters.c.level, run_clusters.c.size.desc(), run_clusters.c.theme_id)
            )
            return [
                RunCluster(
                    theme_id=r.theme_id,
                    level=r.level,
                    parent_id=r.parent_id,
                    name=r.name,
                    names=r.names,
                    keywords=r.keywords,
                    size=r.size,
                    centroid=bytes(r.centroid),
                )
                for r in rows
            ]

    def cluster_members(self, run_id: str) -> tuple[dict[str, set[str]], set[str]]:
        """(matched cluster id -> its units, every unit of the run assigned or not)."""
        members: dict[str, set[str]] = {}
        every: set[str] = set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(assignments.c.unit_id, assignments.c.cluster_id).where(
                    assignments.c.run_id == run_id
                )
            )
            for unit, cluster in rows:
                every.add(unit)
                if cluster is not None:
                    members.setdefault(cluster, set()).add(unit)
        return members, every

    def lineage(self, run_id: str) -> list[LineageRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(lineage).where(lineage.c.run_id == run_id).order_by(lineage.c.id)
            )
            return [_lineage_from_row(r) for r in rows]

    def theme_history(self, workspace_id: str, theme_id: str) -> list[LineageRow]:
        """Every lineage event naming a theme, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(lineage)
                .where(lineage.c.workspace_id == workspace_id)
                .where(lineage.c.theme_id == theme_id)
                .order_by(lineage.c.id)
            )
            return [_lineage_from_row(r) for r in rows]

    def births(self, workspace_id: str, exclude_run: str | None = None) -> dict[str, datetime]:
        """Theme id -> the data date of the run that gave the id at level 0, leaving out ids
        given by `exclude_run`. An id is given by its first lineage event: `born` or `split`,
        or `merged` for a new cluster of converged content merged into an older theme the run
        it formed (voc.registry.merge_converged), whose birth counts once a product manager
        undoes that merge."""
        query = (
            sa.select(lineage.c.theme_id, lineage.c.kind, lineage.c.run_id, runs.c.data_until)
            .join(runs, runs.c.id == lineage.c.run_id)
            .where(lineage.c.workspace_id == workspace_id)
            .where(lineage.c.level == 0)
            .where(lineage.c.kind != "curated")
            .order_by(lineage.c.id)
        )
        with self.engine.connect() as conn:
            first: dict[str, tuple[str, str, datetime | None]] = {}
            for theme_id, kind, run_id, when in conn.execute(query):
                first.setdefault(theme_id, (kind, run_id, when))
        return {
            theme_id: when
            for theme_id, (kind, run_id, when) in first.items()
            if kind in ("born", "split", "merged") and run_id != exclude_run and when is not None
        }

    def hidden_themes(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(themes.c.theme_id)
                    .where(themes.c.run_id == run_id)
                    .where(themes.c.hidden)
                ).scalars()
            )

    # -- curations ---------------------------------------------------------------------------

    def add_curation(
        self,
        workspace_id: str,
        kind: str,
        theme_id: str,
        created_by: str,
        name: str | None = None,
        target_id: str | None = None,
        unit_ids: Sequence[str] = (),
        reason: str | None = None,
    ) -> StoredCuration:
        with self.engine.begin() as conn:
            return _insert_curation(
                conn, workspace_id, kind, theme_id, created_by, name, target_id, unit_ids, reason
            )

    def list_curations(self, workspace_id: str, active_only: bool = True) -> list[StoredCuration]:
        """Curations of a workspace in the order they were made (the order they apply in)."""
        query = sa.select(curations).where(curations.c.workspace_id == workspace_id)
        if active_only:
            query = query.where(curations.c.active)
        with self.engine.connect() as conn:
            return [
                StoredCuration(**row._mapping)
                for row in conn.execute(query.order_by(curations.c.id))
            ]

    def get_curation(self, curation_id: int) -> StoredCuration | None:
        """One curation by id, active or not (the caller checks its workspace)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(curations).where(curations.c.id == curation_id)).first()
        return None if row is None else StoredCuration(**row._mapping)

    def deactivate_curation(self, curation_id: int) -> None:
        """Stop applying a curation (one that conflicts with the rest); it stays on record."""
        with self.engine.begin() as conn:
            conn.execute(
                curations.update().where(curations.c.id == curation_id).values(active=False)
            )

    def update_run_timings(self, run_id: str, timings: dict[str, float]) -> None:
        """Record a finished run's timings again, with the steps timed after it completed
        (writing the run itself)."""
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(timings=timings))

    def fail_run(self, run: Run, error: str) -> None:
        """Mark a run failed unless something already did (recovery names the first cause)."""
        run.status, run.error, run.is_current = "failed", error, False
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run.run_id)
                .where(runs.c.status == "running")
                .values(_run_row(run))
            )

    def current_run(self, workspace_id: str) -> Run | None:
        with self.engine.connect() as conn:
            row = conn.execute(_CURRENT_RUN, {"workspace_id": workspace_id}).first()
        return None if row is None else _run_from_row(row)

    def current_run_version(self, workspace_id: str) -> RunVersion | None:
        """The current run's id and versions only: what a cached answer is checked against,
        read on every such request (a third of the time of `current_run`)."""
        with self.engine.connect() as conn:
            row = conn.execute(_CURRENT_RUN_VERSION, {"workspace_id": workspace_id}).first()
        return None if row is None else RunVersion(*row)

    def list_runs(self, workspace_id: str) -> list[Run]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs)
                .where(runs.c.workspace_id == workspace_id)
                .order_by(runs.c.started_at.desc())
            )
            return [_run_from_row(r) for r in rows]

    def list_themes(self, run_id: str) -> list[Theme]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(themes)
                .where(themes.c.run_id == run_id)
                .order_by(themes.c.level, themes.c.size.desc(), themes.c.theme_id)
            )
            return [_theme_from_row(r) for r in rows]

    def unit_assignments(self, run_id: str) -> dict[str, tuple[str | None, float]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    assignments.c.unit_id, assignments.c.theme_id, assignments.c.confidence
                ).where(assignments.c.run_id == run_id)
            )
            return {u: (t, c) for u, t, c in rows}

    def max_theme_number(self, workspace_id: str) -> int:
        """Highest N of the `T-N` ids ever given in this workspace (0 when none): served
        themes, matched clusters and split-off curations draw from this one counter."""
        in_ws = sa.select(runs.c.id).where(runs.c.workspace_id == workspace_id)
        with self.engine.connect() as conn:
            ids = [
                *conn.execute(
                    sa.select(themes.c.theme_id).where(themes.c.workspace_id == workspace_id)
                ).scalars(),
                *conn.execute(
                    sa.select(run_clusters.c.theme_id).where(run_clusters.c.run_id.in_(in_ws))
                ).scalars(),
                *conn.execute(
                    sa.select(curations.c.theme_id).where(curations.c.workspace_id == workspace_id)
                ).scalars(),
            ]
            return max((int(i.removeprefix("T-")) for i in ids), default=0)

    def get_run(self, workspace_id: str, run_id: str) -> Run:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(runs)
                .where(runs.c.workspace_id == workspace_id)
                .where(runs.c.id == run_id)
            ).first()
        if row is None:
            raise NotFoundError(f"run {run_id!r} not found in workspace {workspace_id!r}")
        return _run_from_row(row)

    def run_space(self, run_id: str) -> RunSpace | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(run_spaces).where(run_spaces.c.run_id == run_id)).first()
        if row is None:
            return None
        means = {k: bytes.fromhex(v) for k, v in row.lang_means.items()}
        return RunSpace(row.assign_threshold, means)

    def get_theme(self, run_id: str, theme_id: str) -> Theme:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(themes)
                .where(themes.c.run_id == run_id)
                .where(themes.c.theme_id == theme_id)
            ).first()
        if row is None:
            raise NotFoundError(f"theme {theme_id!r} is not in the current run")
        return _theme_from_row(row)

    # -- live assignments (between runs) ------------------------------------------------------

    def write_live_assignments(self, rows: Sequence[LiveAssignment]) -> None:
        """Insert or replace each unit's live assignment, in one upsert: two requests
        assigning the same unit at once both succeed and the later one's row is kept. Rows go
        in key order (see `_in_key_order`).

        The same transaction bumps `live_version` of every run whose units changed: the runs
        the rows name and the runs a replaced row named before (a unit submitted during a
        re-cluster moves to the new run), so a reader who sees the new version also sees the
        rows."""
        if not rows:
            return
        now = _now()
        statement = self._insert(live_assignments)
        statement = statement.on_conflict_do_update(
            index_elements=[live_assignments.c.unit_id],
            set_={
                name: statement.excluded[name]
                for name in ("workspace_id", "run_id", "theme_id", "similarity", "assigned_at")
            },
        )
        ordered = sorted(rows, key=lambda r: r.unit_id)
        touched = {r.run_id for r in rows if r.run_id is not None}
        with self.engine.begin() as conn:
            for chunk in _chunks([r.unit_id for r in ordered]):
                touched.update(
                    conn.execute(
                        sa.select(live_assignments.c.run_id)
                        .where(live_assignments.c.unit_id.in_(chunk))
                        .where(live_assignments.c.run_id.is_not(None))
                        .distinct()
                    ).scalars()
                )
            conn.execute(
                statement, [{**dataclasses.asdict(r), "assigned_at": now} for r in ordered]
            )
            # Last, so concurrent writers hold the run's row only until they commit.
            _bump(conn, touched, runs.c.live_version)

    def stale_live_units(self, workspace_id: str, run_id: str) -> list[FeedbackUnit]:
        """Units with a live assignment from another run (or none) that `run_id` did not
        cluster: submitted while it ran, so they must be assigned to its themes."""
        in_run = sa.select(assignments.c.unit_id).where(assignments.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(units)
                .join(live_assignments, live_assignments.c.unit_id == units.c.id)
                .where(live_assignments.c.workspace_id == workspace_id)
                .where(
                    sa.or_(live_assignments.c.run_id.is_(None), live_assignments.c.run_id != run_id)
                )
                .where(units.c.id.not_in(in_run))
                .order_by(units.c.id)
            )
            return [_unit_from_row(r) for r in rows]

    def pending_units(self, workspace_id: str, run_id: str) -> list[tuple[FeedbackUnit, datetime]]:
        """Units live assignment left pending against `run_id` (far from all its themes), each
        with when it was said: its own date, or when its record was received when it has
        none, so undated feedback still has a place in time."""
        seen = sa.func.coalesce(units.c.created_at, records.c.received_at, type_=UTCDateTime)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(units, seen.label("seen"))
                .join(live_assignments, live_assignments.c.unit_id == units.c.id)
                .join(records, records.c.id == units.c.record_id)
                .where(live_assignments.c.workspace_id == workspace_id)
                .where(live_assignments.c.run_id == run_id)
                .where(live_assignments.c.theme_id.is_(None))
                .order_by(units.c.id)
            )
            return [(_unit_from_row(r), r.seen) for r in rows]

    def unplaced_units(
        self, workspace_id: str, record_ids: Iterable[str], run_id: str | None
    ) -> list[FeedbackUnit]:
        """Units of these records that neither have a live assignment (pending counts as one)
        nor were clustered by `run_id`: never placed, e.g. their request failed after the
        records were committed."""
        found: list[FeedbackUnit] = []
        placed = sa.select(live_assignments.c.unit_id).where(
            live_assignments.c.unit_id == units.c.id
        )
        clustered = sa.select(assignments.c.unit_id).where(
            assignments.c.run_id == run_id, assignments.c.unit_id == units.c.id
        )
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(record_ids))):
                # By the record index, the workspace checked here (see `unit_needs`).
                query = sa.select(units).where(units.c.record_id.in_(chunk), ~placed.exists())
                if run_id is not None:
                    query = query.where(~clustered.exists())
                rows = conn.execute(query.order_by(units.c.record_id, units.c.idx))
                found.extend(_unit_from_row(r) for r in rows if r.workspace_id == workspace_id)
        return found

    def _members(self, run_id: str) -> sa.Subquery:
        """(unit_id, theme_id, score, provisional) for every unit in a theme of the run: the
        run's own assignments plus live ones made since."""
        clustered = sa.select(
            assignments.c.unit_id,
            assignments.c.theme_id,
            assignments.c.confidence.label("score"),
            sa.literal(0).label("provisional"),
        ).where(assignments.c.run_id == run_id, assignments.c.theme_id.is_not(None))
        live = sa.select(
            live_assignments.c.unit_id,
            live_assignments.c.theme_id,
            live_assignments.c.similarity.label("score"),
            sa.literal(1).label("provisional"),
        ).where(live_assignments.c.run_id == run_id, live_assignments.c.theme_id.is_not(None))
        return sa.union_all(clustered, live).subquery("members")

    def _with_members(self, query: sa.Select[Any], run_id: str | None) -> sa.Select[Any]:
        """`query` over units with each unit's theme, score and provisional flag in `run_id`
        (NULLs for a unit in no theme, or for every unit without a run)."""
        if run_id is None:
            return query.add_columns(
                sa.null().label("theme_id"),
                sa.null().label("score"),
                sa.literal(0).label("provisional"),
            )
        m = self._members(run_id)
        return query.add_columns(m.c.theme_id, m.c.score, m.c.provisional).outerjoin(
            m, m.c.unit_id == units.c.id
        )

    def theme_stats(
        self,
        run_id: str,
        source: str | None = None,
        lang: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, ThemeStat]:
        """theme id -> units and newest unit date, counting only units that match the filters."""
        m = self._members(run_id)
        query = (
            sa.select(m.c.theme_id, sa.func.count(), sa.func.max(units.c.created_at))
            .join(units, units.c.id == m.c.unit_id)
            .group_by(m.c.theme_id)
        )
        query = _unit_filters(query, source, lang, since, until)
        with self.engine.connect() as conn:
            return {t: ThemeStat(n, latest) for t, n, latest in conn.execute(query)}

    def theme_units(
        self, run_id: str, theme_ids: Sequence[str], offset: int, limit: int
    ) -> tuple[int, list[UnitHit]]:
        """Units of themes, newest first, with the total for pagination."""
        m = self._members(run_id)
        base = sa.select(units, m.c.theme_id, m.c.score, m.c.provisional).join(
            m, m.c.unit_id == units.c.id
        )
        base = base.where(m.c.theme_id.in_(list(theme_ids)))
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(base.subquery())
            ).scalar_one()
            rows = conn.execute(
                base.order_by(_newest_first, units.c.id).offset(offset).limit(limit)
            )
            return total, [_hit(r) for r in rows]

    def theme_observations(self, run_id: str) -> list[tuple[str, datetime]]:
        """(theme id, created_at) of every dated unit in a level-0 theme of the run, live
        assignments included: the input of voc.trends."""
        m = self._members(run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(m.c.theme_id, units.c.created_at)
                .join(units, units.c.id == m.c.unit_id)
                .where(units.c.created_at.is_not(None))
            )
            return [(t, d) for t, d in rows]

    def theme_unit_dates(self, run_id: str, theme_ids: Sequence[str]) -> list[datetime | None]:
        m = self._members(run_id)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(units.c.created_at)
                    .join(m, m.c.unit_id == units.c.id)
                    .where(m.c.theme_id.in_(list(theme_ids)))
                ).scalars()
            )

    def search_units(
        self,
        workspace_id: str,
        run_id: str | None,
        text: str,
        norm_text: str,
        offset: int,
        limit: int,
    ) -> tuple[int, list[UnitHit]]:
        """Units whose text contains `text` or whose analysis text contains `norm_text` (the
        query normalised the same way), ignoring case (SQLite's LIKE does, PostgreSQL's does
        not: ILIKE makes both agree), newest first."""
        base = sa.select(units).where(units.c.workspace_id == workspace_id)
        base = base.where(
            sa.or_(
                units.c.text.ilike(_like_pattern(text), escape="\\"),
                units.c.norm_text.ilike(_like_pattern(norm_text), escape="\\"),
            )
        )
        query = self._with_members(base, run_id)
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(base.subquery())
            ).scalar_one()
            rows = conn.execute(
                query.order_by(_newest_first, units.c.id).offset(offset).limit(limit)
            )
            return total, [_hit(r) for r in rows]

    def record_units(self, workspace_id: str, record_id: str) -> list[FeedbackUnit]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(units)
                .where(units.c.workspace_id == workspace_id)
                .where(units.c.record_id == record_id)
                .order_by(units.c.idx)
            )
            return [_unit_from_row(r) for r in rows]

    def ingest_units(self, workspace_id: str, ingest_id: str) -> list[FeedbackUnit]:
        """Units of the records one ingestion stored."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(units)
                .join(records, records.c.id == units.c.record_id)
                .where(records.c.workspace_id == workspace_id)
                .where(records.c.ingest_id == ingest_id)
                .order_by(units.c.record_id, units.c.idx)
            )
            return [_unit_from_row(r) for r in rows]

    def records_by_external_id(
        self, workspace_id: str, source: str, external_ids: Iterable[str]
    ) -> dict[str, str]:
        """external id -> id of the earliest stored record of this source with it."""
        return self._earliest_records(
            records.c.external_id,
            external_ids,
            records.c.workspace_id == workspace_id,
            records.c.source == source,
        )

    # -- API keys ----------------------------------------------------------------------------

    def add_api_key(self, key: ApiKey) -> None:
        self.ensure_workspace(key.workspace_id)
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(dataclasses.asdict(key)))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(_API_KEY, {"key_id": key_id}).first()
        return None if row is None else ApiKey(**row._mapping)

    def list_api_keys(self, workspace_id: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.workspace_id, api_keys.c.created_at)
        if workspace_id is not None:
            query = query.where(api_keys.c.workspace_id == workspace_id)
        with self.engine.connect() as conn:
            return [ApiKey(**row._mapping) for row in conn.execute(query)]

    def revoke_api_key(self, key_id: str) -> ApiKey:
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id)
                .where(api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        KEY_REVOCATIONS.note()
        key = self.get_api_key(key_id)
        if key is None:
            raise NotFoundError(f"no API key {key_id!r}; list keys with `voc keys list`.")
        return key

    # -- idempotency -------------------------------------------------------------------------

    def stored_response(
        self, workspace_id: str, key: str
    ) -> tuple[str, int, dict[str, Any]] | None:
        """(request hash, status code, body) saved under an Idempotency-Key."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    idempotency_keys.c.request_hash,
                    idempotency_keys.c.status_code,
                    idempotency_keys.c.response,
                )
                .where(idempotency_keys.c.workspace_id == workspace_id)
                .where(idempotency_keys.c.key == key)
            ).first()
        return None if row is None else (row[0], row[1], row[2])

    def save_response(
        self,
        workspace_id: str,
        key: str,
        request_hash: str,
        status_code: int,
        response: dict[str, Any],
        *,
        keep_for: timedelta,
    ) -> None:
        """Keep the first response under a key; a concurrent twin that lost the race is
        dropped (its records were duplicates of the winner's anyway). Keys are kept
        `keep_for`: at most once every IDEMPOTENCY_PRUNE_EVERY_S, saving a key deletes those
        saved longer ago, so the table does not grow by a row per keyed request forever."""
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(idempotency_keys)
                .values(
                    workspace_id=workspace_id,
                    key=key,
                    request_hash=request_hash,
                    status_code=status_code,
                    response=response,
                    created_at=_now(),
                )
                .on_conflict_do_nothing(
                    index_elements=[idempotency_keys.c.workspace_id, idempotency_keys.c.key]
                )
            )
        if self._idempotency_prune_due():
            self.prune_idempotency_keys(_now() - keep_for)

    def prune_idempotency_keys(self, saved_before: datetime) -> int:
        """Delete the Idempotency-Keys (of every workspace) saved before `saved_before`; a
        request resent with one of them is then processed as new. The number deleted."""
        with self.engine.begin() as conn:
            deleted = conn.execute(
                idempotency_keys.delete().where(idempotency_keys.c.created_at < saved_before)
            )
        return deleted.rowcount

    def _idempotency_prune_due(self) -> bool:
        """True once per `idempotency_prune_every_s` for this Store, the first time included."""
        with self._keys_prune_lock:
            now = time.monotonic()
            last = self._keys_pruned_at
            if last is not None and now - last < self.idempotency_prune_every_s:
                return False
            self._keys_pruned_at = now
            return True

    # -- jobs --------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        workspace_id: str,
        kind: str,
        params: dict[str, Any],
        exclusive: bool,
        owner: dict[str, Any] | None = None,
    ) -> Job | None:
        """A queued job held by `owner`, or None when `exclusive` and a job of this kind is
        already queued or running in the workspace (a unique lock column makes the check
        atomic: this is the workspace's run lock, whoever starts the run)."""
        self.ensure_workspace(workspace_id)
        now = _now()
        job = Job(job_id, workspace_id, kind, "queued", params, {}, {}, None, now)
        if owner is not None:
            job.owner, job.heartbeat_at = owner, now
        row = {**dataclasses.asdict(job), "active_lock": None}
        if exclusive:
            row["active_lock"] = f"{workspace_id}:{kind}"
        try:
            with self.engine.begin() as conn:
                conn.execute(jobs.insert().values(row))
        except IntegrityError:
            return None
        return job

    def update_job(self, job_id: str, **values: Any) -> bool:
        """Set job columns; True when the job was updated. Finishing a job (done or failed)
        releases its lock and applies only while it is unfinished, so the first outcome stays:
        two processes recovering the same dead job fail it once (only the one that did may
        requeue its work), and a job a shutdown failed is not marked done afterwards."""
        query = jobs.update().where(jobs.c.id == job_id)
        if values.get("status") in ("done", "failed"):
            values = {**values, "active_lock": None, "finished_at": _now()}
            query = query.where(jobs.c.status.in_(("queued", "running")))
        elif values.get("status") == "running":
            values = {**values, "started_at": _now()}
        with self.engine.begin() as conn:
            return conn.execute(query.values(values)).rowcount == 1

    def get_job(self, workspace_id: str, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs)
                .where(jobs.c.workspace_id == workspace_id)
                .where(jobs.c.id == job_id)
            ).first()
        if row is None:
            raise NotFoundError(f"job {job_id!r} not found in workspace {workspace_id!r}")
        return _job_from_row(row)

    def run_job(self, workspace_id: str, run_id: str) -> Job | None:
        """The job that runs (or ran) a re-cluster with this run id, if the API queued it."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs)
                .where(jobs.c.workspace_id == workspace_id)
                .where(jobs.c.kind == "run")
                .order_by(jobs.c.created_at.desc())
            )
            for row in rows:
                if row.params.get("run_id") == run_id:
                    return _job_from_row(row)
        return None

    def lock_holder(self, workspace_id: str, kind: str) -> Job | None:
        """The job that holds the workspace's lock of this kind (an exclusive job queued or
        running), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs).where(jobs.c.active_lock == f"{workspace_id}:{kind}")
            ).first()
        return None if row is None else _job_from_row(row)

    def unfinished_jobs(self, kinds: Sequence[str] | None = None) -> list[Job]:
        """Jobs queued or running, of every workspace, oldest first."""
        query = sa.select(jobs).where(jobs.c.status.in_(("queued", "running")))
        if kinds is not None:
            query = query.where(jobs.c.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            return [_job_from_row(r) for r in conn.execute(query.order_by(jobs.c.created_at))]

    def beat(self, job_ids: Iterable[str]) -> None:
        """Say the owner of these jobs is alive (voc.jobs.Heartbeat)."""
        ids = sorted(job_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id.in_(ids))
                .where(jobs.c.status.in_(("queued", "running")))
                .values(heartbeat_at=_now())
            )

    def interrupt_run(self, run_id: str, reason: str) -> bool:
        """Fail a run that is still `running` (its process died or was stopped); True when
        this call did it. A run that completed meanwhile is left alone."""
        with self.engine.begin() as conn:
            done = conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .where(runs.c.status == "running")
                .values(status="failed", error=reason, is_current=False, finished_at=_now())
            )
            return done.rowcount == 1

    def fail_orphaned_runs(self, reason: str) -> list[Run]:
        """Fail every run still `running` that no unfinished run job holds, and return them.

        Every run is made under its workspace's run lock (a `run` job naming it, voc.jobs),
        taken before the run row is written and released after the run is complete or failed,
        so a running run without an unfinished job is one whose process died. Runs are read
        before jobs, and each update applies only while the run is still running: a run that
        starts or finishes between the two reads is never failed by mistake."""
        with self.engine.connect() as conn:
            running = [
                _run_from_row(r)
                for r in conn.execute(sa.select(runs).where(runs.c.status == "running"))
            ]
        if not running:
            return []
        held = {job.params.get("run_id") for job in self.unfinished_jobs(["run"])}
        failed = []
        for run in running:
            if run.run_id not in held and self.interrupt_run(run.run_id, reason):
                run.status, run.error, run.is_current = "failed", reason, False
                failed.append(run)
        return failed

    # -- reports and exports (voc.report): read-only ------------------------------------------

    def unit_facets(
        self, workspace_id: str, run_id: str | None, since: datetime | None = None
    ) -> list[tuple[str, str, datetime | None, str | None, str | None]]:
        """(source, lang, created_at, theme id or None, journey stage or None) of every unit
        written on or after `since` (undated units only without `since`): one pass gives a
        report both the workspace's volume and each theme's counts, with live assignments
        counted in as the API counts them, split by stage where the unit's needs are known."""
        query = sa.select(units.c.source, units.c.lang, units.c.created_at)
        if run_id is None:
            query = query.add_columns(sa.null().label("theme_id"))
        else:
            m = self._members(run_id)
            query = query.add_columns(m.c.theme_id).outerjoin(m, m.c.unit_id == units.c.id)
        query = query.add_columns(unit_needs.c.stage).outerjoin(
            unit_needs, unit_needs.c.unit_id == units.c.id
        )
        query = query.where(units.c.workspace_id == workspace_id)
        if since is not None:
            query = query.where(units.c.created_at >= since)
        with self.engine.connect() as conn:
            return [(s, lang, d, t, st) for s, lang, d, t, st in conn.execute(query)]

    def records_by_id(self, workspace_id: str, ids: Iterable[str]) -> dict[str, FeedbackRecord]:
        """The workspace's records with these ids (unknown ids are left out), in one query
        per 500 ids rather than one per quote."""
        found: dict[str, FeedbackRecord] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(ids))):
                # By primary key alone, the workspace checked here (see `unit_needs`).
                rows = conn.execute(sa.select(records).where(records.c.id.in_(chunk)))
                found.update(
                    (r.id, _record_from_row(r)) for r in rows if r.workspace_id == workspace_id
                )
        return found

    def workspace_lineage(self, workspace_id: str) -> list[tuple[LineageRow, datetime]]:
        """Every lineage event of the workspace's finished runs, oldest first, each with the
        date it speaks for (the run's newest unit, else when the run started)."""
        when = sa.func.coalesce(runs.c.data_until, runs.c.started_at, type_=UTCDateTime)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(lineage, when.label("at"))
                .join(runs, runs.c.id == lineage.c.run_id)
                .where(lineage.c.workspace_id == workspace_id)
                .where(runs.c.status == "done")
                .order_by(lineage.c.id)
            )
            return [(_lineage_from_row(r), r.at) for r in rows]

    def iter_unit_themes(self, workspace_id: str, run_id: str | None) -> Iterator[UnitHit]:
        """Every unit of the workspace with its theme in `run_id` (None when unassigned or
        not in the run), in record order: the rows of a unit-assignment export."""
        query = self._with_members(
            sa.select(units).where(units.c.workspace_id == workspace_id), run_id
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(units.c.record_id, units.c.idx))
            for row in rows:
                yield _hit(row)

    # -- needs (voc.needs) ------------------------------------------------------------------

    def unit_needs(
        self, workspace_id: str, analyzer: str | None, unit_ids: Iterable[str] | None = None
    ) -> dict[str, UnitNeeds]:
        """Stored needs of the workspace's units made by `analyzer` (a lexicon version);
        units analysed by another version are left out, so the caller redoes them. With
        `analyzer` None, whatever is stored: what reports show, the same needs the run's
        profiles counted."""
        query = sa.select(unit_needs).where(unit_needs.c.workspace_id == workspace_id)
        if analyzer is not None:
            query = query.where(unit_needs.c.analyzer == analyzer)
        out: dict[str, UnitNeeds] = {}
        with self.engine.connect() as conn:
            if unit_ids is None:
                rows: Iterable[sa.Row[Any]] = conn.execute(query)
                out.update((r.unit_id, _needs_from_row(r)) for r in rows)
            else:
                # By primary key alone: beside `workspace_id = ?` SQLite's planner takes the
                # workspace's index for a long IN list and scans every reading of the
                # workspace per chunk (quadratic: a million-unit first run stalled on it).
                by_id = sa.select(unit_needs)
                if analyzer is not None:
                    by_id = by_id.where(unit_needs.c.analyzer == analyzer)
                for chunk in _chunks(list(unit_ids)):
                    rows = conn.execute(by_id.where(unit_needs.c.unit_id.in_(chunk)))
                    out.update(
                        (r.unit_id, _needs_from_row(r))
                        for r in rows
                        if r.workspace_id == workspace_id
                    )
        return out

    def unit_ids_with_needs(self, workspace_id: str, analyzers: Collection[str]) -> set[str]:
        """Ids of the workspace's units with needs stored by one of `analyzers`."""
        query = sa.select(unit_needs.c.unit_id).where(
            unit_needs.c.workspace_id == workspace_id,
            unit_needs.c.analyzer.in_(list(analyzers)),
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def count_unit_needs(self, workspace_id: str, analyzers: Collection[str]) -> int:
        """How many of the workspace's units have needs stored by one of `analyzers`: a
        re-cluster compares it with its unit count to know, without reading them, whether
        any are left to read (a deleted unit's needs go with it)."""
        query = (
            sa.select(sa.func.count())
            .select_from(unit_needs)
            .where(
                unit_needs.c.workspace_id == workspace_id,
                unit_needs.c.analyzer.in_(list(analyzers)),
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def save_unit_needs(
        self, workspace_id: str, analyzer: str, needs: Mapping[str, UnitNeeds]
    ) -> None:
        """Store (or replace) units' needs; one transaction."""
        if not needs:
            return
        rows = [
            {
                "unit_id": uid,
                "workspace_id": workspace_id,
                "analyzer": analyzer,
                "intent": n.intent,
                "sentiment": n.sentiment,
                "sentiment_score": n.sentiment_score,
                "stage": n.stage,
                "stage_from": n.stage_from,
                "signals": list(n.signals),
                "facets": list(n.facets),
            }
            for uid, n in needs.items()
        ]
        with self.engine.begin() as conn:
            for chunk in _chunks(rows, 2000):
                statement = self._insert(unit_needs)
                statement = statement.on_conflict_do_update(
                    index_elements=[unit_needs.c.unit_id],
                    set_={
                        c: statement.excluded[c]
                        for c in (
                            "analyzer",
                            "intent",
                            "sentiment",
                            "sentiment_score",
                            "stage",
                            "stage_from",
                            "signals",
                            "facets",
                        )
                    },
                )
                conn.execute(statement, list(chunk))

    def theme_unit_needs(
        self, run_id: str, theme_ids: Sequence[str]
    ) -> list[tuple[UnitHit, UnitNeeds]]:
        """Units of themes that have been analysed, with their needs, newest first: evidence
        quotes and filters by intent, stage or signal."""
        m = self._members(run_id)
        query = (
            sa.select(units, m.c.theme_id, m.c.score, m.c.provisional, unit_needs)
            .join(m, m.c.unit_id == units.c.id)
            .join(unit_needs, unit_needs.c.unit_id == units.c.id)
            .where(m.c.theme_id.in_(list(theme_ids)))
            .order_by(units.c.created_at.desc(), units.c.id)
        )
        with self.engine.connect() as conn:
            return [(_hit(r), _needs_from_row(r)) for r in conn.execute(query)]

    def record_metadata(
        self, workspace_id: str, record_ids: Iterable[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """record id -> metadata (rating, product, channel, tags, ...), for needs profiles."""
        query = sa.select(records.c.id, records.c.workspace_id, records.c.meta)
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            if record_ids is None:
                rows = conn.execute(query.where(records.c.workspace_id == workspace_id))
                out.update((r.id, r.meta or {}) for r in rows)
            else:
                # By primary key alone, the workspace checked here (see `unit_needs`).
                for chunk in _chunks(list(set(record_ids))):
                    rows = conn.execute(query.where(records.c.id.in_(chunk)))
                    out.update((r.id, r.meta or {}) for r in rows if r.workspace_id == workspace_id)
        return out

    def ping(self, wait_s: float = 1.0) -> None:
        """Raise StoreError unless the database answers and, on SQLite, a write could start
        within `wait_s`: a file locked by another writer answers reads (WAL) while every
        write would time out, and readiness must say so. The probe takes the write lock and
        releases it without writing."""
        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name != "sqlite":
                    conn.execute(sa.text("SELECT 1"))
                    return
                raw = conn.connection.dbapi_connection
                assert raw is not None
                before = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    conn.rollback()
                finally:
                    raw.execute(f"PRAGMA busy_timeout={int(before)}")
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url} does not answer: {exc}") from exc

    def connection(self) -> Connection:
        """A raw connection, for tests and migrations checks only."""
        return self.engine.connect()


def _write_served(
    conn: Connection,
    run_id: str,
    run_themes: Sequence[Theme],
    unit_themes: Sequence[tuple[str, str | None, float]],
    cluster_ids: dict[str, str],
    hidden: frozenset[str],
) -> None:
    if run_themes:
        conn.execute(
            themes.insert(),
            [{**_theme_row(t), "hidden": t.theme_id in hidden} for t in run_themes],
        )
    for chunk in _chunks(list(unit_themes), 5000):
        conn.execute(
            assignments.insert(),
            [
                {
                    "run_id": run_id,
                    "unit_id": u,
                    "theme_id": t,
                    "confidence": c,
                    "cluster_id": cluster_ids.get(u),
                }
                for u, t, c in chunk
            ],
        )


def _bump(conn: Connection, run_ids: Iterable[str], column: sa.Column[int]) -> None:
    """Add one to a version counter of runs, one row at a time in id order: two writers
    touching the same runs then lock their rows in the same order (PostgreSQL)."""
    for run_id in sorted(set(run_ids)):
        conn.execute(runs.update().where(runs.c.id == run_id).values({column: column + 1}))


def _write_lineage(conn: Connection, workspace_id: str, events: Sequence[LineageRow]) -> None:
    if events:
        conn.execute(
            lineage.insert(),
            [{"workspace_id": workspace_id, **dataclasses.asdict(e)} for e in events],
        )


def _insert_curation(
    conn: Connection,
    workspace_id: str,
    kind: str,
    theme_id: str,
    created_by: str,
    name: str | None = None,
    target_id: str | None = None,
    unit_ids: Sequence[str] = (),
    reason: str | None = None,
) -> StoredCuration:
    now = _now()
    new_id = conn.execute(
        curations.insert().values(
            workspace_id=workspace_id,
            kind=kind,
            theme_id=theme_id,
            name=name,
            target_id=target_id,
            unit_ids=list(unit_ids),
            created_at=now,
            created_by=created_by,
            active=True,
            reason=reason,
        )
    ).inserted_primary_key[0]
    return StoredCuration(
        int(new_id),
        workspace_id,
        kind,
        theme_id,
        name,
        target_id,
        list(unit_ids),
        now,
        created_by,
        True,
        reason,
    )


def _lineage_from_row(row: sa.Row[Any]) -> LineageRow:
    return LineageRow(
        run_id=row.run_id,
        level=row.level,
        kind=row.kind,
        theme_id=row.theme_id,
        other_ids=list(row.other_ids),
        overlap=row.overlap,
        similarity=row.similarity,
        detail=row.detail,
    )


# Statements run on every API request, built once: building a select and its cache key
# costs more than SQLite takes to answer it.
_CURRENT_RUN = sa.select(runs).where(
    runs.c.workspace_id == sa.bindparam("workspace_id"), runs.c.is_current
)
_CURRENT_RUN_VERSION = sa.select(runs.c.id, runs.c.themes_version, runs.c.live_version).where(
    runs.c.workspace_id == sa.bindparam("workspace_id"), runs.c.is_current
)
_API_KEY = sa.select(api_keys).where(api_keys.c.id == sa.bindparam("key_id"))

_newest_first = units.c.created_at.desc().nulls_last()
"""Undated units after dated ones: SQLite sorts NULL lowest and PostgreSQL highest, so without
saying where NULLs go the two would list undated feedback at opposite ends."""


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _unit_filters(
    query: sa.Select[Any],
    source: str | None,
    lang: str | None,
    since: datetime | None,
    until: datetime | None,
) -> sa.Select[Any]:
    if source is not None:
        query = query.where(units.c.source == source)
    if lang is not None:
        query = query.where(units.c.lang == lang)
    if since is not None:
        query = query.where(units.c.created_at >= since)
    if until is not None:
        query = query.where(units.c.created_at < until)
    return query


def _unit_from_row(row: sa.Row[Any]) -> FeedbackUnit:
    return FeedbackUnit(
        id=row.id,
        record_id=row.record_id,
        workspace_id=row.workspace_id,
        index=row.idx,
        start=row.span_start,
        end=row.span_end,
        text=row.text,
        norm_text=row.norm_text,
        lang=row.lang,
        speaker=row.speaker,
        source=row.source,
        created_at=row.created_at,
    )


def _hit(row: sa.Row[Any]) -> UnitHit:
    return UnitHit(
        unit=_unit_from_row(row),
        theme_id=row.theme_id,
        score=row.score,
        provisional=bool(row.provisional),
    )


def _job_from_row(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        status=row.status,
        params=row.params,
        progress=row.progress,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        owner=row.owner,
        heartbeat_at=row.heartbeat_at,
    )


def _record_row(record: FeedbackRecord, ingest_id: str | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "workspace_id": record.workspace_id,
        "source": record.source,
        "external_id": record.external_id,
        "text": record.text,
        "turns": [[t.start, t.end, t.role, t.speaker] for t in record.turns],
        "created_at": record.created_at,
        "received_at": record.received_at,
        "meta": record.metadata,
        "fingerprint": record.fingerprint,
        "near_duplicate_of": record.near_duplicate_of,
        "ingest_id": ingest_id,
        "file": record.file,
        "line": record.line,
        "redactions": record.redactions,
        "warnings": record.warnings,
    }


def _unit_row(unit: FeedbackUnit, record: FeedbackRecord) -> dict[str, Any]:
    return {
        "id": unit.id,
        "record_id": unit.record_id,
        "workspace_id": unit.workspace_id,
        "idx": unit.index,
        "span_start": unit.start,
        "span_end": unit.end,
        "text": unit.text,
        "norm_text": unit.norm_text,
        "lang": unit.lang,
        "speaker": unit.speaker,
        "text_hash": text_hash(unit.norm_text),
        "source": unit.source or record.source,
        "created_at": unit.created_at or record.created_at,
    }


def _reject_row(
    workspace_id: str, source: str, ingest_id: str | None, reject: Reject
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "ingest_id": ingest_id,
        "source": source,
        "file": reject.location.file,
        "line": reject.location.line,
        "code": reject.code,
        "reason": reject.reason,
        "excerpt": reject.excerpt[:500],
        "created_at": _now(),
    }


def _run_row(run: Run) -> dict[str, Any]:
    return {
        "id": run.run_id,
        "workspace_id": run.workspace_id,
        "status": run.status,
        "is_current": run.is_current,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "params": run.params,
        "model_id": run.model_id,
        "code_version": run.code_version,
        "timings": run.timings,
        "n_units": run.n_units,
        "n_themes": run.n_themes,
        "unassigned": run.unassigned,
        "error": run.error,
    }


def _run_from_row(row: sa.Row[Any]) -> Run:
    return Run(
        run_id=row.id,
        workspace_id=row.workspace_id,
        status=row.status,
        started_at=row.started_at,
        params=row.params,
        model_id=row.model_id,
        code_version=row.code_version,
        finished_at=row.finished_at,
        timings=row.timings,
        n_units=row.n_units,
        n_themes=row.n_themes,
        unassigned=row.unassigned,
        is_current=row.is_current,
        error=row.error,
        stability=row.stability,
        data_until=row.data_until,
        themes_version=row.themes_version,
        live_version=row.live_version,
    )


def _theme_row(theme: Theme) -> dict[str, Any]:
    return {
        "run_id": theme.run_id,
        "theme_id": theme.theme_id,
        "workspace_id": theme.workspace_id,
        "level": theme.level,
        "parent_id": theme.parent_id,
        "name": theme.name,
        "names": theme.names,
        "keywords": {lang: [[w, s] for w, s in words] for lang, words in theme.keywords.items()},
        "size": theme.size,
        "langs": theme.langs,
        "quotes": theme.quotes,
        "centroid": theme.centroid,
        "needs": theme.needs,
    }


def _theme_from_row(row: sa.Row[Any]) -> Theme:
    return Theme(
        theme_id=row.theme_id,
        run_id=row.run_id,
        workspace_id=row.workspace_id,
        level=row.level,
        parent_id=row.parent_id,
        name=row.name,
        names=row.names,
        keywords={lang: [(w, s) for w, s in words] for lang, words in row.keywords.items()},
        size=row.size,
        langs=row.langs,
        quotes=row.quotes,
        centroid=bytes(row.centroid),
        needs=row.needs,
    )


def _needs_from_row(row: sa.Row[Any]) -> UnitNeeds:
    return UnitNeeds(
        intent=row.intent,
        sentiment=row.sentiment,
        sentiment_score=row.sentiment_score,
        signals=tuple(row.signals),
        stage=row.stage,
        stage_from=row.stage_from,
        facets=tuple(row.facets),
    )


def _record_from_row(row: sa.Row[Any]) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        source=row.source,
        text=row.text,
        turns=[Turn(start=s, end=e, role=role, speaker=spk) for s, e, role, spk in row.turns],
        external_id=row.external_id,
        created_at=row.created_at,
        received_at=row.received_at,
        metadata=row.meta,
        fingerprint=row.fingerprint,
        near_duplicate_of=row.near_duplicate_of,
        file=row.file,
        line=row.line,
        redactions=row.redactions,
        warnings=row.warnings,
    )


def decode_vector(blob: bytes, dim: int) -> np.ndarray:
    """A cached vector: float16 (2 bytes per dimension, as cached now) or float32 (4 bytes,
    caches written before float16)."""
    if len(blob) == 2 * dim:
        return np.frombuffer(blob, dtype=np.float16)
    if len(blob) == 4 * dim:
        return np.frombuffer(blob, dtype=np.float32)
    raise StoreError(f"a cached vector of {len(blob)} bytes does not hold {dim} dimensions")
