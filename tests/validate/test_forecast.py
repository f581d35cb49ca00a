"""Breach forecasts: when a KPI still on target will cross it if its trend goes on, with an
interval that holds the true crossing as often as it says; flat or noisy series forecast
nothing; a real history of runs drifting toward a target gets a `forecast` issue."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kpikit import kpi_project, set_latency

from passcycle.validate.forecast import LEVEL, MIN_POINTS, forecast

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def drifting(rate: float, days: list[float], noise: float, rng: random.Random) -> list:
    return [(T0 + timedelta(days=d), 100 + rate * d + rng.gauss(0, noise)) for d in days]


def test_a_drift_toward_a_ceiling_is_forecast_with_its_interval():
    rng = random.Random(2)
    series = drifting(2.0, [float(d) for d in range(20)], 2.0, rng)  # 150 at day 25
    ahead = forecast(series, 150.0, higher_is_better=False, unit="")
    assert ahead.days is not None and ahead.low is not None and ahead.high is not None
    # the true crossing is 6 days after the last run (how often the interval holds it: below)
    assert ahead.low < ahead.days < ahead.high and 4.5 < ahead.days < 8
    assert 1.7 < (ahead.slope or 0) < 2.3
    assert "+1.9 a day over 20 runs: crosses its target in ~7 days (80% interval" in ahead.detail


def test_the_interval_holds_the_true_crossing_as_often_as_it_says():
    rng = random.Random(4)
    held = made = 0
    for _ in range(300):
        rate, n = rng.uniform(0.5, 3.0), rng.randint(8, 30)
        days = sorted(rng.uniform(0, n) for _ in range(n))
        ahead = forecast(drifting(rate, days, rng.uniform(1, 8), rng), 150.0, False, "")
        if ahead.days is None:
            continue
        made += 1
        held += (ahead.low or 0) <= 50 / rate - days[-1] <= (ahead.high or 0)
    assert made > 150
    assert held / made >= LEVEL, f"{held} of {made}"


def test_flat_noisy_receding_and_short_series_forecast_nothing():
    rng = random.Random(5)
    days = [float(d) for d in range(20)]
    flat = [(T0 + timedelta(days=d), 100 + rng.gauss(0, 5)) for d in days]
    assert forecast(flat, 150.0, False, "").days is None
    away = drifting(-2.0, days, 1.0, rng)
    assert "moving away from its target" in forecast(away, 150.0, False, "").detail
    short = drifting(2.0, days[: MIN_POINTS - 1], 1.0, rng)
    assert "a forecast needs" in forecast(short, 150.0, False, "").detail
    # a line is not extended far past the history it was drawn from: 2 hours of runs
    hours = [(T0 + timedelta(hours=h / 10), 100 + 0.5 * h / 10) for h in range(20)]
    far = forecast(hours, 150.0, False, "")
    assert far.days is None
    assert "is more than 3× its history (2 h) ahead, no breach forecast" in far.detail
    assert forecast(hours, 101.5, False, "").days is not None  # 1 h ahead: within reach
    # a floor: falling toward it is the breach ahead
    falling = drifting(-2.0, days, 1.0, rng)
    assert forecast(falling, 50.0, higher_is_better=True, unit="").days is not None


def test_a_run_drifting_toward_its_target_has_a_forecast_issue(tmp_path: Path, passcycle):
    root = kpi_project(tmp_path / "project")
    rng = random.Random(1)
    for step in range(8):  # 100 -> ~450, steadily, far from 1000 yet
        set_latency(root, 100 + 50 * step + rng.uniform(-5, 5))
        data = passcycle(root, "run", "--json", expect=0).json()
    [issue] = [i for i in data["issues"] if i["kind"] == "forecast"]
    assert issue["title"].startswith("latency 4")
    assert "reaches < 1000 in ~" in issue["title"] and "80% interval" in issue["title"]
    assert data["gate"]["passed"] is True  # a warning, not a gate
