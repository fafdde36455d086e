"""Themes of the current run, with the units submitted since (live assignments) counted in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ReadWorkspace, ServedDep, StoreDep, ThemesDep
from api.routes.trends import latest_growth
from api.schemas import (
    JSON,
    PROBLEM_RESPONSES,
    EvidencePublic,
    Intent,
    LineagePublic,
    NeedsListPublic,
    QuotePublic,
    QuotesPublic,
    Signal,
    Stage,
    ThemeDetail,
    ThemeNeedsPublic,
    ThemeNeedsSummary,
    ThemePublic,
    ThemesPublic,
    UnitPublic,
    UnitsPublic,
    UnstatedNeedPublic,
    WeekCount,
    json_bytes,
    json_response,
)
from api.themecache import RunThemes, ServedRuns
from api.units import unit_needs_public, unit_public
from voc.errors import NotFoundError
from voc.needs import UnitNeeds
from voc.store import RunVersion, Store, ThemeStat, UnitHit
from voc.types import Run, Theme

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["themes"], responses=PROBLEM_RESPONSES)

Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items to return.")]
Lang = Annotated[Literal["zh", "en"] | None, Query(description="Only units in this language.")]
SourceFilter = Annotated[
    Literal["ticket", "call", "review", "interview", "survey"] | None,
    Query(description="Only units from this source."),
]
KEYWORDS_SHOWN = 10


def _current_run(store: Store, ws: str) -> Run:
    run = store.current_run(ws)
    if run is None:
        raise NotFoundError(
            f"workspace {ws!r} has no themes yet; start a run with POST /v1/workspaces/{ws}/runs."
        )
    return run


def _needs_summary(needs: dict[str, Any] | None) -> ThemeNeedsSummary | None:
    if not needs:
        return None
    n = needs["units"] or 1
    return ThemeNeedsSummary(
        intent=max(needs["intents"], key=lambda k: (needs["intents"][k], k == "pain")),
        intent_mix={k: round(v / n, 4) for k, v in needs["intents"].items()},
        sentiment=needs["sentiment_mean"],
        negative_share=round(needs["sentiments"].get("negative", 0) / n, 4),
        stage=needs["stage"],
        churn_risk=needs["churn_risk"],
        need_statement=needs["need_statement"],
        need_gap=needs["need_gap"],
        unstated=needs["unstated"],
        priority=needs["priority"],
    )


def _needs_profile(needs: dict[str, Any] | None) -> ThemeNeedsPublic | None:
    summary = _needs_summary(needs)
    if summary is None or needs is None:
        return None
    keys = set(ThemeNeedsPublic.model_fields) - set(ThemeNeedsSummary.model_fields)
    return ThemeNeedsPublic(**summary.model_dump(), **{k: needs[k] for k in keys})


def _public(theme: Theme, stat: ThemeStat) -> ThemePublic:
    return ThemePublic(
        theme_id=theme.theme_id,
        name=theme.name,
        names=theme.names,
        level=theme.level,
        parent_id=theme.parent_id,
        size=stat.size,
        langs=theme.langs,
        keywords={
            lang: [w for w, _ in words[:KEYWORDS_SHOWN]] for lang, words in theme.keywords.items()
        },
        latest_at=stat.latest,
        run_id=theme.run_id,
        needs=_needs_summary(theme.needs),
    )


@dataclass(frozen=True, slots=True)
class ThemeFilters:
    lang: str | None
    source: str | None
    parent: str | None
    level: int | None
    since: date | None
    until: date | None
    intent: str | None
    stage: str | None
    unstated: bool | None


@dataclass(frozen=True, slots=True)
class ThemesPage:
    """One GET of themes' query, the key of its answer in RunAnswers."""

    filters: ThemeFilters
    min_gap: float | None
    sort: str
    offset: int
    limit: int


@router.get("/themes", response_model=ThemesPublic)
async def list_themes(
    ws: ReadWorkspace,
    served: ServedDep,
    offset: Offset = 0,
    limit: Limit = 20,
    lang: Lang = None,
    source: SourceFilter = None,
    parent: Annotated[str | None, Query(description="Only children of this theme.")] = None,
    level: Annotated[int | None, Query(ge=0, le=1, description="0 themes, 1 parents.")] = None,
    since: Annotated[date | None, Query(description="Units written on or after.")] = None,
    until: Annotated[date | None, Query(description="Units written on or before.")] = None,
    intent: Annotated[
        Intent | None, Query(description="Only themes mostly of this intent.")
    ] = None,
    stage: Annotated[Stage | None, Query(description="Only themes mostly at this stage.")] = None,
    unstated: Annotated[bool | None, Query(description="Only (or no) unstated needs.")] = None,
    min_gap: Annotated[
        float | None, Query(ge=0, le=1, description="Only themes with at least this need gap.")
    ] = None,
    sort: Annotated[
        Literal["size", "recency", "growth", "priority", "need_gap"],
        Query(
            description="growth: share of the last week over its baseline; priority and need_gap "
            "(voc.needs): highest first."
        ),
    ] = "size",
) -> Response:
    """Themes of the current run; sizes count only units matching the filters."""
    # On the event loop, unlike most routes: a page already answered for the run's current
    # versions is sent without a trip to a worker thread; the store is read in one, shared
    # with the requests that ask at the same time (api/themecache.py).
    run = await served.current(ws)
    if run is None:
        return json_response(ThemesPublic(data=[], count=0, run_id=None))
    filters = ThemeFilters(lang, source, parent, level, since, until, intent, stage, unstated)
    page = ThemesPage(filters, min_gap, sort, offset, limit)

    def body() -> bytes:
        return json_bytes(_themes_page(served, ws, run, page))

    if sort == "growth":
        # Growth compares with the whole workspace's volume, which also grows by units that
        # no live assignment counts (`voc ingest` between runs): computed every time.
        return Response(await run_in_threadpool(body), media_type=JSON)
    # Everything else follows from the run's served themes and their units: the bytes are
    # reused until the run's versions change (a unit placed, a curation; api/themecache.py).
    kept = served.answers.peek(run, page)
    if kept is None:
        kept = await run_in_threadpool(served.answer, run, page, body)
    return Response(kept, media_type=JSON)


def _themes_page(served: ServedRuns, ws: str, run: RunVersion, page: ThemesPage) -> ThemesPublic:
    f = page.filters
    themes = served.visible(run)
    filtered = any(v is not None for v in (f.lang, f.source, f.since, f.until))
    stats = served.stats(run, True, f.source, f.lang, f.since, f.until)
    chosen = [
        t
        for t in themes
        if (f.parent is None or t.parent_id == f.parent)
        and (f.level is None or t.level == f.level)
        and (not filtered or stats[t.theme_id].size > 0)
        and _needs_match(t, f.intent, f.stage, f.unstated, page.min_gap)
    ]
    sort = page.sort
    if sort in ("priority", "need_gap"):
        chosen.sort(key=lambda t: (t.needs is None, -(t.needs or {}).get(sort, 0.0), t.theme_id))
    elif sort == "size":
        chosen.sort(key=lambda t: (-stats[t.theme_id].size, t.theme_id))
    elif sort == "recency":
        chosen.sort(key=lambda t: _recency(stats[t.theme_id], t.theme_id))
    else:
        growth = latest_growth(served.store, ws, run.run_id, themes)
        chosen.sort(
            key=lambda t: (t.theme_id not in growth, -growth.get(t.theme_id, 0.0), t.theme_id)
        )
    shown = chosen[page.offset : page.offset + page.limit]
    return ThemesPublic(
        data=[_public(t, stats[t.theme_id]) for t in shown], count=len(chosen), run_id=run.run_id
    )


def _needs_match(
    theme: Theme,
    intent: str | None,
    stage: str | None,
    unstated: bool | None,
    min_gap: float | None,
) -> bool:
    if all(v is None for v in (intent, stage, unstated, min_gap)):
        return True
    summary = _needs_summary(theme.needs)
    if summary is None:
        return False
    return (
        (intent is None or summary.intent == intent)
        and (stage is None or summary.stage == stage)
        and (unstated is None or summary.unstated == unstated)
        and (min_gap is None or summary.need_gap >= min_gap)
    )


def _recency(stat: ThemeStat, theme_id: str) -> tuple[bool, float, str]:
    """Newest unit first; themes whose units have no date last."""
    latest = stat.latest
    return latest is None, -latest.timestamp() if latest else 0.0, theme_id


def _theme_and_members(
    store: Store, cache: RunThemes, ws: str, theme_id: str
) -> tuple[Run, Theme, list[str]]:
    """The theme, and the level-0 themes whose units it holds (itself, or a parent's children)."""
    run = _current_run(store, ws)
    theme = cache.theme(run, theme_id)
    if theme.level == 0:
        return run, theme, [theme.theme_id]
    children = [t.theme_id for t in cache.of(run) if t.parent_id == theme_id]
    return run, theme, children


@router.get("/themes/{theme_id}", response_model=ThemeDetail)
def get_theme(ws: ReadWorkspace, theme_id: str, store: StoreDep, served: ServedDep) -> ThemeDetail:
    """Keywords per language, name, size, children, quotes, weekly counts and the run."""
    run, theme, members = _theme_and_members(store, served.themes, ws, theme_id)
    themes = served.themes.of(run)
    stat = served.stats(run)[theme.theme_id]
    weeks = Counter(
        d.date() - timedelta(days=d.weekday())
        for d in store.theme_unit_dates(run.run_id, members)
        if d is not None
    )
    public = _public(theme, stat)
    return ThemeDetail(
        **public.model_dump(),
        keyword_scores=theme.keywords,
        children=[t.theme_id for t in themes if t.parent_id == theme.theme_id],
        quotes=[QuotePublic(**q) for q in theme.quotes],
        weekly=[WeekCount(week=w, count=n) for w, n in sorted(weeks.items())],
        history=[
            LineagePublic(
                run_id=e.run_id,
                kind=e.kind,  # type: ignore[arg-type]
                other_ids=e.other_ids,
                overlap=e.overlap,
                similarity=e.similarity,
                detail=e.detail,
            )
            for e in store.theme_history(ws, theme.theme_id)
        ],
        needs_profile=_needs_profile(theme.needs),
    )


@router.get("/themes/{theme_id}/quotes", response_model=QuotesPublic)
def theme_quotes(
    ws: ReadWorkspace,
    theme_id: str,
    store: StoreDep,
    cache: ThemesDep,
    offset: Offset = 0,
    limit: Limit = 20,
    lang: Lang = None,
    source: SourceFilter = None,
) -> QuotesPublic:
    """The quotes chosen for the theme (central, diverse, recent), filtered."""
    _, theme, _ = _theme_and_members(store, cache, ws, theme_id)
    quotes = [
        q
        for q in theme.quotes
        if (lang is None or q["lang"] == lang) and (source is None or q["source"] == source)
    ]
    return QuotesPublic(
        data=[QuotePublic(**q) for q in quotes[offset : offset + limit]], count=len(quotes)
    )


@router.get("/themes/{theme_id}/units", response_model=UnitsPublic)
def theme_units(
    ws: ReadWorkspace,
    theme_id: str,
    store: StoreDep,
    cache: ThemesDep,
    offset: Offset = 0,
    limit: Limit = 20,
    intent: Annotated[Intent | None, Query(description="Only units of this intent.")] = None,
    stage: Annotated[Stage | None, Query(description="Only units at this stage.")] = None,
    signal: Annotated[Signal | None, Query(description="Only units with this signal.")] = None,
) -> UnitsPublic:
    """Every unit in the theme, newest first; `provisional` marks units submitted since the
    run. With `intent`, `stage` or `signal`, only analysed units that match, with their needs."""
    run, _, members = _theme_and_members(store, cache, ws, theme_id)
    if intent is None and stage is None and signal is None:
        total, hits = store.theme_units(run.run_id, members, offset, limit)
        return UnitsPublic(data=[unit_public(h) for h in hits], count=total)
    found = [
        (hit, n)
        for hit, n in store.theme_unit_needs(run.run_id, members)
        if (intent is None or n.intent == intent)
        and (stage is None or n.stage == stage)
        and (signal is None or signal in n.signals)
    ]
    return UnitsPublic(
        data=[_with_needs(h, n) for h, n in found[offset : offset + limit]], count=len(found)
    )


def _with_needs(hit: UnitHit, needs: UnitNeeds) -> UnitPublic:
    public = unit_public(hit)
    public.needs = unit_needs_public(needs)
    return public


QUOTES_PER_NEED = 5


@router.get("/needs", response_model=NeedsListPublic)
def unstated_needs(
    ws: ReadWorkspace,
    store: StoreDep,
    served: ServedDep,
    offset: Offset = 0,
    limit: Limit = 20,
) -> NeedsListPublic:
    """Unstated needs, strongest first: themes whose customers show a need through pains,
    workarounds, effort and confusion but rarely ask for anything (docs/needs.md), each with
    its need statement and the customers' own words, workarounds first."""
    run = store.current_run(ws)
    if run is None:
        return NeedsListPublic(run_id=None, data=[], count=0)
    themes = [t for t in served.visible(run) if t.level == 0 and t.needs and t.needs["unstated"]]
    themes.sort(key=lambda t: (-t.needs["unstated_score"], -t.needs["units"], t.theme_id))  # type: ignore[index]
    stats = served.stats(run)
    data = []
    for rank, theme in enumerate(themes[offset : offset + limit], start=offset + 1):
        needs = theme.needs or {}
        data.append(
            UnstatedNeedPublic(
                rank=rank,
                theme=_public(theme, stats[theme.theme_id]),
                need_statement=needs["need_statement"],
                need_gap=needs["need_gap"],
                unstated_score=needs["unstated_score"],
                evidence=needs["evidence"],
                requests=needs["requests"],
                workarounds=needs["signals"].get("workaround", 0),
                quotes=_evidence(store, run.run_id, theme.theme_id),
            )
        )
    return NeedsListPublic(run_id=run.run_id, data=data, count=len(themes))


def _evidence(store: Store, run_id: str, theme_id: str) -> list[EvidencePublic]:
    """Workarounds, then effort and confusion, then plain pains; newest first within each."""

    def rank(n: UnitNeeds) -> int:
        if "workaround" in n.signals:
            return 0
        if {"effort", "confusion"}.intersection(n.signals):
            return 1
        return 2 if n.intent == "pain" else 3

    found = [(h, n) for h, n in store.theme_unit_needs(run_id, [theme_id]) if rank(n) < 3]
    found.sort(key=lambda x: rank(x[1]))
    return [
        EvidencePublic(unit=unit_public(h), needs=unit_needs_public(n))
        for h, n in found[:QUOTES_PER_NEED]
    ]
