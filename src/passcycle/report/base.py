"""The report context: everything a report writer reads of one run, gathered from the history."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TextIO

from passcycle.errors import UsageError
from passcycle.plan import Plan
from passcycle.records import (
    BAD_OUTCOMES,
    OUTCOMES,
    CoverageSummary,
    FileCoverage,
    KpiVerdict,
    Measurement,
    Run,
    TestResult,
    TimelinePoint,
    Verdict,
)
from passcycle.refs import resolve_run
from passcycle.report.scenarios import DrillSummary, summarize_drills
from passcycle.sanitize import visible
from passcycle.store import History
from passcycle.store.history import FULL_RUN_KINDS
from passcycle.targets import format_value
from passcycle.validate.flaky import flip_count, flip_rate
from passcycle.validate.localize import Suspect
from passcycle.validate.verdict import stored_verdict

MIN_FLIPS = 2  # one flip is a break or a fix; flaky is back and forth
RECENT_RUNS = 30  # runs of history that trends, charts and flip rates look back over
FLIP_WINDOW = 20  # runs whose outcomes make a flip rate

# ANSI/VT100 sequences (CSI, OSC, two-byte escapes), then any control character left.
# "<n>" is how fingerprints mask the numbers of a sequence kept in an issue title.
_PERCENTILE = re.compile(r"(?:^|_)p(50|90|95|99)(?:_|$)")


class Reporter(Protocol):
    """What a report writer does: one output format per module, from one context."""

    def write(self, ctx: ReportContext, out: TextIO) -> None: ...


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """One scenario's response times in one run (seconds)."""

    run_id: int
    started: datetime
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    samples: int = 0  # requests behind the percentiles, when the collector said


@dataclass(frozen=True, slots=True)
class ScenarioTrend:
    """A scenario's latency over the recent runs (oldest first) and its latest other values."""

    name: str
    points: tuple[LatencyPoint, ...]
    latest: tuple[Measurement, ...] = ()  # every measurement of the scenario in the newest run

    @property
    def last(self) -> LatencyPoint | None:
        return self.points[-1] if self.points else None

    @property
    def generator_bound(self) -> bool:
        """Its load generator was the bottleneck in the newest run that ran it."""
        return any(m.name == "generator_bound" for m in self.latest)


@dataclass(frozen=True, slots=True)
class FlakyTest:
    """A test whose verdict flips: this run's isolated re-runs and its recent history."""

    nodeid: str
    flip_rate: float  # 0..1 over the recent runs (validate.flaky.flip_rate)
    outcomes: tuple[str, ...] = ()  # recent outcomes, oldest first
    reruns: tuple[str, ...] = ()  # this run's isolated re-runs
    flaky_now: bool = False  # passed and failed on this run's commit


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What every writer reads. Built by `build_context`; writers judge nothing."""

    plan_name: str
    verdict: Verdict
    results: tuple[TestResult, ...]
    coverage: CoverageSummary | None
    files: tuple[FileCoverage, ...]
    trends: Mapping[str, tuple[tuple[int, float | None], ...]]  # KPI -> (run id, value)
    recent_runs: tuple[Run, ...]  # oldest first, ending with this run
    flaky: tuple[FlakyTest, ...]  # flakiest first
    scenarios: tuple[ScenarioTrend, ...] = ()
    drills: tuple[DrillSummary, ...] = ()  # this run's crash drills
    # this run's scenarios second by second (Locust's stats history)
    timelines: Mapping[str, Sequence[TimelinePoint]] = field(default_factory=dict)
    baseline: Run | None = None
    suggestions: Mapping[str, str] = field(default_factory=dict)  # issue fingerprint -> advice
    # issue fingerprint -> where the per-test map puts its bug, most suspicious first
    suspects: Mapping[str, Sequence[Suspect]] = field(default_factory=dict)
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def run(self) -> Run:
        return self.verdict.run

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if r.outcome in BAD_OUTCOMES]

    @property
    def flip_rates(self) -> dict[str, float]:
        return {f.nodeid: f.flip_rate for f in self.flaky}

    def result(self, nodeid: str) -> TestResult | None:
        return next((r for r in self.results if r.nodeid == nodeid), None)


def build_context(
    plan: Plan,
    history: History,
    run: Run | int | str,
    *,
    suggestions: Mapping[str, str] | None = None,
    suspects: Mapping[str, Sequence[Suspect]] | None = None,
    recent: int = RECENT_RUNS,
    verdict: Verdict | None = None,
) -> ReportContext:
    """Read what the reports show of `run` (a Run, an id or a reference such as "latest");
    `verdict`, the run's as just judged (default: the stored one)."""
    if not isinstance(run, Run):
        run = resolve_run(history, run, plan.name)
    if verdict is None or verdict.run.id != run.id:
        verdict = stored_verdict(plan, history, run)
    run = verdict.run  # as judged, with its gate
    results = tuple(history.results(run.id))
    summary, files = history.coverage(run.id)
    runs = _recent_runs(history, plan.name, run, recent)
    trends = {
        name: tuple((rid, value) for rid, value in points if rid <= run.id)
        for name, points in history.kpi_trend(plan.name, limit_runs=recent + 20).items()
    }
    return ReportContext(
        plan_name=plan.name,
        verdict=verdict,
        results=results,
        coverage=summary,
        files=tuple(files),
        trends={name: points[-recent:] for name, points in trends.items() if points},
        recent_runs=runs,
        flaky=_flaky(history, plan.name, run, results, verdict.flaky),
        scenarios=scenario_trends(history, runs),
        drills=tuple(summarize_drills(history.measurements(run.id))),
        timelines=history.timelines(run.id),
        baseline=history.baseline(plan.name),
        suggestions=dict(suggestions or {}),
        suspects=dict(suspects or {}),
    )


def _recent_runs(history: History, project: str, run: Run, recent: int) -> tuple[Run, ...]:
    # history.runs reads newest first; a report on an old run must not show later ones
    newest = history.runs(project=project, limit=recent + 200)
    earlier = [r for r in newest if r.id < run.id][: recent - 1]
    return (*reversed(earlier), run)


def _flaky(
    history: History,
    project: str,
    run: Run,
    results: tuple[TestResult, ...],
    flaky_now: tuple[str, ...],
) -> tuple[FlakyTest, ...]:
    outcomes = history.test_outcomes(None, project, limit_runs=FLIP_WINDOW + 50)
    reruns = {r.nodeid: r.reruns for r in results}
    found = []
    for nodeid, seen in outcomes.items():
        # newest first from the store; keep the runs up to this one, oldest first
        mine = [outcome for rid, outcome in reversed(seen) if rid <= run.id][-FLIP_WINDOW:]
        rate = flip_rate(mine)
        if flip_count(mine) >= MIN_FLIPS or nodeid in flaky_now:
            found.append(
                FlakyTest(nodeid, rate, tuple(mine), reruns.get(nodeid, ()), nodeid in flaky_now)
            )
    found.sort(key=lambda f: (not f.flaky_now, -f.flip_rate, f.nodeid))
    return tuple(found)


def scenario_name(measurement: Measurement) -> str | None:
    if measurement.source.startswith("scenario:"):
        return measurement.source.removeprefix("scenario:")
    return None


def percentile_of(name: str) -> str | None:
    """ "p95_response_time", "latency_p95" -> "p95"; other measurements -> None."""
    match = _PERCENTILE.search(name.lower())
    return f"p{match[1]}" if match else None


def scenario_trends(history: History, runs: tuple[Run, ...]) -> tuple[ScenarioTrend, ...]:
    """Each scenario's p50/p95/p99 in the given runs, from measurements with source
    "scenario:NAME" (the Locust collector writes p50/p95/p99_response_time and requests)."""
    points: dict[str, list[LatencyPoint]] = {}
    latest: dict[str, tuple[int, list[Measurement]]] = {}
    for run in runs:
        by_scenario: dict[str, list[Measurement]] = {}
        for m in history.measurements(run.id):
            name = scenario_name(m)
            if name is not None:
                by_scenario.setdefault(name, []).append(m)
        for name, found in by_scenario.items():
            values: dict[str, float] = {}
            samples = 0
            for m in found:
                # the scenario's own figures: not a step's or a phase's ({...}), nor the
                # figures taken while faults were on
                if "{" in m.name or m.name.startswith("fault_"):
                    continue
                pct = percentile_of(m.name)
                if pct is not None and pct in ("p50", "p95", "p99"):
                    values[pct] = m.value
                    samples = max(samples, len(m.samples))
                elif m.name in ("requests", "request_count", "samples"):
                    samples = max(samples, int(m.value))
            if values:
                points.setdefault(name, []).append(
                    LatencyPoint(run.id, run.started, samples=samples, **values)
                )
            latest[name] = (run.id, found)
    return tuple(
        ScenarioTrend(name, tuple(points.get(name, ())), tuple(latest[name][1]))
        for name in sorted(latest)
    )


# --- text from tests: what every writer does before escaping for its own format ------------


def plain(text: object, limit: int | None = None, *, oneline: bool = False) -> str:
    """Text from a test made inert (passcycle/sanitize.py), bounded to `limit`."""
    return visible(text, limit, oneline=oneline)


def first_line(text: str | None, limit: int = 160) -> str:
    if not text or not text.strip():
        return ""
    return plain(text.strip().splitlines()[0], limit, oneline=True)


def clip_lines(text: str, max_lines: int, max_chars: int) -> str:
    """The end of a long traceback (where it failed), bounded in lines and characters."""
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = [f"… {len(lines) - max_lines} lines above", *lines[-max_lines:]]
    value = "\n".join(lines)
    if len(value) > max_chars:
        value = "…" + value[-(max_chars - 1) :]
    return value


# --- KPI display, shared by every format -------------------------------------------------


def kpi_status(kpi: KpiVerdict) -> str:
    """ "pass", "fail", "regressed", "flat" (a trend target) or "not measured"."""
    return "regressed" if kpi.regressed else kpi.status


def fmt_kpi(value: float | None, unit: str) -> str:
    return format_value(value, unit) if value is not None else "—"


def fmt_delta(kpi: KpiVerdict) -> str:
    if kpi.delta is None:
        return "—"
    sign = "+" if kpi.delta > 0 else ("-" if kpi.delta < 0 else "±")
    return sign + format_value(abs(kpi.delta), kpi.unit)


def latest_judged_run(history: History, project: str) -> Run:
    """The newest finished full run (run or ci) that was judged, else the newest finished run:
    what phase reports and reviews stand on."""
    finished = [r for r in history.runs(project=project, limit=200) if r.status != "running"]
    for run in finished:
        if run.kind in FULL_RUN_KINDS and run.gate is not None:
            return run
    if finished:
        return finished[0]
    raise UsageError(
        f"no finished run of {project} in the history", hint="passcycle run records one"
    )
