"""The report's data: one plain, JSON-ready dict per workspace, built once from the store.

The HTML page, the Markdown report and the tests all read this dict, so what a product manager
sees is decided here and only drawn elsewhere. It is sized for a browser, not for analysis: a
workspace of 100,000 units becomes per-theme weekly counts, a few quotes per theme and the
record text around each quote, so the page opens in well under two seconds.

Counts are kept per *cell*: a week and one value of every dimension in `dims` (source,
language and, once the units' needs are analysed, journey stage), e.g.
`cells["review|en|use"] = [3, 0, 5, ...]` with one number per week of `weeks`. The page sums
the cells a filter keeps, so filtering by source, language, stage and date range needs no
server, and the journey map (themes x stages) is the same cells split by stage. Units without
a date are counted in `undated` and only shown while the date range is the whole report.

Needs come from `voc.needs` as the run stored them: each served theme's `Theme.needs` profile
and each unit's needs (`unit_needs`). `needs_data` turns the profiles into `NeedsData`, what
the page draws: per theme the keys in `THEME_NEEDS_KEYS`, copied only where there is a value,
and the report's unstated needs with the customers' own words as evidence. A run made before
needs were analysed has no profiles, and the page then leaves the needs sections out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from voc.needs import STAGES, NeedsParams, UnitNeeds
from voc.pipeline import workspace_alerts
from voc.store import Store, UnitHit
from voc.trends import trend_points
from voc.types import Run, Theme

SCHEMA_VERSION = 2
DIMS = ("source", "lang")
"""Dimensions every count is split by; the page offers one filter per dimension."""
STAGE_DIM = "stage"
"""Added to `DIMS` when any unit's needs are known: a stage filter and the journey map."""
UNKNOWN_STAGE = "unknown"
"""The stage of a unit not analysed yet (submitted after the run, before its analysis)."""
KEYWORDS_SHOWN = 10
CONTEXT_CHARS = 300
"""Record text kept on each side of a quote for the "full record" view: enough to read the
quote in its conversation without embedding whole call transcripts in the page."""
THEME_NEEDS_KEYS = (
    "priority",
    "priority_parts",
    "need_statement",
    "need_gap",
    "need_units",
    "need_evidence",
    "need_requests",
    "intent_mix",
    "sentiment",
    "sentiment_mix",
    "churn_risk",
    "stages",
    "rating_impact",
    "unstated",
    "evidence",
)
"""Per-theme needs fields the page knows how to draw (see `NeedsData`)."""
RATING_FIELDS = ("rating", "nps", "csat")
"""Which score a theme's rating impact is told in, the first one its records carry: stars
are what app-store and review readers know, NPS and CSAT come from surveys."""
TOP_PRIORITIES = 10
"""Themes, highest priority first, that get evidence quotes (besides the unstated needs):
the ones the page's priority list and the Markdown report show."""
EVIDENCE_QUOTES = 3
_EVIDENCE_RANK = {"workaround": 0, "effort": 1, "confusion": 1, "pain": 2}
"""Which units speak for a need best: a workaround shows what customers do instead, effort and
confusion what it costs them, a plain pain only that it hurts."""


@dataclass(frozen=True, slots=True)
class NeedsData:
    """What voc.needs knows about a run's themes, as the report draws it (`needs_data`).

    `themes` maps a theme id to any of `THEME_NEEDS_KEYS`: `priority` (0-100, higher first)
    and `priority_parts` (its weighted components: volume, growth, negativity, churn_risk,
    effort), `need_statement` ({"zh": ..., "en": ...}), `need_gap` (0..1) with the
    `need_units`, `need_evidence` and `need_requests` counts it comes from, `intent_mix` and
    `sentiment_mix` ({label: share}), `sentiment` (-1..1), `churn_risk` (share of units),
    `stages` ({stage: units}), `rating_impact` ({field, mean, rest_mean, n, rest_n, impact}),
    `unstated` (true when it is one) and `evidence` (quotes as in a theme's `quotes`, with
    `reason` the signal that makes each one evidence). `unstated` lists the unstated needs,
    strongest first, each with `theme_id`, `statement`, `need_gap`, `unstated_score`, `units`,
    `need_evidence`, `need_requests`, `signals` and `evidence`.
    """

    themes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unstated: Sequence[Mapping[str, Any]] = ()


def build_report(
    store: Store,
    workspace_id: str,
    since: date | None = None,
    *,
    lang: str = "zh",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report of a workspace's current run over units written on or after `since`.

    `lang` is the interface language the page opens in (the reader can switch). A workspace
    without a run gives a report with volume and no themes, so the page still says what
    was received.
    """
    since_dt = datetime.combine(since, time.min, tzinfo=UTC) if since else None
    run = store.current_run(workspace_id)
    run_id = run.run_id if run else None
    facets = store.unit_facets(workspace_id, run_id, since_dt)
    weeks = _weeks([d for _, _, d, _, _ in facets], since)
    index = {w: i for i, w in enumerate(weeks)}
    staged = any(stage is not None for *_, stage in facets)
    dims = [*DIMS, STAGE_DIM] if staged else list(DIMS)

    volume = _Cells(len(weeks))
    by_theme: dict[str, _Cells] = defaultdict(lambda: _Cells(len(weeks)))
    observations: list[tuple[str, datetime]] = []
    days: Counter[date] = Counter()
    for source, unit_lang, created, theme_id, stage in facets:
        key = (
            f"{source}|{unit_lang}|{stage or UNKNOWN_STAGE}" if staged else f"{source}|{unit_lang}"
        )
        week = index.get(_monday(created)) if created else None
        volume.add(key, week)
        if created is not None:
            days[created.date()] += 1
        if theme_id is not None:
            by_theme[theme_id].add(key, week)
            if created is not None:
                observations.append((theme_id, created))

    themes: list[Theme] = []
    if run is not None:
        hidden = store.hidden_themes(run.run_id)
        themes = [t for t in store.list_themes(run.run_id) if t.theme_id not in hidden]
    parent_of = {t.theme_id: t.parent_id for t in themes if t.level == 0 and t.parent_id}
    for child, parent in parent_of.items():
        if child in by_theme:
            by_theme[parent].merge(by_theme[child])
    growth = _latest_growth(observations, parent_of, days)
    history = _history(store, workspace_id)
    # A name a person gave (rename, split-off, pin) is shown as given in both languages.
    named = {c.theme_id for c in store.list_curations(workspace_id) if c.active and c.name}
    kept = [t for t in themes if by_theme[t.theme_id].total > 0]
    quotes = _quotes(store, workspace_id, kept, since_dt)
    needs = needs_data(store, workspace_id, run_id, kept, since_dt) if run_id else NeedsData()

    theme_rows = []
    for theme in kept:
        cells = by_theme[theme.theme_id]
        row: dict[str, Any] = {
            "id": theme.theme_id,
            "level": theme.level,
            "parent": theme.parent_id,
            "name": theme.name,
            "names": theme.names,
            "curated_name": theme.theme_id in named,
            "keywords": {
                k: [w for w, _ in words[:KEYWORDS_SHOWN]] for k, words in theme.keywords.items()
            },
            "size": cells.total,
            "langs": theme.langs,
            "cells": cells.weekly,
            "undated": dict(cells.undated),
            "growth": growth.get(theme.theme_id),
            "quotes": quotes.get(theme.theme_id, []),
            "history": history.get(theme.theme_id, []),
        }
        for key in THEME_NEEDS_KEYS:
            value = needs.themes.get(theme.theme_id, {}).get(key)
            if value is not None:
                row[key] = value
        theme_rows.append(row)

    values: dict[str, list[str]] = {
        "source": sorted({f[0] for f in facets}),
        "lang": sorted({f[1] for f in facets}),
    }
    if staged:
        seen = {f[4] or UNKNOWN_STAGE for f in facets}
        values[STAGE_DIM] = [s for s in (*STAGES, UNKNOWN_STAGE) if s in seen]
    report: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "workspace": workspace_id,
        "generated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "since": since.isoformat() if since else None,
        "lang": lang,
        "run": _run(run),
        "weeks": [w.isoformat() for w in weeks],
        "dims": dims,
        "values": values,
        "volume": {"cells": volume.weekly, "undated": dict(volume.undated)},
        "units": volume.total,
        "themes": theme_rows,
        "alerts": _alerts(store, workspace_id, run is not None),
    }
    if needs.themes:
        report["needs_method"] = _needs_method()
    if needs.unstated:
        report["unstated_needs"] = [dict(n) for n in needs.unstated]
    return report


def needs_data(
    store: Store,
    workspace_id: str,
    run_id: str,
    themes: Sequence[Theme],
    since: datetime | None = None,
) -> NeedsData:
    """The report's view of the run's needs profiles (`Theme.needs`, see voc.needs): shares
    instead of counts, one rating field, and evidence quotes from the period for the themes
    the page and the Markdown report single out (the highest priorities and the unstated
    needs). Themes without a profile (runs made before needs) are left out."""
    profiles = {t.theme_id: t.needs for t in themes if t.needs}
    rows = {tid: _theme_needs(n) for tid, n in profiles.items()}
    level0 = [t.theme_id for t in themes if t.level == 0 and t.theme_id in profiles]
    unstated = sorted(
        (tid for tid in level0 if profiles[tid]["unstated"]),
        key=lambda tid: (-profiles[tid]["unstated_score"], -profiles[tid]["units"], tid),
    )
    top = sorted(level0, key=lambda tid: (-profiles[tid]["priority"], tid))[:TOP_PRIORITIES]
    wanted = [*unstated, *(t for t in top if t not in unstated)]
    evidence = _evidence(store, workspace_id, run_id, wanted, since)
    for tid, quotes in evidence.items():
        rows[tid]["evidence"] = quotes
    listed = []
    for tid in unstated:
        n = profiles[tid]
        listed.append(
            {
                "theme_id": tid,
                "statement": n["need_statement"],
                "need_gap": n["need_gap"],
                "unstated_score": n["unstated_score"],
                "units": n["units"],
                "need_evidence": n["evidence"],
                "need_requests": n["requests"],
                "signals": {
                    k: n["signals"].get(k, 0) for k in ("workaround", "effort", "confusion")
                },
                "evidence": evidence.get(tid, []),
            }
        )
    return NeedsData(themes=rows, unstated=listed)


def _theme_needs(n: Mapping[str, Any]) -> dict[str, Any]:
    """One profile as `THEME_NEEDS_KEYS` (None where there is nothing to show)."""
    units = n["units"]
    return {
        "priority": n["priority"],
        "priority_parts": n.get("priority_parts") or None,
        "need_statement": n["need_statement"] or None,
        "need_gap": n["need_gap"] if units else None,
        "need_units": units,
        "need_evidence": n["evidence"],
        "need_requests": n["requests"],
        "intent_mix": _shares(n["intents"], units),
        "sentiment": n["sentiment_mean"] if units else None,
        "sentiment_mix": _shares(n["sentiments"], units),
        "churn_risk": n["churn_risk"] if units else None,
        "stages": {k: v for k, v in n["stages"].items() if v} or None,
        "rating_impact": _rating_impact(n["ratings"]),
        "unstated": True if n["unstated"] else None,
    }


def _shares(counts: Mapping[str, int], units: int) -> dict[str, float] | None:
    if not units:
        return None
    return {k: round(v / units, 4) for k, v in counts.items()}


def _rating_impact(ratings: Mapping[str, Mapping[str, float]]) -> dict[str, Any] | None:
    """The theme's mean score against the rest of the workspace's, in the first of
    `RATING_FIELDS` that has both sides."""
    for name in RATING_FIELDS:
        r = ratings.get(name)
        if r and "impact" in r:
            return {
                "field": name,
                "impact": r["impact"],
                "mean": r["mean"],
                "rest_mean": r["rest_mean"],
                "n": int(r["n"]),
                "rest_n": int(r["rest_n"]),
            }
    return None


def _needs_method() -> dict[str, float]:
    """The thresholds behind need gap and unstated needs, so the report can say how they were
    decided. The pipeline's settings change only priority weights, which `priority_parts`
    already show, so these are voc.needs' defaults."""
    p = NeedsParams()
    return {
        "request_par": p.request_par,
        "unstated_gap": p.unstated_gap,
        "unstated_evidence": p.unstated_evidence,
        "unstated_requests": p.unstated_requests,
        "unstated_workarounds": p.unstated_workarounds,
        "unstated_min_units": p.unstated_min_units,
    }


def _evidence_reason(n: UnitNeeds) -> str | None:
    """Why a unit is evidence of a need (the key of `_EVIDENCE_RANK`), None if it is not."""
    for signal in ("workaround", "effort", "confusion"):
        if signal in n.signals and n.intent != "request":
            return signal
    return "pain" if n.intent == "pain" else None


def _evidence(
    store: Store, workspace_id: str, run_id: str, theme_ids: Sequence[str], since: datetime | None
) -> dict[str, list[dict[str, Any]]]:
    """Up to `EVIDENCE_QUOTES` units per theme in the period that show its need, workarounds
    first, then effort and confusion, then pains; newest first within each (one query)."""
    if not theme_ids:
        return {}
    picked: dict[str, list[tuple[UnitHit, UnitNeeds, str]]] = defaultdict(list)
    for hit, n in store.theme_unit_needs(run_id, theme_ids):
        reason = _evidence_reason(n)
        created = hit.unit.created_at
        if reason is None or hit.theme_id is None:
            continue
        if since is not None and (created is None or _aware(created) < since):
            continue
        picked[hit.theme_id].append((hit, n, reason))
    chosen: dict[str, list[tuple[UnitHit, UnitNeeds, str]]] = {}
    for tid, found in picked.items():
        # The same sentence in two records (a review posted twice) is one piece of evidence.
        seen: set[str] = set()
        chosen[tid] = []
        for item in sorted(found, key=lambda x: _EVIDENCE_RANK[x[2]]):
            text = " ".join(item[0].unit.norm_text.split())
            if text not in seen and len(chosen[tid]) < EVIDENCE_QUOTES:
                seen.add(text)
                chosen[tid].append(item)
    records = store.records_by_id(
        workspace_id, {h.unit.record_id for found in chosen.values() for h, _, _ in found}
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for tid, found in chosen.items():
        rows = []
        for hit, n, reason in found:
            unit = hit.unit
            record = records.get(unit.record_id)
            if record is None:
                continue
            quote = {
                "unit_id": unit.id,
                "record_id": unit.record_id,
                "span": [unit.start, unit.end],
                "text": unit.text,
                "lang": unit.lang,
                "source": unit.source,
                "created_at": unit.created_at.isoformat() if unit.created_at else None,
                "reason": reason,
                "stage": n.stage,
            }
            rows.append(_in_record(quote, record.text, record.external_id))
        out[tid] = rows
    return out


class _Cells:
    """Weekly counts per cell key, plus the undated ones."""

    def __init__(self, n_weeks: int) -> None:
        self.n_weeks = n_weeks
        self.weekly: dict[str, list[int]] = {}
        self.undated: Counter[str] = Counter()
        self.total = 0

    def add(self, key: str, week: int | None) -> None:
        self.total += 1
        if week is None:
            self.undated[key] += 1
            return
        row = self.weekly.get(key)
        if row is None:
            row = self.weekly[key] = [0] * self.n_weeks
        row[week] += 1

    def merge(self, other: _Cells) -> None:
        self.total += other.total
        self.undated.update(other.undated)
        for key, counts in other.weekly.items():
            row = self.weekly.setdefault(key, [0] * self.n_weeks)
            for i, n in enumerate(counts):
                row[i] += n


def _monday(day: datetime) -> date:
    d = day.date()
    return d - timedelta(days=d.weekday())


def _weeks(dates: Sequence[datetime | None], since: date | None) -> list[date]:
    """Every Monday from the first dated unit's week (or `since`'s) to the last one's."""
    mondays = {_monday(d) for d in dates if d is not None}
    if not mondays:
        return []
    first = min(mondays)
    if since is not None:
        first = since - timedelta(days=since.weekday())
    last = max(mondays)
    out = []
    while first <= last:
        out.append(first)
        first += timedelta(days=7)
    return out


def _latest_growth(
    observations: list[tuple[str, datetime]],
    parent_of: Mapping[str, str],
    volume: Mapping[date, int],
) -> dict[str, float]:
    """Growth of each theme's share in the last week over its baseline (voc.trends), parents
    from their children's units; themes without a baseline are left out."""
    growth: dict[str, float] = {}
    if not volume:
        return growth
    as_parents = [(parent_of[t], d) for t, d in observations if t in parent_of]
    for points in (trend_points(observations, volume), trend_points(as_parents, volume)):
        for point in points:
            if point.growth is None:
                growth.pop(point.theme_id, None)
            else:
                growth[point.theme_id] = round(point.growth, 4)
    return growth


def _history(store: Store, workspace_id: str) -> dict[str, list[dict[str, Any]]]:
    """Each theme's lineage worth reading: born, merged, split, died and curated events;
    `continued` runs are the normal case and are left out."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event, at in store.workspace_lineage(workspace_id):
        if event.level != 0 or event.kind == "continued":
            continue
        out[event.theme_id].append(
            {
                "kind": event.kind,
                "at": at.date().isoformat(),
                "other_ids": event.other_ids,
                "detail": event.detail,
            }
        )
    return out


def _quotes(
    store: Store, workspace_id: str, themes: Sequence[Theme], since: datetime | None
) -> dict[str, list[dict[str, Any]]]:
    """Each theme's chosen quotes in the period, with the record text around each one so the
    page can show the quote highlighted in its record without another request, and the
    unit's stage so the stage filter applies to quotes too."""
    chosen = {
        t.theme_id: [q for q in t.quotes if _in_period(q.get("created_at"), since)] for t in themes
    }
    records = store.records_by_id(
        workspace_id, {q["record_id"] for qs in chosen.values() for q in qs}
    )
    stages = store.unit_needs(
        workspace_id, None, {q["unit_id"] for qs in chosen.values() for q in qs}
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for theme_id, quotes in chosen.items():
        rows = []
        for q in quotes:
            record = records.get(q["record_id"])
            if record is None:
                continue
            row = {k: q[k] for k in ("unit_id", "record_id", "span", "text", "lang", "source")}
            row["created_at"] = q.get("created_at")
            row["reason"] = q.get("reason")
            if q["unit_id"] in stages:
                row["stage"] = stages[q["unit_id"]].stage
            rows.append(_in_record(row, record.text, record.external_id))
        out[theme_id] = rows
    return out


def _in_record(quote: dict[str, Any], text: str, external_id: str | None) -> dict[str, Any]:
    """A quote (with its `span`) as the page shows it: with up to `CONTEXT_CHARS` of its
    record's text on each side, for the "full record" view."""
    start, end = quote.pop("span")
    quote["external_id"] = external_id
    quote["before"] = text[max(0, start - CONTEXT_CHARS) : start]
    quote["after"] = text[end : end + CONTEXT_CHARS]
    quote["cut_before"] = start > CONTEXT_CHARS
    quote["cut_after"] = len(text) - end > CONTEXT_CHARS
    return quote


def _in_period(created_at: str | None, since: datetime | None) -> bool:
    if since is None:
        return True
    if created_at is None:
        return False
    return _aware(datetime.fromisoformat(created_at)) >= since


def _aware(when: datetime) -> datetime:
    """Dates without a zone are UTC, as the store writes them."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _alerts(store: Store, workspace_id: str, has_run: bool) -> list[dict[str, Any]]:
    return [a.to_dict() for a in workspace_alerts(store, workspace_id)] if has_run else []


def _run(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "finished_at": run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        "data_until": run.data_until.date().isoformat() if run.data_until else None,
        "model_id": run.model_id,
        "n_units": run.n_units,
        "n_themes": run.n_themes,
        "unassigned": run.unassigned,
        "stability": run.stability,
    }
