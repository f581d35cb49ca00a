"""What a chart shows, decided once for the HTML report and the dashboard: values scaled to
the unit the page shows them in, an axis range fitted to them, and the target when it
is near enough to be read against them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from passcycle.records import TimelinePoint
from passcycle.targets import UNITS, display_unit
from passcycle.validate.changepoints import change_points

PAD = 0.15  # of the values' span, above and below
NEAR = 2.0  # a target further than this many spans from the values would flatten them


def kpi_chart(
    points: Sequence[tuple[int, float | None]], unit: str, target: float | None = None
) -> dict[str, Any]:
    """One KPI by run: x = run ids, y in the display unit of the values' largest, the
    axis range, and the target when it sits near the values (else `target_off`)."""
    known = [(run, value) for run, value in points if value is not None and math.isfinite(value)]
    values = [value for _, value in known]
    shown, factor = display_unit(values, unit)
    scaled = [value * factor for value in values]
    low, high = _range(scaled, UNITS.get(unit, ("number", 1.0))[0])
    goal = target * factor if target is not None and _finite(target) else None
    near = goal is not None and _near(goal, scaled)
    if near and goal is not None:
        low, high = min(low, goal), max(high, goal)
    return {
        "x": [run for run, _ in known],
        "y": scaled,
        "unit": shown,
        "range": [low, high],
        "target": goal if near else None,
        "target_off": goal is not None and not near,
        "shifts": shift_markers(known),
    }


def shift_markers(series: Sequence[tuple[int, float]]) -> list[dict[str, Any]]:
    """The series' change points as chart markers: the first run at each new level."""
    return [
        {"run": s.run_id, "change": round(s.change, 4), "pvalue": s.pvalue}
        for s in change_points(series)
    ]


def runs_chart(
    x: Sequence[int], series: dict[str, Sequence[float | None]], unit: str
) -> dict[str, Any]:
    """Several series of one unit by run (pass rate and coverage; p50, p95, p99), scaled
    to one display unit and one range."""
    known = [v for values in series.values() for v in values if v is not None and _finite(v)]
    shown, factor = display_unit(known, unit)
    low, high = _range([v * factor for v in known], UNITS.get(unit, ("number", 1.0))[0])
    return {
        "x": list(x),
        "unit": shown,
        "range": [low, high],
        "series": {
            name: [None if v is None or not _finite(v) else v * factor for v in values]
            for name, values in series.items()
        },
    }


def timeline_chart(name: str, points: Sequence[TimelinePoint]) -> dict[str, Any]:
    """A scenario second by second: response times in ms or s, requests and errors a
    second, and users, as three series groups with their own axes."""
    latencies = [v for p in points for v in (p.p50, p.p95, p.p99) if v is not None]
    shown, factor = display_unit(latencies, "s")

    def scaled(values: Sequence[float | None]) -> list[float | None]:
        return [None if v is None else round(v * factor, 3) for v in values]

    return {
        "name": name,
        "x": [round(p.second, 3) for p in points],
        "latency_unit": shown,
        "p50": scaled([p.p50 for p in points]),
        "p95": scaled([p.p95 for p in points]),
        "p99": scaled([p.p99 for p in points]),
        "rps": [p.rps for p in points],
        "errors": [p.errors for p in points],
        "users": [p.users for p in points],
    }


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _range(values: Sequence[float], dimension: str) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    span = high - low or abs(high) * 0.1 or 1.0
    low, high = low - PAD * span, high + PAD * span
    if min(values) >= 0:
        low = max(low, 0.0)  # nothing here goes below zero: the axis does not either
    if dimension == "percent" and max(values) <= 100:
        high = min(high, 100.0)
    return low, high


def _near(goal: float, values: Sequence[float]) -> bool:
    if not values:
        return False
    low, high = min(values), max(values)
    span = max(high - low, abs(high) * 0.1, 1e-9)
    return low - NEAR * span <= goal <= high + NEAR * span
