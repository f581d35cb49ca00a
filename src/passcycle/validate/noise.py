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
from dataclasses import dataclass, field, replace

from passcycle.records import Measurement, Run, TestResult
from passcycle.targets import format_value
from passcycle.validate.baseline import Comparison, relative_change

MIN_RUNS = 3  # runs a spread must rest on before it can call anything noise or not
SPREAD_K = 3.0  # a regression lies more than K robust standard deviations from the centre
# The suite's time needs fewer: a run that looks slower was timed a second time before it
# is judged (`second_look`), so noise must stand out twice in a row to fail a build. Over
# 20 unchanged runs of a 201-test suite on a 2-CPU VM: -7% to +8% at equal speed (sigma
# 6%), and a function 30% slower: +14% to +28%; 3 sigma would have missed 3 of 20.
DURATION_K = 2.0
# Other work keeping this many more CPUs busy than at the baseline (suite/machine.py) slows
# a suite in ways neither solo time nor the probe takes out (+32% seen with two other busy
# jobs on 2 CPUs): the suite's time is then judged as with too little history, failing
# only beyond LARGE_BOUND, and the detail says why.
BUSIER_CPUS = 0.5
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
    """A run's per-test times: solo (wall less run-queue wait) where measured, and CPU;
    `probe`, the seconds a fixed piece of work took around each test (the plugin's
    `_probe`), makes `work` = solo / probe: a test's time at equal machine speed."""

    solo: Mapping[str, float]
    cpu: Mapping[str, float]
    probe: Mapping[str, float] = field(default_factory=dict)

    __test__ = False

    @property
    def work(self) -> dict[str, float]:
        return {n: t / self.probe[n] for n, t in self.solo.items() if self.probe.get(n)}


# The times a paired comparison can use, best first: what its detail calls them, and the
# run's measurement holding their total (whose spread between runs `within_history` reads).
KINDS = {
    "work": ("solo time at equal machine speed", "suite_work"),
    "solo": ("solo time", "suite_solo"),
    "cpu": ("CPU time", "suite_cpu"),
}


def total_of(method: str) -> str:
    """The measurement that totals what a paired comparison `method` compared."""
    return next(total for what, total in KINDS.values() if method == f"paired {what}")


def compare_paired(
    baseline: TestTimes, current: TestTimes, *, min_effect: float, alpha: float = ALPHA
) -> Comparison | None:
    """The tests both runs timed, pairwise; None when too few were timed in both."""
    for kind in KINDS:
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
    what = KINDS[kind][0]
    scale = speed_scale(baseline) if kind == "work" else 1.0  # shown in seconds
    detail = (
        f"{what} {format_value(total_b * scale, 's')} -> {format_value(total_a * scale, 's')}"
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
        total_b * scale,
        total_a * scale,
        len(shared),
        len(shared),
    )


def speed_scale(times: TestTimes) -> float:
    """Seconds of the probe at a run's typical speed: turns work back into seconds."""
    probes = [p for p in times.probe.values() if p]
    return statistics.median(probes) if probes else 1.0


def timed_tests(results: Sequence[TestResult]) -> TestTimes:
    """The passed tests' solo and CPU times (a failure stops early: its time says little)."""
    solo: dict[str, float] = {}
    cpu: dict[str, float] = {}
    probe: dict[str, float] = {}
    for r in results:
        if r.outcome != "passed":
            continue
        if r.solo is not None:
            solo[r.nodeid] = r.solo
        if r.cpu is not None:
            cpu[r.nodeid] = r.cpu
        if r.probe:
            probe[r.nodeid] = r.probe
    return TestTimes(solo, cpu, probe)


def suite_totals(results: Sequence[TestResult]) -> list[Measurement]:
    """The passed tests' CPU, solo and equal-speed (solo / probe) times summed:
    `suite_cpu`, `suite_solo` and `suite_work`, kept with each run so that the spread of a
    suite's time between runs is known."""
    times = timed_tests(results)
    return [
        Measurement(name, sum(values.values()), unit, "tests")
        for name, values, unit in (
            ("suite_cpu", times.cpu, "s"),
            ("suite_solo", times.solo, "s"),
            ("suite_work", times.work, ""),
        )
        if values
    ]


TOTALS = (
    "suite_cpu",
    "suite_solo",
    "suite_work",
    "suite_others",
)  # measurements, not KPIs, judging reads
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


def within_history(
    paired: Comparison,
    total: float | None,
    history: Spread | None,
    *,
    min_effect: float,
    scale: float = 1.0,
) -> Comparison:
    """The suite's total against how far it moved between runs that changed nothing.

    With `MIN_RUNS` such runs this decides, not the paired test: a machine slower for a
    whole run moves every test at once, which the paired test reads as a regression; and a
    slowdown that only a few heavy tests carry (a slower function they alone call) leaves
    the median test as it was, so the paired test misses it while their total does not.

    The share is then taken against the centre of those runs, the baseline *window*, not
    the baseline run alone: a baseline run that happened to be slow (+10% on mistune's
    median) hid a function 30% slower in 8 of 10 runs."""
    if total is None or history is None or history.n < MIN_RUNS:
        return paired
    band = DURATION_K * history.sigma
    beyond = total - history.centre > band
    effect = relative_change(history.centre, total)
    where = "beyond" if beyond else "within"
    detail = (
        f"{paired.detail}, {where} the spread of {history.n} {history.where}"
        f" (±{format_value(band * scale, 's')}, {_percent(effect)} on their median)"
    )
    return replace(paired, regressed=effect > min_effect and beyond, detail=detail)


def on_busier_machine(paired: Comparison, others: float | None, before: float | None) -> Comparison:
    """A verdict on the suite's time taken while other work kept the machine busier than at
    the baseline fails only beyond `LARGE_BOUND`, and says why."""
    if others is None or before is None or others - before <= BUSIER_CPUS:
        return paired
    regressed = paired.regressed and paired.effect > LARGE_BOUND
    detail = (
        f"{paired.detail}; the machine was busier than at the baseline (other work kept"
        f" {others:.1f} CPUs busy, {before:.1f} then): fails only beyond {_percent(LARGE_BOUND)}"
    )
    return replace(paired, regressed=regressed, detail=detail)


# A second look (#9): on this kind of machine the CPU can run 1.5x slower for a second or
# more at a time (after an idle spell, or while a neighbour on the host is busy), so a
# stretch of consecutive tests looks slower in one run and not in the next. A slower
# function stays slower. When a run's paired times call it slower, the tests whose time
# rose most are timed again and their second timing counts.
SECOND_LOOK_SHARE = 0.5  # of the suite's timed seconds, at most, timed again ...
SECOND_LOOK_FLOOR = 10.0  # ... or this many seconds, whichever is more


def second_look(baseline: TestTimes, current: TestTimes, *, min_effect: float) -> list[str]:
    """The tests to time again: none unless their total is worse than the baseline's by
    more than `min_effect`; then those whose time rose most, up to the budget, in the
    order they rose."""
    paired = compare_paired(baseline, current, min_effect=min_effect)
    if paired is None or paired.effect <= min_effect:
        return []
    kind = next(k for k, (what, _) in KINDS.items() if paired.method == f"paired {what}")
    before: Mapping[str, float] = getattr(baseline, kind)
    after: Mapping[str, float] = getattr(current, kind)
    seconds = current.solo or current.cpu  # what timing them again costs
    rises = sorted(
        ((after[n] - before[n], n) for n in set(before) & set(after) if after[n] > before[n]),
        reverse=True,
    )
    budget = max(SECOND_LOOK_FLOOR, SECOND_LOOK_SHARE * sum(seconds.values()))
    chosen: list[str] = []
    spent = 0.0
    for _, nodeid in rises:
        cost = seconds.get(nodeid, 0.0)
        if chosen and spent + cost > budget:
            break
        chosen.append(nodeid)
        spent += cost
    return chosen


Timing = tuple[float | None, float | None, float | None]  # cpu, solo, probe


def second_timings(first: Sequence[TestResult], second: Sequence[TestResult]) -> dict[str, Timing]:
    """For each test that passed both times, its second timing: (cpu, solo, probe). Not the
    faster of the two: the least of two noisy timings is lower than one timing is, and the
    baseline's are single timings (it read +8% for a function that cost +17%)."""
    again = {r.nodeid: r for r in second if r.outcome == "passed"}
    return {
        r.nodeid: (other.cpu, other.solo, other.probe)
        for r in first
        if r.outcome == "passed" and (other := again.get(r.nodeid)) is not None
    }
