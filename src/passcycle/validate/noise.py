"""Noise: how far a KPI moves between runs that changed nothing, and what lies beyond it.

A KPI with one value per run cannot be judged on one sample against one sample (#9): ten
unchanged runs failed their gate five times on `suite_duration` alone. So:

- **suite_duration** is judged test by test on each test's *solo time*: its wall time less
  the time it was ready to run but waiting for a CPU (Linux's run-queue delay, read by the
  plugin). Another job on a shared runner stretches wall time at once (+14% to +50% seen)
  but barely moves solo time; a slower function or a new sleep moves both. The tests both
  runs share are compared pairwise (Wilcoxon signed-rank, one-sided), and a regression
  needs the test to say so (p < alpha) *and* their total to be worse by more than the KPI's
  `regression` share. Isolated re-runs of failures are other runs: never counted. Where
  the plugin could not take solo times, CPU time stands in, and the wall time is judged
  against its history like any other single value.
- **every other single-value KPI** (coverage, RSS, a scenario's p95, a custom metric) is
  compared with the spread its own history shows: the baseline run and the runs of the
  same tree around it, or else the recent full runs (median and MAD). A change within
  `SPREAD_K` robust standard deviations is noise, whatever its size. With fewer than
  `MIN_RUNS` runs to measure a spread the verdict says so, and fails only beyond
  `LARGE_BOUND` (twice as bad).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from passcycle.records import Measurement, Run, TestResult
from passcycle.targets import format_value
from passcycle.validate.baseline import Comparison, relative_change

MIN_RUNS = 3  # runs a spread must rest on before it can call anything noise or not
SPREAD_K = 3.0  # a regression lies more than K robust standard deviations from the centre
MAD_SCALE = 1.4826  # MAD to standard deviation, for normal data
LARGE_BOUND = 1.0  # with too little history: fail only when worse by more than +100%
MIN_PAIRED = 10  # tests both runs timed, for a paired test
ALPHA = 0.01
# Durations change by whole start-up costs on tiny suites (0.3 s -> 0.8 s seen on one):
# judged on wall time alone, a change under this many seconds is never a regression.
MIN_WALL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Spread:
    """A KPI's values in comparable runs: their centre and robust spread."""

    values: tuple[float, ...]
    centre: float
    sigma: float  # MAD_SCALE * median absolute deviation
    where: str  # "same tree" or "recent runs"

    @property
    def n(self) -> int:
        return len(self.values)


def spread(values: Sequence[float], where: str) -> Spread | None:
    found = tuple(float(v) for v in values if v is not None and math.isfinite(v))
    if not found:
        return None
    centre = statistics.median(found)
    mad = statistics.median(abs(v - centre) for v in found)
    return Spread(found, centre, MAD_SCALE * mad, where)


def _percent(effect: float) -> str:
    return f"{effect:+.0%}" if math.isfinite(effect) else ("+∞" if effect > 0 else "-∞")


def compare_to_history(
    baseline: float,
    current: float,
    history: Spread | None,
    *,
    higher_is_better: bool,
    min_effect: float,
    absolute: bool = False,
    unit: str = "",
    min_change: float = 0.0,
) -> Comparison:
    """One value against the baseline's, with the spread the history shows (module doc).

    `min_effect` is relative (0.10 = 10%) or, with `absolute=True`, in the value's unit;
    `min_change` is a change in the value's unit below which nothing is a regression.
    """
    if not (math.isfinite(baseline) and math.isfinite(current)):
        raise ValueError(f"cannot compare {baseline!r} with {current!r}")
    effect = relative_change(baseline, current)
    change = current - baseline
    worse_change = -change if higher_is_better else change
    worse = worse_change if absolute else (-effect if higher_is_better else effect)
    shown = f"{change:+.2f}{' points' if unit == '%' else ''}" if absolute else _percent(effect)
    text = f"{format_value(baseline, unit)} -> {format_value(current, unit)} ({shown})"
    beyond_floor = abs(worse_change) > min_change

    if history is None or history.n < MIN_RUNS:
        n = history.n if history is not None else 1
        bound = worse > LARGE_BOUND and not absolute
        method = f"n={n}: not enough runs to judge a regression"
        regressed = bound and beyond_floor
        improved = -worse > LARGE_BOUND and not absolute and beyond_floor
        if absolute:  # a deterministic measure (coverage): its tolerance alone judges it
            regressed = worse > min_effect and beyond_floor
            improved = -worse > min_effect
            method = f"n={n}: tolerance {format_value(min_effect, unit)}"
        detail = f"{text}; {method}" + (
            f" (fails beyond {_percent(LARGE_BOUND)})" if not absolute else ""
        )
        return Comparison(
            regressed, improved, effect, None, method, detail, baseline, current, n, 1
        )

    # Beyond the spread: the distance from the centre of comparable runs, in robust
    # standard deviations. A history that never varied (sigma 0) makes any move count.
    distance = (current - history.centre) * (-1 if higher_is_better else 1)
    noise = SPREAD_K * history.sigma
    outside = distance > noise
    regressed = worse > min_effect and outside and beyond_floor
    improved = -worse > min_effect and -distance > noise
    band = format_value(noise, unit)
    method = f"spread of {history.n} {history.where}"
    verdict = "beyond" if outside else "within"
    detail = f"{text}, {verdict} the spread of {history.n} {history.where} (±{band})"
    return Comparison(
        regressed, improved, effect, None, method, detail, baseline, current, history.n, 1
    )


@dataclass(frozen=True, slots=True)
class TestTimes:
    """A run's per-test times: solo (wall less run-queue wait) where measured, and CPU."""

    solo: Mapping[str, float]
    cpu: Mapping[str, float]

    __test__ = False


def compare_paired(
    baseline: TestTimes, current: TestTimes, *, min_effect: float, alpha: float = ALPHA
) -> Comparison | None:
    """The tests both runs timed, pairwise; None when too few were timed in both."""
    for kind in ("solo", "cpu"):
        before: Mapping[str, float] = getattr(baseline, kind)
        after: Mapping[str, float] = getattr(current, kind)
        shared = sorted(set(before) & set(after))
        if len(shared) >= MIN_PAIRED:
            break
    else:
        return None
    b = [before[n] for n in shared]
    a = [after[n] for n in shared]
    total_b, total_a = sum(b), sum(a)
    effect = relative_change(total_b, total_a)
    diffs = [y - x for x, y in zip(b, a, strict=True)]
    p_worse = p_better = 1.0
    if any(diffs):
        from scipy.stats import wilcoxon  # scipy costs ~0.3 s to import: only when needed

        p_worse = float(wilcoxon(diffs, alternative="greater").pvalue)
        p_better = float(wilcoxon(diffs, alternative="less").pvalue)
    p_worse = 1.0 if math.isnan(p_worse) else p_worse
    p_better = 1.0 if math.isnan(p_better) else p_better
    regressed = effect > min_effect and p_worse < alpha
    improved = -effect > min_effect and p_better < alpha
    p_value = p_worse if effect > 0 else p_better
    what = "solo time" if kind == "solo" else "CPU time"
    detail = (
        f"{what} {format_value(total_b, 's')} -> {format_value(total_a, 's')}"
        f" ({_percent(effect)}) over {len(shared)} tests both runs timed,"
        f" Wilcoxon p={p_value:.2g}"
    )
    return Comparison(
        regressed,
        improved,
        effect,
        p_value,
        f"paired {what}",
        detail,
        total_b,
        total_a,
        len(shared),
        len(shared),
    )


def timed_tests(results: Sequence[TestResult]) -> TestTimes:
    """The passed tests' solo and CPU times (a failure stops early: its time says little)."""
    solo: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for r in results:
        if r.outcome != "passed":
            continue
        if r.solo is not None:
            solo[r.nodeid] = r.solo
        if r.cpu is not None:
            cpu[r.nodeid] = r.cpu
    return TestTimes(solo, cpu)


def suite_totals(results: Sequence[TestResult]) -> list[Measurement]:
    """The passed tests' CPU and solo seconds summed: `suite_cpu` and `suite_solo`, kept with
    each run so that the spread of a suite's solo time between runs is known."""
    times = timed_tests(results)
    return [
        Measurement(name, sum(values.values()), "s", "tests")
        for name, values in (("suite_cpu", times.cpu), ("suite_solo", times.solo))
        if values
    ]


TOTALS = ("suite_cpu", "suite_solo")  # measurements, not KPIs, whose spread judging reads
WINDOW_RUNS = 10  # recent full runs that measure a KPI's spread


def history_spreads(
    window: Sequence[tuple[Run, Mapping[str, float]]],
    baseline: Run,
    baseline_values: Mapping[str, float],
) -> dict[str, Spread]:
    """Each KPI's spread: over the baseline run and the runs of its tree (same commit, no
    local changes) when there are `MIN_RUNS` of them, else over the recent full runs
    around the baseline's value. `window` is the judged full runs before the current
    one, newest first."""
    same_tree = [
        values
        for run, values in window
        if run.id != baseline.id
        and baseline.commit
        and run.commit == baseline.commit
        and not run.dirty
        and not baseline.dirty
    ]
    recent = [values for run, values in window[:WINDOW_RUNS] if run.id != baseline.id]
    spreads: dict[str, Spread] = {}
    for name, base_value in baseline_values.items():
        tree = [base_value, *(v[name] for v in same_tree if name in v)]
        if len(tree) >= MIN_RUNS:
            found = spread(tree, "runs of the baseline's tree")
        else:
            others = [v[name] for v in recent if name in v]
            found = spread([base_value, *others], "recent runs")
            if found is not None:  # their spread, around the baseline's value
                found = Spread(found.values, base_value, found.sigma, found.where)
        if found is not None:
            spreads[name] = found
    return spreads


def within_history(paired: Comparison, total: float | None, history: Spread | None) -> Comparison:
    """A paired verdict checked against how far the suite's total moved between runs that
    changed nothing: a machine slower for a whole run (other jobs on the same cores slow
    even CPU time a little) moves every test at once, which the paired test alone reads
    as a regression."""
    if total is None or history is None or history.n < MIN_RUNS:
        return paired
    band = SPREAD_K * history.sigma
    beyond = total - history.centre > band
    where = "beyond" if beyond else "within"
    detail = (
        f"{paired.detail}, {where} the spread of {history.n} {history.where}"
        f" (±{format_value(band, 's')})"
    )
    return replace(paired, regressed=paired.regressed and beyond, detail=detail)
