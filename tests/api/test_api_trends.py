"""Trends: theme mentions per period against the volume of all feedback, and growth sorting."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from tests.api.conftest import Api

WS = "/v1/workspaces/acme"


def _get(api: Api, path: str, **params: object) -> dict:
    response = api.client.get(f"{WS}{path}", params=params, headers=api.headers("acme-read"))
    assert response.status_code == 200, response.text
    return response.json()


def test_weekly_trends_count_each_dated_unit_against_all_units_of_the_week(api: Api) -> None:
    trends = _get(api, "/trends")
    weeks = Counter(
        (d.date() - timedelta(days=d.weekday())).isoformat()
        for d in api.store.unit_dates("acme")
        if d is not None
    )
    themes = {t["theme_id"]: t for t in _get(api, "/themes", level=0, limit=200)["data"]}
    assert trends["run_id"] == api.store.current_run("acme").run_id
    assert {s["theme_id"] for s in trends["data"]} <= set(themes)
    for series in trends["data"]:
        assert series["name"] == themes[series["theme_id"]]["name"]
        for point in series["points"]:
            assert point["volume"] == weeks.get(point["period"], 0)
            assert point["share"] == (point["count"] / point["volume"] if point["volume"] else 0)
            assert date.fromisoformat(point["period"]).weekday() == 0
    by_week = Counter()
    for series in trends["data"]:
        for point in series["points"]:
            by_week[point["period"]] += point["count"]
    assert all(by_week[w] <= weeks[w] for w in by_week)


def test_trends_of_one_theme_by_day(api: Api) -> None:
    theme = _get(api, "/themes", level=0)["data"][0]["theme_id"]
    trends = _get(api, "/trends", granularity="day", theme_id=theme)
    [series] = trends["data"]
    assert series["theme_id"] == theme and trends["granularity"] == "day"
    days = [p["period"] for p in series["points"]]
    assert days == sorted(days) and all(p["label"] == p["period"] for p in series["points"])
    assert all(a["theme_id"] == theme for a in trends["alerts"])


def test_growth_sort_follows_the_last_week_growth(api: Api) -> None:
    latest = {s["theme_id"]: s["points"][-1]["growth"] for s in _get(api, "/trends")["data"]}
    ordered = [
        t["theme_id"] for t in _get(api, "/themes", level=0, sort="growth", limit=200)["data"]
    ]
    growing = [latest[t] for t in ordered if latest.get(t) is not None]
    assert growing == sorted(growing, reverse=True)
    with_growth = [t for t in ordered if latest.get(t) is not None]
    assert ordered[: len(with_growth)] == with_growth
