"""Theme trends and the alerts a product manager acts on (异常提醒).

Counts alone mislead: a week with twice the tickets doubles every theme. So every count is
read against the volume of its period (all feedback units, themed or not) and a theme is
judged by its *share*.

Baseline. The baseline of a period is the pooled share of the `baseline_periods` (4)
periods before it: their mentions over their volume. Pooling weighs each period by its
volume, and it is the rate the binomial test below assumes. A baseline needs all four
periods, so the first weeks of a workspace raise no spike.

Spike: a one-sided binomial test of the period's count against the baseline share, given
the period's volume: p = P(X >= count) for X ~ Binomial(volume, baseline share). It alerts
when p < `alpha` (0.001), the count is at least `min_count` (5) and the share is at least
`1 + min_growth` (1.5) times the baseline. Alpha is small because every theme is tested
every period: with 50 themes a year of weekly runs makes 2,600 tests, about 2.6 false
alarms at 0.001. The minimum count stops a theme going from 0 to 2 mentions alerting;
the minimum growth stops a tiny but significant change in a huge workspace alerting. A
baseline of zero mentions is floored at half a mention, so an old theme that was silent
and comes back gets a finite, honest p-value rather than zero.

Emerging: a theme first seen (or born in the registry) within the last
`emerging_periods` (2) periods, with at least `min_count` mentions in the period, and a
share above the period before. A new problem is usually small at first, so it is caught by
its novelty and growth, not by a large count; its p-value is the same binomial test
against whatever history precedes it. A theme is new only against a history without it:
in a workspace's first period nothing is emerging.

Died: a theme with at least `min_count` mentions in its baseline window followed by at
least `quiet_periods` (2) periods without one, when P(no mention | baseline share, volume
of the quiet periods) < `alpha`. It alerts once, in the first period the silence becomes
significant. The registry's `died` events (a theme that no longer forms a cluster) become
alerts through `lineage_alerts`.

Proposed: not a theme yet. Between weekly runs, feedback far from every theme waits in a
pending pool; when a dense group of it forms, `voc.pipeline.pending_groups` proposes it as an
emerging theme at once. Its `theme_id` names the group (`proposed-...`), `count` is its
pending units, and there is no baseline or p-value: novelty, not growth, is the signal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from scipy.stats import binom

from voc.errors import ConfigError
from voc.registry import LineageEvent

Granularity = Literal["day", "week"]
AlertKind = Literal["spike", "emerging", "died", "proposed"]

_BASELINE_FLOOR = 0.5


@dataclass(frozen=True, slots=True)
class TrendParams:
    baseline_periods: int = 4
    alpha: float = 0.001
    min_count: int = 5
    min_growth: float = 0.5
    emerging_periods: int = 2
    quiet_periods: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"trend parameter alpha must be between 0 and 1, got {self.alpha}")
        for name in ("baseline_periods", "min_count", "emerging_periods", "quiet_periods"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"trend parameter {name} must be at least 1, got {getattr(self, name)}"
                )
        if self.min_growth < 0:
            raise ConfigError(f"trend parameter min_growth must be >= 0, got {self.min_growth}")


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One theme in one period."""

    theme_id: str
    period: date
    """First day of the period (the Monday of an ISO week)."""
    label: str
    """`2026-W05` for a week, `2026-01-31` for a day."""
    count: int
    volume: int
    """All feedback units of the period, themed or not."""
    share: float
    baseline_share: float | None
    """Pooled share of the previous `baseline_periods` periods; None until there are as many."""
    growth: float | None
    """share / baseline_share - 1; None without a baseline or when it is zero."""


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    theme_id: str
    period: date
    label: str
    count: int
    """Mentions in the period (0 over the quiet periods for `died`)."""
    baseline: float
    """Mentions expected from the baseline share at the period's volume."""
    p_value: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the API and the webhook."""
        out = asdict(self)
        out["period"] = self.period.isoformat()
        return out


def period_start(day: date | datetime, granularity: Granularity) -> date:
    """The first day of the period holding `day` (a datetime counts by its own date)."""
    d = day.date() if isinstance(day, datetime) else day
    if granularity == "day":
        return d
    if granularity == "week":
        return d - timedelta(days=d.weekday())
    raise ConfigError(f"granularity must be 'day' or 'week', got {granularity!r}")


def period_label(start: date, granularity: Granularity) -> str:
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def trend_points(
    observations: Iterable[tuple[str, date | datetime]],
    volume: Mapping[date, int] | None = None,
    granularity: Granularity = "week",
    *,
    end: date | None = None,
    params: TrendParams | None = None,
) -> list[TrendPoint]:
    """Every theme in every period from the first observed one to `end`, zeros included.

    `observations` are (theme id, created_at) of themed units. `volume` maps days or period
    starts to unit counts and is summed per period; without it the volume is the themed
    units alone, so shares are shares among themes. Points come grouped by theme (sorted
    by id), each theme's periods in order.
    """
    p = params or TrendParams()
    counts: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    last = period_start(end, granularity) if end else None
    for theme_id, created in observations:
        start = period_start(created, granularity)
        if last is None or start <= last:
            counts[theme_id][start] += 1
    totals: dict[date, int] = defaultdict(int)
    if volume is None:
        for by_period in counts.values():
            for start, n in by_period.items():
                totals[start] += n
    else:
        for day, n in volume.items():
            start = period_start(day, granularity)
            if last is None or start <= last:
                totals[start] += n
    if not totals and not counts:
        return []
    periods = _periods(set(totals) | {s for c in counts.values() for s in c}, granularity, last)
    for start in periods:
        themed = sum(c.get(start, 0) for c in counts.values())
        if themed > totals.get(start, 0):
            raise ConfigError(
                f"the volume of {period_label(start, granularity)} is {totals.get(start, 0)} "
                f"units but its themes hold {themed}; pass the volume of all units"
            )
    points: list[TrendPoint] = []
    k = p.baseline_periods
    for theme_id in sorted(counts):
        series = [counts[theme_id].get(s, 0) for s in periods]
        vols = [totals.get(s, 0) for s in periods]
        for t, start in enumerate(periods):
            share = series[t] / vols[t] if vols[t] else 0.0
            base = None
            if t >= k and sum(vols[t - k : t]):
                base = sum(series[t - k : t]) / sum(vols[t - k : t])
            growth = share / base - 1 if base else None
            points.append(
                TrendPoint(
                    theme_id=theme_id,
                    period=start,
                    label=period_label(start, granularity),
                    count=series[t],
                    volume=vols[t],
                    share=share,
                    baseline_share=base,
                    growth=growth,
                )
            )
    return points


def detect_alerts(
    points: Sequence[TrendPoint],
    *,
    period: date | None = None,
    names: Mapping[str, str] | None = None,
    born: Mapping[str, date] | None = None,
    params: TrendParams | None = None,
) -> list[Alert]:
    """Spikes, emerging and silenced themes in the period holding `period` (default: the last).

    `born` gives the period a theme was born in the registry; without it a theme is born in
    the first period it has a mention. A theme that is emerging is not also a spike.
    """
    p = params or TrendParams()
    series: dict[str, list[TrendPoint]] = defaultdict(list)
    for point in points:
        series[point.theme_id].append(point)
    alerts: list[Alert] = []
    for theme_id in sorted(series):
        run = sorted(series[theme_id], key=lambda x: x.period)
        starts = [x.period for x in run]
        target = period_start(period, _unit(run[0])) if period else starts[-1]
        if target not in starts:
            continue
        t = starts.index(target)
        title = _title(theme_id, names)
        birth = (born or {}).get(theme_id)
        alert = (
            _emerging(run, t, title, birth, p)
            or _spike(run, t, title, p)
            or _died(run, t, title, p)
        )
        if alert:
            alerts.append(alert)
    return alerts


def lineage_alerts(
    events: Iterable[LineageEvent],
    period: date,
    granularity: Granularity = "week",
    names: Mapping[str, str] | None = None,
) -> list[Alert]:
    """A `died` alert for each theme the registry found no cluster for in this run."""
    start = period_start(period, granularity)
    label = period_label(start, granularity)
    return [
        Alert(
            kind="died",
            theme_id=e.theme_id,
            period=start,
            label=label,
            count=0,
            baseline=0.0,
            p_value=None,
            message=(
                f"{_title(e.theme_id, names)} no longer forms a theme in the run of {label}: "
                "its feedback has stopped or is now spread over other themes."
            ),
        )
        for e in events
        if e.kind == "died"
    ]


def _periods(starts: set[date], granularity: Granularity, last: date | None) -> list[date]:
    step = timedelta(days=7 if granularity == "week" else 1)
    first, final = min(starts), max(starts | ({last} if last else set()))
    out = []
    while first <= final:
        out.append(first)
        first += step
    return out


def _title(theme_id: str, names: Mapping[str, str] | None) -> str:
    name = (names or {}).get(theme_id)
    return f"\u201c{name}\u201d ({theme_id})" if name else theme_id


def _unit(point: TrendPoint) -> Granularity:
    return "week" if "-W" in point.label else "day"


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _rate(window: Sequence[TrendPoint]) -> tuple[int, int]:
    return sum(x.count for x in window), sum(x.volume for x in window)


def _emerging(
    run: Sequence[TrendPoint], t: int, title: str, birth: date | None, p: TrendParams
) -> Alert | None:
    point = run[t]
    unit = _unit(point)
    if birth is None:
        first = next((i for i in range(t + 1) if run[i].count > 0), None)
    else:
        start = period_start(birth, unit)
        first = next((i for i, x in enumerate(run) if x.period == start), None)
        if first is None and start < run[0].period:
            return None
    if first is None or first > t or t - first >= p.emerging_periods:
        return None
    if not any(x.volume for x in run[:first]):
        return None
    before = run[t - 1] if t > 0 else None
    if point.count < p.min_count or point.share <= (before.share if before else 0.0):
        return None
    count, vol = _rate(run[max(0, t - p.baseline_periods) : t])
    p_value, expected = None, 0.0
    if vol:
        rate = max(count, _BASELINE_FLOOR) / vol
        p_value = float(binom.sf(point.count - 1, point.volume, rate))
        expected = rate * point.volume
    previous = f"{before.count} in {before.label}" if before else f"none before {point.label}"
    return Alert(
        kind="emerging",
        theme_id=point.theme_id,
        period=point.period,
        label=point.label,
        count=point.count,
        baseline=round(expected, 3),
        p_value=p_value,
        message=(
            f"Emerging theme {title}: {point.count} mentions in {point.label} "
            f"({point.share:.1%} of {point.volume} feedback units), first seen in "
            f"{run[first].label} and growing ({previous})."
        ),
    )


def _spike(run: Sequence[TrendPoint], t: int, title: str, p: TrendParams) -> Alert | None:
    point = run[t]
    k = p.baseline_periods
    if t < k or point.count < p.min_count:
        return None
    count, vol = _rate(run[t - k : t])
    if not vol:
        return None
    rate = max(count, _BASELINE_FLOOR) / vol
    if point.share < (1 + p.min_growth) * rate:
        return None
    p_value = float(binom.sf(point.count - 1, point.volume, rate))
    if p_value >= p.alpha:
        return None
    expected = rate * point.volume
    return Alert(
        kind="spike",
        theme_id=point.theme_id,
        period=point.period,
        label=point.label,
        count=point.count,
        baseline=round(expected, 3),
        p_value=p_value,
        message=(
            f"Spike in {title}: {point.count} mentions in {point.label} "
            f"({point.share:.1%} of {point.volume} feedback units), against {expected:.1f} "
            f"expected from the previous {_plural(k, _unit(point))} ({rate:.1%}); "
            f"one-sided binomial p = {p_value:.1g}."
        ),
    )


def _died(run: Sequence[TrendPoint], t: int, title: str, p: TrendParams) -> Alert | None:
    point = run[t]
    quiet = 0
    while quiet <= t and run[t - quiet].count == 0:
        quiet += 1
    first_base = t - quiet - p.baseline_periods + 1
    if quiet < p.quiet_periods or first_base < 0:
        return None
    count, vol = _rate(run[first_base : t - quiet + 1])
    if count < p.min_count or not vol:
        return None
    rate = count / vol
    quiet_volume = sum(x.volume for x in run[t - quiet + 1 : t + 1])
    p_value = float(binom.pmf(0, quiet_volume, rate))
    already = (
        quiet - 1 >= p.quiet_periods and binom.pmf(0, quiet_volume - point.volume, rate) < p.alpha
    )
    if p_value >= p.alpha or already:
        return None
    expected = rate * quiet_volume
    return Alert(
        kind="died",
        theme_id=point.theme_id,
        period=point.period,
        label=point.label,
        count=0,
        baseline=round(expected, 3),
        p_value=p_value,
        message=(
            f"{title} has gone quiet: no mentions in the last {_plural(quiet, _unit(point))} "
            f"(to {point.label}), against {expected:.1f} expected from its earlier share "
            f"({rate:.1%}); p = {p_value:.1g}."
        ),
    )
