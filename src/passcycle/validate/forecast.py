"""Forecast of a breach: when a KPI still on target will cross it, if its trend goes on.

The trend is the least-squares line of the KPI's values over time since its last change
point (an older level says nothing of today's slope). The crossing is where that line
meets the target; its interval is Fieller's: the times at which the target lies inside the
line's confidence band (Student's t, n - 2 degrees of freedom), at a level a little above
the interval's since only forecasts with a sure slope are made (kept_level). A slope whose
interval at that level holds 0 (the band would never close), or points away from the
target, forecasts nothing; nor do values whose last run or two, on a level of their own,
fit better than a line (a jump not yet confirmed as a change point is no drift); nor a
crossing further ahead than MAX_REACH times the span of the runs the line was drawn from.
The forecast says which.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from passcycle.records import Issue, KpiVerdict, Run
from passcycle.targets import TargetSyntaxError, format_value, parse_target

MIN_POINTS = 6  # runs since the last change: fewer draw no line worth extending
LEVEL = 0.80  # the interval's confidence
LINEAR_R2 = 0.8  # a window a line explains this well is a drift: forecast over all of it
# How far ahead a line may be extended, in spans of the history it was drawn from: ten
# minutes of runs say nothing of next week (a memory drift seen over a soak's few runs).
MAX_REACH = 3.0
KEPT = 0.9  # Fieller's miss rate, shrunk: what the forecasts made need (kept_level)
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Forecast:
    """`days`: from the latest run to the crossing (None: no crossing forecast)."""

    detail: str
    days: float | None = None
    low: float | None = None  # the interval, in days from the latest run
    high: float | None = None
    slope: float | None = None  # per day, in the KPI's base unit
    points: int = 0


def forecast(
    series: Sequence[tuple[datetime, float]],
    threshold: float,
    higher_is_better: bool,
    unit: str,
    level: float = LEVEL,
) -> Forecast:
    """`series`: (a run's start, the KPI's value) since its last change point, oldest first;
    `threshold`: the target's value, a floor when `higher_is_better`, else a ceiling."""
    from scipy import stats  # here: scipy costs a quarter second to import

    n = len(series)
    if n < MIN_POINTS:
        return Forecast(f"{n} runs since its last change: a forecast needs {MIN_POINTS}", points=n)
    start = series[0][0]
    days = [(when - start).total_seconds() / DAY for when, _ in series]
    values = [value for _, value in series]
    if days[-1] - days[0] <= 0:
        return Forecast("its runs share one moment: no time to extend a line over", points=n)
    fit = stats.linregress(days, values)
    slope = float(fit.slope)
    q = float(stats.t.ppf(0.5 + level / 2, n - 2))
    mean_t, mean_y = sum(days) / n, sum(values) / n
    sxx = sum((t - mean_t) ** 2 for t in days)
    residuals = [y - (mean_y + slope * (t - mean_t)) for t, y in zip(days, values, strict=True)]
    s2 = sum(r * r for r in residuals) / (n - 2)
    rate = _rate(slope, unit)
    if _step_fits_better(values, sum(r * r for r in residuals)):
        why = "its values jumped rather than drifted (one step fits them better than a line)"
        return Forecast(f"{rate} over {n} runs: {why}, no breach forecast", slope=slope, points=n)
    toward = slope < 0 if higher_is_better else slope > 0
    # the slope must stand out of the noise at the interval's level: else the interval
    # would reach to infinity
    if not toward or slope * slope <= q * q * s2 / sxx:
        why = "moving away from its target" if not toward and slope else "flat or noisy"
        return Forecast(f"{rate} over {n} runs: {why}, no breach forecast", slope=slope, points=n)
    # Fieller: the times u (from mean_t) at which the target is inside the line's band,
    # at the level that holds the crossing `level` of the time among the forecasts made
    q = float(stats.t.ppf(0.5 + kept_level(level) / 2, n - 2))
    d = threshold - mean_y
    a = slope * slope - q * q * s2 / sxx
    disc = slope * slope * d * d - a * (d * d - q * q * s2 / n)
    root = math.sqrt(max(disc, 0.0))
    lo_u, hi_u = sorted(((slope * d - root) / a, (slope * d + root) / a))
    now = days[-1]
    central = mean_t + d / slope - now
    low, high = mean_t + lo_u - now, mean_t + hi_u - now
    if central <= 0:
        return Forecast(f"{rate}: its line has crossed the target already", slope=slope, points=n)
    span = days[-1] - days[0]
    if central > MAX_REACH * span:
        why = (
            f"a crossing ~{_days(central)} away is more than {MAX_REACH:g}× its history"
            f" ({_days(span)}) ahead"
        )
        return Forecast(f"{rate} over {n} runs: {why}, no breach forecast", slope=slope, points=n)
    return Forecast(
        f"{rate} over {n} runs: crosses its target in ~{_days(central)}"
        f" ({level:.0%} interval {_days(max(low, 0.0))}–{_days(high)})",
        days=central,
        low=max(low, 0.0),
        high=high,
        slope=slope,
        points=n,
    )


def kept_level(level: float) -> float:
    """The level Fieller's set is computed at for a forecast's `level` interval. The set is
    exact only counting the unbounded ones, which a slope not sure at `level` gives; those
    forecast nothing here, and the bounded sets left held the true crossing 78-79% of the
    time at 80% (bench/bench_changepoints.py: drifts of random slope, noise and spacing).
    Computed a tenth closer to 1 (82% for 80%) they hold it 80-82% of the time."""
    return 1.0 - (1.0 - level) * KEPT


def breach_forecast(
    verdict: KpiVerdict, runs: Sequence[tuple[Run, float]], since: int, horizon_days: float
) -> Issue | None:
    """A `forecast` issue when the KPI, on target now, is forecast to cross its target
    within `horizon_days`. `runs`: its recent runs, oldest first; `since`: the index of its
    last change point. A steady drift is cut into steps by change points, leaving too few
    runs after the last: then the whole window is used when a line explains it."""
    if verdict.status != "pass" or not verdict.target or horizon_days <= 0:
        return None
    try:
        target = parse_target(verdict.target)
    except TargetSyntaxError:
        return None
    if target.trend or target.op not in ("<", "<=", ">", ">="):
        return None
    if len(runs) - since < MIN_POINTS and _linear(runs):
        since = 0
    runs = runs[since:]
    series = [(r.started, value) for r, value in runs]
    ahead = forecast(series, target.value, target.higher_is_better, verdict.unit)
    if ahead.days is None or ahead.days > horizon_days:
        return None
    since = runs[0][0].id
    digest = hashlib.sha1(f"forecast\n{verdict.name}".encode()).hexdigest()[:16]
    return Issue(
        fingerprint=digest,
        title=(
            f"{verdict.name} {format_value(verdict.value, verdict.unit)},"
            f" {_rate(ahead.slope or 0.0, verdict.unit)} since run {since}:"
            f" reaches {verdict.target} in ~{_days(ahead.days)}"
            f" ({LEVEL:.0%} interval {_days(ahead.low or 0)}–{_days(ahead.high or 0)})"
        ),
        kind="forecast",
        severity="low",
        root_cause=f"the trend since run {since}",
        message=ahead.detail,
    )


def _step_fits_better(values: Sequence[float], line_sse: float) -> bool:
    """The last one or two values on a level of their own explain the series better than a
    line: a jump too recent to be a change point yet (it needs 3 runs) is no drift."""
    best = math.inf
    for k in range(max(1, len(values) - 2), len(values)):
        left, right = values[:k], values[k:]
        sse = sum((v - sum(left) / k) ** 2 for v in left)
        sse += sum((v - sum(right) / len(right)) ** 2 for v in right)
        best = min(best, sse)
    return best < line_sse


def _linear(runs: Sequence[tuple[Run, float]]) -> bool:
    """A line explains most of the series (r² >= LINEAR_R2): a drift, not steps."""
    from scipy import stats

    if len(runs) < MIN_POINTS:
        return False
    days = [(r.started - runs[0][0].started).total_seconds() / DAY for r, _ in runs]
    values = [value for _, value in runs]
    if max(days) == min(days) or max(values) == min(values):
        return False
    return float(stats.linregress(days, values).rvalue) ** 2 >= LINEAR_R2


def _rate(slope: float, unit: str) -> str:
    size = format_value(abs(slope), unit) if unit else f"{abs(slope):.2g}"
    return f"{'+' if slope >= 0 else '-'}{size} a day"


def _days(value: float) -> str:
    if value < 1:
        return f"{value * 24:.0f} h" if value * 24 >= 1 else f"{value * 1440:.0f} min"
    return f"{value:.0f} days" if value >= 2 else f"{value:.1f} days"
