"""Calibrated targets: for each KPI of the plan, a target its recent history meets with a
stated margin, and a regression threshold from its measured noise between runs.

A target is the worst value of the last runs with the margin added (a ceiling) or taken
away (a floor; for a share that should reach 100%, the margin widens what it misses),
written in the unit people read and checked against every one of those runs as written.
The regression threshold is three times the KPI's spread between runs (the median absolute
deviation, scaled to a standard deviation, over the median), at least 5%: a change that
size is rarely noise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from passcycle.records import Run
from passcycle.targets import TargetSyntaxError, format_value, parse_target
from passcycle.validate.direction import higher_is_better

RUNS = 20
MARGIN = 0.10
MIN_RUNS = 5  # fewer runs say too little of a KPI's range and noise
LEAST_REGRESSION = 0.05
NOISE_FACTOR = 3.0
MAD_TO_SD = 1.4826  # a normal distribution's standard deviation from its MAD


@dataclass(frozen=True, slots=True)
class Proposal:
    """What `calibrate` proposes for one KPI (`target` None: nothing to propose, `why`)."""

    name: str
    current: str | None  # the plan's target now
    target: str | None
    regression: str | None  # "8%"
    runs: tuple[int, ...]  # the runs it rests on, oldest first
    why: str

    @property
    def basis(self) -> str:
        if not self.runs:
            return "no runs"
        return f"{len(self.runs)} runs ({self.runs[0]}–{self.runs[-1]})"


def calibrate(
    kpis: Mapping[str, tuple[str | None, str]],
    history: Sequence[tuple[Run, Mapping[str, float]]],
    margin: float = MARGIN,
) -> list[Proposal]:
    """`kpis`: name -> (its target now, its unit); `history`: judged full runs with their
    KPI values, oldest first."""
    proposals = []
    for name, (current, unit) in kpis.items():
        seen = [(run.id, values[name]) for run, values in history if name in values]
        runs = tuple(run_id for run_id, _ in seen)
        values = [value for _, value in seen if math.isfinite(value)]
        if len(values) < MIN_RUNS:
            why = f"{len(values)} runs measured it: calibrating needs {MIN_RUNS}"
            proposals.append(Proposal(name, current, None, None, runs, why))
            continue
        up = higher_is_better(name, current)
        fixed = current is not None and parse_target(current).op in ("==", "!=", "")
        if up is None or fixed:
            why = "an exact or trend target, or no known direction: nothing to calibrate"
            proposals.append(Proposal(name, current, None, None, runs, why))
            continue
        target, why = _target(values, unit, up, margin)
        proposals.append(Proposal(name, current, target, _regression(values), runs, why))
    return proposals


def _target(values: list[float], unit: str, up: bool, margin: float) -> tuple[str | None, str]:
    worst = min(values) if up else max(values)
    shown = format_value(worst, unit)
    if worst == 0 and not up:
        return None, "0 in every run: a margin on 0 is 0; the plan's target stands"
    if unit == "%" and up and worst >= 100:
        return None, "100% in every run: a margin on what it misses is 0; the target stands"
    if unit == "%" and up:
        # a share that should reach 100%: the margin is on what it misses (99.8% -> 99.78%)
        bound = 100.0 - (100.0 - worst) * (1 + margin)
    else:
        bound = worst * (1 - margin) if up else worst * (1 + margin)
    if up and bound <= 0:
        return None, f"worst {shown}: a floor at or below 0 holds nothing; the target stands"
    op = ">=" if up else "<="
    text = f"{op} {format_value(bound, unit)}"
    try:
        target = parse_target(text)
    except TargetSyntaxError:
        return None, f"{text!r} would not parse as a target"
    if not all(target.check(v) for v in values):
        return None, f"{text}: rounded as shown, the history would not meet it"
    if unit == "%" and up:
        return text, f"worst {shown}, its shortfall + {margin:.0%}"
    side = "-" if up else "+"
    return text, f"worst {shown} {side} {margin:.0%}"


def _regression(values: list[float]) -> str | None:
    middle = median(values)
    if middle == 0:
        return None
    spread = MAD_TO_SD * median(abs(v - middle) for v in values) / abs(middle)
    share = max(LEAST_REGRESSION, NOISE_FACTOR * spread)
    return f"{math.ceil(share * 100)}%"
