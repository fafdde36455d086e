"""VocSettings: every knob in one place, read from VOC_* environment variables or a .env file.

Code receives a settings object (injected), it never reads the environment itself; tests
build their own `VocSettings(...)`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPORA_DIR = PROJECT_ROOT / "corpora"
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_PRIORITY_WEIGHTS: dict[str, float] = {
    "volume": 0.30,
    "growth": 0.20,
    "negativity": 0.20,
    "churn_risk": 0.15,
    "effort": 0.15,
}
"""Weights of a theme's priority (voc.needs.rank_priorities) unless VOC_PRIORITY_WEIGHTS says."""


class VocSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".voc"), description="Where the SQLite database and caches live.")
    cache_dir: Path | None = Field(
        None,
        description="Caches built from installed packages, not from feedback (jieba's "
        "dictionary, ~1 s to build, 0.3 s to load); default <data_dir>/cache. Point several "
        "data directories at one to build it once.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/voc.db."
    )
    workspace: str = Field("default", description="Workspace used when none is given.")
    default_tz: str = Field(
        "UTC", description="IANA zone for input dates written without one, e.g. Asia/Shanghai."
    )

    redact_pii: bool = Field(True, description="Redact emails, phones, IDs, cards before storage.")
    pii_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra redaction patterns, name -> regular expression, e.g. "
        '{"ORDER_REF": "ORD-\\\\d{8}"}.',
    )

    max_record_chars: int = Field(
        1_000_000, description="Records with longer text are rejected with a reason."
    )
    min_unit_chars_zh: int = Field(
        4, description="Shorter Chinese fragments merge with a neighbour."
    )
    min_unit_words_en: int = Field(
        3, description="Shorter English fragments merge with a neighbour."
    )
    batch_size: int = Field(2000, description="Records per database transaction while ingesting.")

    user_dict: Path = Field(
        CORPORA_DIR / "userdict" / "zh_domain.txt", description="jieba user dictionary."
    )
    stopwords_zh: Path = Field(CORPORA_DIR / "stopwords" / "zh.txt")
    stopwords_en: Path = Field(CORPORA_DIR / "stopwords" / "en.txt")

    threads: int = Field(2, description="Threads for BLAS, OpenMP, numba and torch.")

    model: str | None = Field(
        None,
        description="Embedder: a name in models/manifest.toml or a local path; default use-m3.",
    )
    fit_sample: int = Field(
        10_000,
        ge=100,
        description="Most units a re-cluster learns its themes from; a larger workspace is "
        "fitted on a stable hash sample of this size and every other unit is assigned to its "
        "nearest theme (docs/scaling.md has the measurements behind the default).",
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where a re-cluster embeds and assigns units: `local` in this process, "
        "`ray` as Ray Data jobs on a Ray cluster (pip install 'voc[ray]'; docs/scaling.md). "
        "The fit runs in this process either way.",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster for engine `ray`, as for ray.init: `auto`, `ray://head:10001` "
        "or `head:6379`; unset starts a local Ray (or uses RAY_ADDRESS).",
    )
    assign_threshold: float | None = Field(
        None,
        description="Cosine similarity to a theme a submitted unit needs to join it before the "
        "next re-cluster (otherwise it is pending); default: the run's own outlier threshold.",
    )
    api_max_batch: int = Field(1000, description="Most records in one POST .../feedback.")
    api_upload_limit_mb: float = Field(50, description="Largest upload accepted, in megabytes.")
    api_rate_limit: int = Field(
        600, description="Requests per minute per API key; 0 switches rate limiting off."
    )
    api_key_cache_s: float = Field(
        1.0,
        ge=0,
        description="Seconds the API process reuses an API key's row it read, instead of reading "
        "it for every request. A key revoked in the same process stops working at once; one "
        "revoked by `voc keys revoke` (another process) within this time. 0: read every time.",
    )
    api_idempotency_days: float = Field(
        7,
        gt=0,
        description="Days a POST .../feedback Idempotency-Key is kept: resent within this time, "
        "the request gets the first response back. Older keys are deleted (checked at most "
        "once an hour per process, when a key is saved), and a request resent with one is "
        "processed again (its records then come back as duplicates).",
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty keeps CORS off."
    )
    api_job_workers: int = Field(1, description="Threads running background jobs (runs, uploads).")
    api_threads: int = Field(
        1,
        ge=1,
        description="BLAS threads (and embedder threads) per API process. Requests already run "
        "in parallel, so more contend for the cores: on two busy cores a 107-unit batch took "
        "46-551 ms with 2 threads against a steady 65 ms with 1.",
    )
    shutdown_grace_s: float = Field(
        30,
        ge=0,
        description="On SIGTERM, how long `voc serve` lets in-flight requests finish, and then "
        "how long running jobs get; a run still going after that is failed as interrupted (the "
        "previous run stays current) and an upload is handed back to the next server start.",
    )
    run_heartbeat_s: float = Field(
        15, gt=0, description="How often a process holding a run or job says it is alive."
    )
    run_stale_after_s: float = Field(
        120,
        gt=0,
        description="A job held by a process on another machine or container whose heartbeat "
        "is older than this counts as interrupted (same-machine holders are looked up by pid).",
    )
    priority_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_WEIGHTS),
        description="Weights of a theme's priority score (voc.needs.rank_priorities): volume, "
        "growth, negativity, churn_risk, effort; each component is scaled against the run's "
        'highest theme. Example: VOC_PRIORITY_WEIGHTS=\'{"volume": 1, "churn_risk": 1}\'.',
    )
    webhook_url: str | None = Field(
        None,
        description="Where a weekly run POSTs its alerts as JSON (voc.alerts); unset sends none.",
    )

    @field_validator("default_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Asia/Shanghai"
            ) from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'voc.db').as_posix()}"

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"


def apply_thread_limits(threads: int) -> None:
    """Pin thread pools before numeric libraries start them; more threads than cores is slower."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))


@lru_cache(maxsize=1)
def get_settings() -> VocSettings:
    return VocSettings()
