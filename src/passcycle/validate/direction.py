"""Which way a KPI improves, and whether a value is better or worse than another: labels
for reports and reviews (the regression verdict itself is validate/kpis.py's)."""

from __future__ import annotations

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.targets import TargetSyntaxError, parse_target

NOISE = 0.02  # a relative change this small is labelled neither better nor worse


def higher_is_better(name: str, target: str | None) -> bool | None:
    """Which way a KPI improves: the catalogue knows the built-in ones, a target's operator
    tells for the others; None when neither says."""
    if name in BUILTIN_KPIS:
        return BUILTIN_KPIS[name].higher_is_better
    if target:
        try:
            parsed = parse_target(target)
        except TargetSyntaxError:
            return None
        if parsed.op in ("<", "<=", ">", ">="):
            return parsed.higher_is_better
    return None


def improved(name: str, target: str | None, base: float | None, value: float | None) -> bool | None:
    """True/False when `value` is better/worse than `base` by more than NOISE of it; None
    when there is nothing to compare, no known direction, or the change is within noise
    (the significance test of validate/baseline.py judges regressions; this only labels)."""
    direction = higher_is_better(name, target)
    if base is None or value is None or direction is None:
        return None
    if abs(value - base) <= NOISE * abs(base) or value == base:
        return None
    return (value > base) == direction
