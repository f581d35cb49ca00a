"""Trend targets and the KPIs that live in the history: a KPI judged on the slope of its
values over a window ("technical_debt = \"decreasing over 30d\""), and the mean time
between failing runs.

A trend is the least-squares slope of the KPI's values over the time of their runs, with
its 95% confidence interval (Student's t, n - 2 degrees of freedom): the target is met when
the whole interval lies on the wanted side of 0, missed when it lies on the other, and the
KPI is *flat* — neither met nor missed — when the interval holds 0: a slope no steeper
than the noise of the series says nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from passcycle.records import Run
from passcycle.targets import Target, format_value

MIN_RUNS = 3  # a line through two points has no interval
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Trend:
    status: str  # "pass", "fail", "flat" or "not measured"
    detail: str  # the slope and its interval, per day, and what they rest on
    slope: float | None = None  # per day, in the KPI's unit
    low: float | None = None
    high: float | None = None
    runs: int = 0


def judge_trend(series: Sequence[tuple[datetime, float]], target: Target, unit: str) -> Trend:
    """`series`: (the run's start, the KPI's value) over the target's window, oldest first."""
    from scipy import stats  # here: scipy costs a quarter second to import

    window = f"{target.window / DAY:g} days"
    runs = len(series)
    if runs < MIN_RUNS:
        return Trend(
            "not measured",
            f"n={runs}: a trend needs {MIN_RUNS} runs or more in the last {window}",
            runs=runs,
        )
    start = series[0][0]
    days = [(when - start).total_seconds() / DAY for when, _ in series]
    values = [value for _, value in series]
    if max(days) - min(days) < 1 / 24:
        why = f"{runs} runs within an hour: no time to see a trend"
        return Trend("not measured", why, runs=runs)
    fit = stats.linregress(days, values)
    margin = float(stats.t.ppf(0.975, runs - 2)) * float(fit.stderr)
    slope = float(fit.slope)
    low, high = slope - margin, slope + margin
    if low > 0:
        direction = "increasing"
    elif high < 0:
        direction = "decreasing"
    else:
        direction = "flat"
    status = "flat" if direction == "flat" else ("pass" if direction == target.trend else "fail")

    def per_day(value: float) -> str:
        sign = "+" if value > 0 else ""
        if not unit:
            return f"{value:+.3g}"  # a count's slope: three figures say all the noise allows
        return sign + format_value(value, unit)

    span = days[-1] - days[0]
    detail = (
        f"{direction}: {per_day(slope)} a day (95% CI {per_day(low)} … {per_day(high)}),"
        f" {runs} runs over {span:.1f} days"
    )
    if direction == "flat":
        detail += ": no steeper than the noise"
    return Trend(status, detail, slope, low, high, runs)


def mean_time_between_failures(runs: Sequence[Run]) -> tuple[float | None, str]:
    """The mean time between the starts of consecutive failing full runs (status failed or
    error) among `runs`; None and why when fewer than two failed."""
    failing = sorted(r.started for r in runs if r.status in ("failed", "error"))
    if len(failing) < 2:
        noun = "run has" if len(failing) == 1 else "runs have"
        return None, f"{len(failing)} failing {noun} no interval to measure yet"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failing)]
    return sum(gaps) / len(gaps), ""
