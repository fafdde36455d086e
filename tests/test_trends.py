"""Trends and alerts on synthetic weekly series whose answers are computed by hand."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from voc.errors import ConfigError
from voc.registry import ClusterSnapshot, LineageEvent, ThemeSnapshot, match_runs
from voc.trends import (
    Alert,
    TrendParams,
    TrendPoint,
    detect_alerts,
    lineage_alerts,
    period_label,
    period_start,
    trend_points,
)

MONDAY = date(2026, 1, 5)
"""Start of ISO week 2026-W02."""


def weekly(
    counts: dict[str, list[int]], volumes: list[int]
) -> tuple[list[tuple[str, date | datetime]], dict[date, int]]:
    """Observations spread over the days of each week, and the volume given per Wednesday."""
    observations: list[tuple[str, date | datetime]] = []
    for theme_id, series in counts.items():
        for week, n in enumerate(series):
            for i in range(n):
                day = MONDAY + timedelta(weeks=week, days=i % 7)
                observations.append((theme_id, datetime(day.year, day.month, day.day, 23, 59)))
    volume = {MONDAY + timedelta(weeks=w, days=2): v for w, v in enumerate(volumes)}
    return observations, volume


def alerts_for(counts: dict[str, list[int]], volumes: list[int], **kwargs: object) -> list[Alert]:
    observations, volume = weekly(counts, volumes)
    return detect_alerts(trend_points(observations, volume), **kwargs)  # type: ignore[arg-type]


def test_days_fall_into_iso_weeks_including_across_the_new_year() -> None:
    assert period_start(date(2026, 1, 1), "week") == date(2025, 12, 29)
    assert period_label(date(2025, 12, 29), "week") == "2026-W01"
    assert period_start(datetime(2026, 1, 4, 23, 59), "week") == date(2025, 12, 29)
    assert period_start(date(2026, 1, 5), "week") == date(2026, 1, 5)
    assert period_label(date(2026, 1, 31), "day") == "2026-01-31"


def test_counts_per_week_and_per_day_are_absolute_and_shares_of_volume() -> None:
    observations = [
        ("T-0001", date(2026, 1, 1)),
        ("T-0001", date(2026, 1, 4)),
        ("T-0002", date(2026, 1, 4)),
        ("T-0001", date(2026, 1, 6)),
    ]
    volume = {date(2026, 1, 1): 5, date(2026, 1, 4): 3, date(2026, 1, 6): 2}
    weeks = trend_points(observations, volume, "week")
    assert [(x.theme_id, x.label, x.count, x.volume, x.share) for x in weeks] == [
        ("T-0001", "2026-W01", 2, 8, 0.25),
        ("T-0001", "2026-W02", 1, 2, 0.5),
        ("T-0002", "2026-W01", 1, 8, 0.125),
        ("T-0002", "2026-W02", 0, 2, 0.0),
    ]
    days = trend_points(observations, volume, "day")
    assert [(x.label, x.count, x.volume) for x in days if x.theme_id == "T-0001"] == [
        ("2026-01-01", 1, 5),
        ("2026-01-02", 0, 0),
        ("2026-01-03", 0, 0),
        ("2026-01-04", 1, 3),
        ("2026-01-05", 0, 0),
        ("2026-01-06", 1, 2),
    ]


def test_without_volume_shares_are_among_themed_units() -> None:
    observations = [("T-0001", date(2026, 1, 5))] * 3 + [("T-0002", date(2026, 1, 6))]
    points = trend_points(observations)
    assert [(x.theme_id, x.share) for x in points] == [("T-0001", 0.75), ("T-0002", 0.25)]


def test_growth_is_measured_against_the_pooled_share_of_the_previous_four_weeks() -> None:
    observations, volume = weekly({"T-0001": [10, 20, 10, 20, 45]}, [1000, 1000, 2000, 2000, 1500])
    points = trend_points(observations, volume)
    assert [x.baseline_share for x in points] == [None, None, None, None, 0.01]
    assert points[-1].share == 0.03
    assert points[-1].growth == pytest.approx(2.0)


def test_flat_series_raises_no_alert() -> None:
    assert alerts_for({"T-0001": [10, 11, 9, 10, 10, 12]}, [1000] * 6) == []


def test_jump_from_ten_to_forty_a_week_is_a_spike() -> None:
    alerts = alerts_for({"T-0001": [10, 10, 10, 10, 40]}, [1000] * 5, names={"T-0001": "Refunds"})
    assert len(alerts) == 1
    spike = alerts[0]
    assert (spike.kind, spike.theme_id, spike.label, spike.count, spike.baseline) == (
        "spike",
        "T-0001",
        "2026-W06",
        40,
        10.0,
    )
    assert spike.p_value == pytest.approx(4.688553566249777e-13, rel=1e-6)
    assert spike.message == (
        "Spike in \u201cRefunds\u201d (T-0001): 40 mentions in 2026-W06 (4.0% of 1000 feedback "
        "units), against 10.0 expected from the previous 4 weeks (1.0%); one-sided binomial "
        "p = 5e-13."
    )


def test_stable_share_while_volume_quadruples_is_not_a_spike() -> None:
    observations, volume = weekly({"T-0001": [10, 10, 10, 10, 40]}, [1000] * 4 + [4000])
    points = trend_points(observations, volume)
    assert points[-1].growth == pytest.approx(0.0)
    assert detect_alerts(points) == []


def test_counts_below_the_minimum_never_alert() -> None:
    quiet_then_four = {"T-0001": [0, 1, 0, 0, 4], "T-0002": [0, 0, 0, 0, 4]}
    assert alerts_for(quiet_then_four, [1000] * 5) == []
    assert [
        a.kind for a in alerts_for(quiet_then_four, [1000] * 5, params=TrendParams(min_count=4))
    ] == [
        "spike",
        "emerging",
    ]


def test_spike_needs_four_weeks_of_baseline() -> None:
    assert alerts_for({"T-0001": [10, 10, 10, 40]}, [1000] * 4) == []


def test_new_theme_that_grows_is_emerging_until_it_is_two_weeks_old() -> None:
    counts = {"T-0001": [10] * 7, "T-0009": [0, 0, 0, 0, 3, 9, 15]}
    observations, volume = weekly(counts, [1000] * 7)
    points = trend_points(observations, volume)
    sixth = MONDAY + timedelta(weeks=5)
    alerts = detect_alerts(points, period=sixth, names={"T-0009": "App crashes on login"})
    assert len(alerts) == 1
    emerging = alerts[0]
    assert (emerging.kind, emerging.theme_id, emerging.period, emerging.count) == (
        "emerging",
        "T-0009",
        sixth,
        9,
    )
    assert emerging.baseline == 0.75
    assert emerging.p_value == pytest.approx(1.024509195725402e-07, rel=1e-6)
    assert emerging.message == (
        "Emerging theme \u201cApp crashes on login\u201d (T-0009): 9 mentions in 2026-W07 "
        "(0.9% of 1000 feedback units), first seen in 2026-W06 and growing (3 in 2026-W06)."
    )
    assert [a.kind for a in detect_alerts(points)] == ["spike"]
    assert detect_alerts(points, period=sixth - timedelta(weeks=1)) == []
    thursday = sixth + timedelta(days=3)
    assert (
        detect_alerts(points, period=thursday, names={"T-0009": "App crashes on login"}) == alerts
    )


def test_registry_birth_date_overrides_first_mention() -> None:
    observations, volume = weekly({"T-0009": [1, 0, 0, 0, 0, 8]}, [1000] * 6)
    points = trend_points(observations, volume)
    assert [a.kind for a in detect_alerts(points)] == ["spike"]
    born = {"T-0009": MONDAY + timedelta(weeks=5, days=3)}
    assert [a.kind for a in detect_alerts(points, born=born)] == ["emerging"]


def test_nothing_is_emerging_in_a_workspace_first_week() -> None:
    assert alerts_for({"T-0001": [30], "T-0002": [20]}, [100]) == []


def test_theme_that_falls_silent_is_reported_died_once() -> None:
    observations, volume = weekly({"T-0001": [12, 10, 11, 13, 0, 0, 0]}, [1000] * 7)
    points = trend_points(observations, volume)
    by_week = [detect_alerts(points, period=MONDAY + timedelta(weeks=w)) for w in range(7)]
    assert [len(a) for a in by_week] == [0, 0, 0, 0, 0, 1, 0]
    died = by_week[5][0]
    assert (died.kind, died.label, died.count, died.baseline) == ("died", "2026-W07", 0, 23.0)
    assert died.p_value == pytest.approx(8.9814674311358e-11, rel=1e-6)
    assert died.message == (
        "T-0001 has gone quiet: no mentions in the last 2 weeks (to 2026-W07), against 23.0 "
        "expected from its earlier share (1.1%); p = 9e-11."
    )


def test_registry_died_events_become_alerts() -> None:
    events = [LineageEvent("continued", "T-0001", (), 1.0, 1.0), LineageEvent("died", "T-0002")]
    alerts = lineage_alerts(events, date(2026, 2, 12), names={"T-0002": "Fees abroad"})
    assert alerts == [
        Alert(
            kind="died",
            theme_id="T-0002",
            period=date(2026, 2, 9),
            label="2026-W07",
            count=0,
            baseline=0.0,
            p_value=None,
            message="\u201cFees abroad\u201d (T-0002) no longer forms a theme in the run of "
            "2026-W07: its feedback has stopped or is now spread over other themes.",
        )
    ]


def test_alert_serialises_to_json() -> None:
    alert = alerts_for({"T-0001": [10, 10, 10, 10, 40]}, [1000] * 5)[0]
    data = json.loads(json.dumps(alert.to_dict()))
    assert data["period"] == "2026-02-02"
    assert data["kind"] == "spike"
    assert set(data) == {
        "kind",
        "theme_id",
        "period",
        "label",
        "count",
        "baseline",
        "p_value",
        "message",
    }


def test_volume_smaller_than_themed_units_is_refused() -> None:
    with pytest.raises(ConfigError, match="volume of 2026-W02 is 1 units but its themes hold 2"):
        trend_points([("T-0001", MONDAY)] * 2, {MONDAY: 1})


def test_unknown_granularity_is_refused() -> None:
    with pytest.raises(ConfigError, match="granularity must be 'day' or 'week'"):
        period_start(MONDAY, "month")  # type: ignore[arg-type]


def test_points_after_end_are_left_out_and_trailing_periods_are_zero_filled() -> None:
    observations, volume = weekly({"T-0001": [3, 4, 5]}, [10, 10, 10])
    points = trend_points(observations, volume, end=MONDAY + timedelta(weeks=1, days=6))
    assert [(x.label, x.count) for x in points] == [("2026-W02", 3), ("2026-W03", 4)]
    later = trend_points(observations, volume, end=MONDAY + timedelta(weeks=3))
    assert [x.count for x in later] == [3, 4, 5, 0]
    assert isinstance(later[-1], TrendPoint)


# -- eight weeks of re-clustering, registry and trends together ------------------------------

WEEKLY = {
    "refund": [10] * 8,
    "login": [10] * 8,
    "card": [10] * 8,
    "fees": [8, 8, 8, 8, 0, 0, 0, 0],
    "chat": [8] * 8,
    "phone": [5] * 8,
    "app": [0, 0, 0, 0, 4, 9, 12, 12],
}
"""New units per topic per week: fees complaints stop after week 4, an app problem starts in
week 5, and from week 7 the clusterer finds chat and phone support to be one theme."""


def _week_clusters(week: int) -> tuple[list[ClusterSnapshot], list[tuple[str, date]]]:
    members: dict[str, set[str]] = {topic: set() for topic in WEEKLY}
    created: list[tuple[str, date]] = []
    for topic, series in WEEKLY.items():
        for w in range(1, week + 1):
            for i in range(series[w - 1]):
                unit = f"{topic}-{w}-{i}"
                members[topic].add(unit)
                created.append((unit, MONDAY + timedelta(weeks=w - 1, days=i % 5)))
    if week >= 7:
        members["chat"] |= members.pop("phone")
    clusters = []
    for k, topic in enumerate(WEEKLY):
        if members.get(topic):
            centroid = np.zeros(len(WEEKLY))
            centroid[k] = 1.0
            if topic == "chat" and week >= 7:
                centroid[list(WEEKLY).index("phone")] = 0.6
            words = tuple(f"{topic}{n}" for n in range(10))
            clusters.append(
                ClusterSnapshot(100 * week + k, frozenset(members[topic]), centroid, topic, words)
            )
    return clusters, created


def test_eight_weeks_report_the_new_problem_the_silenced_theme_and_the_merge() -> None:
    numbers = iter(range(1, 100))
    previous: list[ThemeSnapshot] = []
    ids_per_week: list[dict[str, str]] = []
    alerts_per_week: list[list[tuple[str, str]]] = []
    lineage_per_week: list[dict[str, int]] = []
    for week in range(1, 9):
        clusters, created = _week_clusters(week)
        m = match_runs(previous, clusters, lambda: f"T-{next(numbers):04d}")
        previous = m.snapshots(clusters)
        ids_per_week.append({c.name: c.theme_id for c in m.clusters})
        lineage_per_week.append(m.counts())
        served = m.served_ids()
        observations = [(served[u], day) for u, day in created]
        names = {t.theme_id: t.name for t in m.themes}
        alerts = detect_alerts(trend_points(observations), names=names)
        alerts_per_week.append([(a.kind, names[a.theme_id]) for a in alerts])

    assert ids_per_week[0] == {
        "refund": "T-0001",
        "login": "T-0002",
        "card": "T-0003",
        "fees": "T-0004",
        "chat": "T-0005",
        "phone": "T-0006",
    }
    for topic in ("refund", "login", "card", "fees", "chat"):
        assert {ids[topic] for ids in ids_per_week} == {ids_per_week[0][topic]}
    assert "phone" not in ids_per_week[6]
    assert ids_per_week[4]["app"] == "T-0007"
    assert lineage_per_week[4] == {"continued": 6, "born": 1}
    assert lineage_per_week[6] == {"continued": 6, "merged": 1}
    assert lineage_per_week[7] == {"continued": 6}
    assert alerts_per_week[:5] == [[], [], [], [], []]
    assert alerts_per_week[5] == [("died", "fees"), ("emerging", "app")]
    assert ("died", "fees") not in alerts_per_week[6] + alerts_per_week[7]
    assert all(kind != "spike" or name != "chat" for kind, name in alerts_per_week[6])
