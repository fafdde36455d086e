"""Theme counts per day or week, normalised by the volume of all feedback (voc.trends)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadWorkspace, StoreDep, ThemesDep
from api.schemas import PROBLEM_RESPONSES, AlertPublic, ThemeTrend, TrendPointPublic, TrendsPublic
from voc.store import Store
from voc.trends import Granularity, TrendPoint, detect_alerts, trend_points
from voc.types import Theme

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["themes"], responses=PROBLEM_RESPONSES)


def run_trends(store: Store, ws: str, run_id: str, granularity: Granularity) -> list[TrendPoint]:
    """Trend points of the run's level-0 themes against the workspace's whole volume.

    Themed units are read before the volume: units submitted in between then only add to the
    volume, while the other order let a live assignment made in between count a unit the
    volume had not seen, which trend_points refuses (a 400 under concurrent submits, found by
    bench/soak.py)."""
    observations = store.theme_observations(run_id)
    volume = Counter(d.date() for d in store.unit_dates(ws) if d is not None)
    return trend_points(observations, volume, granularity)


def latest_growth(store: Store, ws: str, run_id: str, themes: list[Theme]) -> dict[str, float]:
    """Each theme's growth over its baseline in the last week (parents from their children's
    units); themes without a baseline are left out."""
    observations = store.theme_observations(run_id)  # before the volume: see run_trends
    volume = Counter(d.date() for d in store.unit_dates(ws) if d is not None)
    parent_of = {t.theme_id: t.parent_id for t in themes if t.parent_id}
    as_parents = [(parent_of[t], d) for t, d in observations if t in parent_of]
    growth: dict[str, float] = {}
    for points in (trend_points(observations, volume), trend_points(as_parents, volume)):
        for point in points:
            if point.growth is None:
                growth.pop(point.theme_id, None)
            else:
                growth[point.theme_id] = point.growth
    return growth


@router.get("/trends", response_model=TrendsPublic)
def trends(
    ws: ReadWorkspace,
    store: StoreDep,
    cache: ThemesDep,
    granularity: Annotated[Granularity, Query()] = "week",
    theme_id: Annotated[
        list[str] | None, Query(description="Only these themes (repeatable).")
    ] = None,
) -> TrendsPublic:
    """Per theme and period: mentions, all-feedback volume, share and growth over the
    baseline of the periods before; plus the alerts of the last period."""
    run = store.current_run(ws)
    if run is None:
        return TrendsPublic(run_id=None, granularity=granularity, data=[], alerts=[])
    names = {t.theme_id: t.name for t in cache.of(run)}
    points = run_trends(store, ws, run.run_id, granularity)
    wanted = set(theme_id) if theme_id else None
    series: dict[str, list[TrendPointPublic]] = {}
    for p in points:
        if wanted is None or p.theme_id in wanted:
            series.setdefault(p.theme_id, []).append(
                TrendPointPublic(
                    period=p.period,
                    label=p.label,
                    count=p.count,
                    volume=p.volume,
                    share=p.share,
                    baseline_share=p.baseline_share,
                    growth=p.growth,
                )
            )
    alerts = [
        AlertPublic(**a.to_dict())
        for a in detect_alerts(points, names=names)
        if wanted is None or a.theme_id in wanted
    ]
    return TrendsPublic(
        run_id=run.run_id,
        granularity=granularity,
        data=[ThemeTrend(theme_id=t, name=names.get(t, ""), points=ps) for t, ps in series.items()],
        alerts=alerts,
    )
