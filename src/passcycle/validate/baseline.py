"""Baseline comparison: regressed against the baseline, or only noise.

A measurement regressed when both hold:

- the change is large enough to matter: the median moved in the worse direction by more
  than `min_effect` (the KPI's `regression`, 10% by default), relative to the baseline;
- the change is unlikely to be noise: a one-sided Mann-Whitney U test (no assumption of
  normality; timings are skewed) in the direction of worse gives p < `alpha` (0.01).

Requiring both keeps CI from failing on noise (significance alone flags a 1% shift on
large samples; effect alone flags one slow run). With fewer than `MIN_SAMPLES` on either
side no test is meaningful, so only the effect is judged, and `method` says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from passcycle.targets import format_value

MIN_SAMPLES = 5  # per side, for a significance test


@dataclass(frozen=True, slots=True)
class Comparison:
    regressed: bool
    improved: bool
    effect: float  # relative change of the median, current vs baseline: +0.31 = 31% higher
    p_value: float | None  # one-sided, in the direction the median moved; None: no test
    method: str  # "mann-whitney", or why a plain comparison was used
    detail: str  # "median 412ms -> 540ms (+31%), Mann-Whitney p=0.0004"
    baseline: float  # median of the baseline samples
    current: float  # median of the current samples
    n_baseline: int = 1
    n_current: int = 1


def relative_change(baseline: float, current: float) -> float:
    """(current - baseline) / |baseline|; from zero, any change is infinite."""
    if baseline == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return (current - baseline) / abs(baseline)


def _percent(effect: float) -> str:
    return f"{effect:+.0%}" if math.isfinite(effect) else ("+∞" if effect > 0 else "-∞")


def _finite(samples: Sequence[float], side: str) -> list[float]:
    values = [float(v) for v in samples if math.isfinite(v)]
    if not values:
        raise ValueError(f"no finite {side} samples to compare")
    return values


def compare_samples(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool,
    min_effect: float = 0.10,
    alpha: float = 0.01,
    unit: str = "",
) -> Comparison:
    """Compare two sets of samples of one measurement (see the module docstring).

    `unit` is only for the detail text (values in the base unit, see targets.format_value).
    """
    before = _finite(baseline, "baseline")
    after = _finite(current, "current")
    median_before = statistics.median(before)
    median_after = statistics.median(after)
    effect = relative_change(median_before, median_after)
    worse = -effect if higher_is_better else effect
    text = (
        f"median {format_value(median_before, unit)} -> {format_value(median_after, unit)}"
        f" ({_percent(effect)})"
    )

    if len(before) < MIN_SAMPLES or len(after) < MIN_SAMPLES:
        method = (
            "single values"
            if len(before) == len(after) == 1
            else f"medians only: n={len(before)} vs {len(after)}, under {MIN_SAMPLES} per side"
        )
        regressed = worse > min_effect
        improved = -worse > min_effect
        return Comparison(
            regressed,
            improved,
            effect,
            None,
            method,
            f"{text}, no significance test ({method})",
            median_before,
            median_after,
            len(before),
            len(after),
        )

    # scipy.stats costs ~0.3 s to import: only when a comparison needs it
    from scipy.stats import mannwhitneyu

    # "greater" asks whether `after` tends to be larger than `before`
    up = float(mannwhitneyu(after, before, alternative="greater").pvalue)
    down = float(mannwhitneyu(after, before, alternative="less").pvalue)
    p_worse, p_better = (down, up) if higher_is_better else (up, down)
    p_worse = 1.0 if math.isnan(p_worse) else p_worse
    p_better = 1.0 if math.isnan(p_better) else p_better
    regressed = worse > min_effect and p_worse < alpha
    improved = -worse > min_effect and p_better < alpha
    p_value = p_worse if worse > 0 else p_better
    return Comparison(
        regressed,
        improved,
        effect,
        p_value,
        "mann-whitney",
        f"{text}, Mann-Whitney p={p_value:.2g}",
        median_before,
        median_after,
        len(before),
        len(after),
    )


def compare_values(
    baseline: float,
    current: float,
    *,
    higher_is_better: bool,
    min_effect: float,
    absolute: bool = False,
    unit: str = "",
) -> Comparison:
    """Compare two single numbers: regressed when worse by more than `min_effect`.

    `min_effect` is relative (0.10 = 10% of the baseline), or with `absolute=True` in the
    value's own unit: a coverage drop of more than 0.5 points is `min_effect=0.5,
    absolute=True`.
    """
    if not (math.isfinite(baseline) and math.isfinite(current)):
        raise ValueError(f"cannot compare {baseline!r} with {current!r}")
    effect = relative_change(baseline, current)
    if absolute:
        change = current - baseline
        worse = -change if higher_is_better else change
        method = "absolute change"
        shown = f"{change:+.2f}{' points' if unit == '%' else ''}"
    else:
        worse = -effect if higher_is_better else effect
        method = "single values"
        shown = _percent(effect)
    return Comparison(
        regressed=worse > min_effect,
        improved=-worse > min_effect,
        effect=effect,
        p_value=None,
        method=method,
        detail=f"{format_value(baseline, unit)} -> {format_value(current, unit)} ({shown})",
        baseline=baseline,
        current=current,
    )
