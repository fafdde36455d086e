"""Request and response bodies, one family per resource (`ThemePublic`, `ThemesPublic` with
`count`, ...). They are the API's contract, separate from voc's dataclasses, with examples so
/docs shows a usable API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

SourceName = Literal["ticket", "call", "review", "interview", "survey"]


class TurnIn(BaseModel):
    """One party's turn in a conversation; only customer turns are analysed."""

    speaker: str = ""
    role: Literal["customer", "agent", "interviewer", "system"] = "customer"
    text: str


class FeedbackItem(BaseModel):
    """One record as a client sends it: `text`, or `turns` for a conversation."""

    source: SourceName
    text: str | None = None
    turns: list[TurnIn] | None = None
    external_id: str | None = Field(None, max_length=300)
    created_at: datetime | str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


_ITEM_SCHEMA = FeedbackItem.model_json_schema(ref_template="#/components/schemas/{model}")
_ITEM_SCHEMA.pop("$defs", None)


class FeedbackBatch(BaseModel):
    """Items are checked one by one, so one bad record is rejected with a reason while the
    rest of the batch is accepted."""

    records: list[Any] = Field(
        ...,
        min_length=1,
        max_length=1000,
        description="Records shaped like FeedbackItem: source, text or turns, external_id, "
        "created_at, metadata.",
        json_schema_extra={"items": _ITEM_SCHEMA},
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "source": "ticket",
                            "external_id": "T-1001",
                            "text": "提现申请提交三天了还没到账，客服也联系不上。",
                            "created_at": "2026-07-06T10:22:00+08:00",
                            "metadata": {"product": "wallet", "channel": "app"},
                        },
                        {
                            "source": "call",
                            "external_id": "C-77",
                            "turns": [
                                {"speaker": "Agent", "role": "agent", "text": "How can I help?"},
                                {
                                    "speaker": "Dana",
                                    "role": "customer",
                                    "text": "The app logs me out every time I switch apps.",
                                },
                            ],
                        },
                    ]
                }
            ]
        }
    )


class UnitAssignmentPublic(BaseModel):
    unit_id: str
    text: str
    lang: str
    theme_id: str | None
    similarity: float
    status: Literal["assigned", "pending"]
    needs: UnitNeedsPublic | None = Field(
        None, description="Intent, sentiment, need signals and journey stage (voc.needs)."
    )


class ItemResult(BaseModel):
    index: int = Field(..., description="0-based position of the record in the request.")
    status: Literal["accepted", "duplicate", "rejected"]
    record_id: str | None = None
    code: str | None = None
    reason: str | None = None
    near_duplicate_of: str | None = None
    warnings: list[str] = Field(default_factory=list)
    units: list[UnitAssignmentPublic] = Field(default_factory=list)


class FeedbackResponse(BaseModel):
    ingest_id: str
    accepted: int
    duplicate: int
    rejected: int
    units: int
    items: list[ItemResult]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ingest_id": "5b73fe58af314f56a7009ccde40e7638",
                    "accepted": 1,
                    "duplicate": 0,
                    "rejected": 1,
                    "units": 1,
                    "items": [
                        {
                            "index": 0,
                            "status": "accepted",
                            "record_id": "00f76d5c7d8a3e588bb12d57234c09a9",
                            "warnings": [],
                            "units": [
                                {
                                    "unit_id": "00f76d5c7d8a3e588bb12d57234c09a9:0",
                                    "text": "提现三天了还没到账。",
                                    "lang": "zh",
                                    "theme_id": "T-0042",
                                    "similarity": 0.58,
                                    "status": "assigned",
                                }
                            ],
                        },
                        {
                            "index": 1,
                            "status": "rejected",
                            "code": "invalid_source",
                            "reason": "record 2: source 'tweet' is not one of ticket, call, "
                            "review, interview, survey; set it.",
                            "warnings": [],
                            "units": [],
                        },
                    ],
                }
            ]
        }
    )


class QuotePublic(BaseModel):
    unit_id: str
    record_id: str
    span: list[int]
    text: str
    lang: str
    source: str
    created_at: str | None
    reason: str


class QuotesPublic(BaseModel):
    data: list[QuotePublic]
    count: int


Intent = Literal["pain", "request", "question", "praise", "other"]
Stage = Literal["discover", "evaluate", "purchase", "onboard", "use", "support", "renew_churn"]
Signal = Literal["workaround", "effort", "confusion", "churn_risk", "comparison", "urgency"]


class UnitNeedsPublic(BaseModel):
    """What one unit says about needs (voc.needs)."""

    intent: Intent = Field(..., examples=["pain"])
    sentiment: Literal["negative", "neutral", "positive"] = Field(..., examples=["negative"])
    sentiment_score: float = Field(..., ge=-1, le=1, examples=[-0.5])
    signals: list[Signal] = Field(..., examples=[["workaround"]])
    stage: Stage = Field(..., examples=["use"])
    stage_from: Literal["text", "metadata", "default"] = Field(..., examples=["text"])


class ThemeNeedsSummary(BaseModel):
    """A theme's needs at a glance: what a product manager sorts and filters by."""

    intent: Intent = Field(..., description="The most frequent intent.", examples=["pain"])
    intent_mix: dict[str, float] = Field(
        ..., description="Share of units per intent.", examples=[{"pain": 0.7, "request": 0.1}]
    )
    sentiment: float = Field(..., description="Mean sentiment, -1 to 1.", examples=[-0.42])
    negative_share: float = Field(..., examples=[0.66])
    stage: Stage = Field(..., description="The most frequent journey stage.", examples=["use"])
    churn_risk: float = Field(..., description="Share of units with a churn-risk signal.")
    need_statement: dict[str, str] = Field(..., examples=[{"zh": "需求：提现到账要快，进度可预期"}])
    need_gap: float = Field(
        ...,
        ge=0,
        le=1,
        description="1 - min(1, R / (0.5 (R + E))) x facet overlap: how far explicit requests "
        "(R) fall short of the pains and workarounds (E); docs/needs.md.",
    )
    unstated: bool = Field(..., description="Frequent pains and workarounds, rare requests.")
    priority: float = Field(..., ge=0, le=100, examples=[64.2])


class ThemeNeedsPublic(ThemeNeedsSummary):
    """The full needs profile of a theme (counts behind every share, and the priority's parts)."""

    units: int
    intents: dict[str, int]
    sentiments: dict[str, int]
    signals: dict[str, int]
    stages: dict[str, int]
    evidence: int = Field(
        ...,
        description="Units that are pains or show a workaround, effort "
        "or confusion, requests excluded.",
    )
    requests: int
    facets: dict[str, int] = Field(..., description="Need facets of the evidence and requests.")
    need_facet: str | None = Field(..., examples=["speed"])
    unstated_score: float
    growth: float = Field(..., description="Last 28 days against the 28 before, relative.")
    ratings: dict[str, dict[str, float]] = Field(
        ...,
        description="Per score field (rating, nps, csat): the theme's mean, its count, and the "
        "rest of the workspace's mean and count, with impact = mean - rest_mean.",
        examples=[
            {"rating": {"mean": 2.1, "n": 40, "rest_mean": 4.2, "rest_n": 310, "impact": -2.1}}
        ],
    )
    breakdowns: dict[str, dict[str, int]] = Field(
        ..., description="Units per source and per product, channel, tier, segment, platform."
    )
    priority_parts: dict[str, float] = Field(
        ..., description="Each weighted component of the priority; they add up to it."
    )


class ThemePublic(BaseModel):
    theme_id: str = Field(..., examples=["T-0042"])
    name: str = Field(..., examples=["提现 / withdrawal fee"])
    names: dict[str, str] = Field(..., examples=[{"zh": "提现手续费", "en": "withdrawal fee"}])
    level: int = Field(..., description="0 for themes that hold units, 1 for their parents.")
    parent_id: str | None = Field(None, examples=["T-0051"])
    size: int = Field(..., description="Units in the theme, live assignments included.")
    langs: dict[str, int] = Field(..., examples=[{"zh": 80, "en": 51}])
    keywords: dict[str, list[str]] = Field(
        ..., examples=[{"zh": ["提现", "手续费", "到账"], "en": ["fee", "withdrawal"]}]
    )
    latest_at: datetime | None = Field(None, description="When its newest unit was written.")
    run_id: str
    needs: ThemeNeedsSummary | None = Field(
        None, description="None for runs made before needs were analysed."
    )


class ThemesPublic(BaseModel):
    data: list[ThemePublic]
    count: int
    run_id: str | None


class WeekCount(BaseModel):
    week: date = Field(..., description="Monday of the week.")
    count: int


class LineagePublic(BaseModel):
    """One step of a theme's history: what a re-cluster or a curation did to it."""

    run_id: str
    kind: Literal["continued", "born", "died", "merged", "split", "curated"]
    other_ids: list[str] = Field(
        description="merged: the theme it went into; split: the themes it came from."
    )
    overlap: float | None = Field(description="Jaccard of shared units with other_ids[0].")
    similarity: float | None = Field(description="Cosine of the centroids.")
    detail: str


class ThemeDetail(ThemePublic):
    keyword_scores: dict[str, list[tuple[str, float]]]
    children: list[str]
    quotes: list[QuotePublic]
    weekly: list[WeekCount]
    history: list[LineagePublic] = Field(
        default_factory=list, description="Lineage events naming this theme, oldest first."
    )
    needs_profile: ThemeNeedsPublic | None = None


class UnitPublic(BaseModel):
    unit_id: str
    record_id: str
    span: list[int]
    text: str
    lang: str
    speaker: str
    source: str
    created_at: datetime | None
    theme_id: str | None = None
    score: float | None = None
    provisional: bool = Field(False, description="Assigned since the run, not by it.")
    needs: UnitNeedsPublic | None = None


class UnitsPublic(BaseModel):
    data: list[UnitPublic]
    count: int


class TurnPublic(BaseModel):
    start: int
    end: int
    role: str
    speaker: str


class RecordPublic(BaseModel):
    record_id: str
    source: str
    external_id: str | None
    text: str
    turns: list[TurnPublic]
    created_at: datetime | None
    received_at: datetime
    metadata: dict[str, Any]
    units: list[UnitPublic]


class RunPublic(BaseModel):
    run_id: str
    status: str
    is_current: bool
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    model_id: str
    code_version: str
    timings: dict[str, float]
    n_units: int
    n_themes: int
    unassigned: int
    error: str | None
    stability: float | None = Field(
        None,
        description="Share of the units present in this run and the previous one that kept "
        "their theme id (None for a workspace's first run).",
    )
    data_until: datetime | None = Field(
        None, description="Date of the newest feedback unit the run covers."
    )
    job_id: str | None = Field(None, description="The job that ran it, when queued by the API.")
    progress: dict[str, Any] = Field(
        default_factory=dict,
        description="The job's last step while it runs, e.g. "
        '{"step": "embed", "done": 2000, "total": 2937}.',
    )


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int


class RunCreate(BaseModel):
    seed: int = 0
    params: dict[str, Any] = Field(
        default_factory=dict, description="ThemeClusterer parameters, e.g. min_theme_size."
    )


class JobPublic(BaseModel):
    job_id: str
    kind: Literal["run", "upload"]
    status: Literal["queued", "running", "done", "failed"]
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Health(BaseModel):
    status: str
    database: str | None = None
    model: str | None = None


class TrendPointPublic(BaseModel):
    period: date = Field(..., description="First day of the period (Monday for weeks).")
    label: str = Field(..., examples=["2026-W28"])
    count: int
    volume: int = Field(..., description="All units of the period, themed or not.")
    share: float
    baseline_share: float | None
    growth: float | None = Field(..., description="share / baseline share - 1.")


class ThemeTrend(BaseModel):
    theme_id: str
    name: str
    points: list[TrendPointPublic]


class AlertPublic(BaseModel):
    kind: Literal["spike", "emerging", "died", "proposed"]
    theme_id: str
    period: date
    label: str
    count: int
    baseline: float
    p_value: float | None
    message: str


class TrendsPublic(BaseModel):
    run_id: str | None
    granularity: Literal["day", "week"]
    data: list[ThemeTrend]
    alerts: list[AlertPublic] = Field(
        ..., description="Spikes, emerging and silenced themes in the last period."
    )


class ProblemFieldError(BaseModel):
    pointer: str | None = Field(None, description="JSON pointer into the body, e.g. /records.")
    parameter: str | None = Field(None, description="Query or path parameter.")
    header: str | None = None
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str = Field(..., examples=["urn:voc:problem:not_found"])
    title: str = Field(..., examples=["Not found"])
    status: int = Field(..., examples=[404])
    detail: str = Field(..., examples=["theme 'T-9999' is not in the current run"])
    code: str = Field(..., examples=["not_found"])
    instance: str | None = Field(None, examples=["/v1/workspaces/demo/themes/T-9999"])
    errors: list[ProblemFieldError] | None = Field(None, description="Only on 422.")


_PROBLEM_STATUSES = {
    401: "Missing, unknown or revoked API key.",
    403: "The key lacks the route's scope.",
    404: "Not found, or a workspace the key does not belong to.",
    422: "Invalid request; `errors` points at each problem.",
    429: "Rate limited; see Retry-After.",
}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for status, description in _PROBLEM_STATUSES.items()
}


class RenameBody(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The name shown from now on.")


class MergeBody(BaseModel):
    target_id: str = Field(min_length=1, max_length=20, description="The theme to merge into.")


class SplitBody(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="Name of the new theme.")
    unit_ids: list[str] = Field(
        min_length=1, max_length=10000, description="Units of this theme that form the new one."
    )


class PinBody(BaseModel):
    name: str | None = Field(
        None, max_length=200, description="Freeze the name to this; default the current name."
    )


class CurationPublic(BaseModel):
    """A recorded curation; it applies to the current run at once and after every re-cluster."""

    curation_id: int
    kind: Literal["rename", "merge", "split_off", "pin", "hide"]
    theme_id: str = Field(description="The curated theme; for a split, the new theme's id.")
    name: str | None
    target_id: str | None
    unit_ids: list[str]
    created_at: datetime
    created_by: str
    run_id: str
    themes: int = Field(description="Level-0 themes served after the curation.")


class CurationRecord(BaseModel):
    """A curation on record: `active` ones apply after every re-cluster; undone ones stay
    listed so the history of who changed what is kept."""

    curation_id: int = Field(..., examples=[7])
    kind: Literal["rename", "merge", "split_off", "pin", "hide"] = Field(..., examples=["rename"])
    theme_id: str = Field(..., examples=["T-0042"])
    name: str | None = Field(None, examples=["提现到账慢"])
    target_id: str | None = Field(None, examples=[None])
    unit_ids: list[str] = Field(..., examples=[[]])
    created_at: datetime
    created_by: str = Field(
        ...,
        examples=["3f9a1c2b7d40"],
        description="The API key id that made it, `cli`, or `voc:converged` for a merge voc "
        "made when two themes' content converged.",
    )
    active: bool = Field(..., examples=[True])
    reason: str | None = Field(
        None, examples=[None], description="Why voc made it; null for a person's curation."
    )


class CurationsPublic(BaseModel):
    data: list[CurationRecord]
    count: int


class CurationUndone(BaseModel):
    """The curation as it was before the undo, and what the current run serves now."""

    curation: CurationRecord
    run_id: str | None = Field(..., description="The current run, re-derived without it.")
    themes: int = Field(..., description="Level-0 themes served after the undo.")


class AlertsPublic(BaseModel):
    run_id: str | None
    data: list[AlertPublic]


class EvidencePublic(BaseModel):
    unit: UnitPublic
    needs: UnitNeedsPublic


class UnstatedNeedPublic(BaseModel):
    """A theme whose customers show a need through pains and workarounds but rarely ask."""

    rank: int
    theme: ThemePublic
    need_statement: dict[str, str]
    need_gap: float
    unstated_score: float = Field(
        ...,
        description="need_gap x evidence share x workaround/effort/confusion share x "
        "ln(1 + units), each share over 10 more units than the theme has (docs/needs.md).",
    )
    evidence: int
    requests: int
    workarounds: int
    quotes: list[EvidencePublic] = Field(
        ..., description="Workarounds first, then pains: the customers' own words."
    )


class NeedsListPublic(BaseModel):
    run_id: str | None
    data: list[UnstatedNeedPublic]
    count: int


JSON = "application/json"


def json_bytes(model: BaseModel) -> bytes:
    """A response model as the JSON FastAPI would send for it (aliases, every field), so a
    route can keep the bytes and answer with them again."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def json_response(model: BaseModel) -> Response:
    return Response(json_bytes(model), media_type=JSON)
