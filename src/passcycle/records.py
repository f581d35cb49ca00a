"""The records that flow through passcycle: collectors make them, the store keeps them,
judges read them, reporters show them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from passcycle.errors import ExitCode

# The closed vocabularies, as types the checker holds every assignment to, and as tuples.
Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
RunKind = Literal["run", "test", "retest", "ci", "shard", "import"]
RunStatus = Literal["running", "passed", "failed", "error", "interrupted"]
IssueKind = Literal[
    "failure",
    "error",
    "regression",
    "flaky",
    "slow",
    "coverage_gap",
    "breach",
    "leak",
    "vulnerability",
    "forecast",
]
Severity = Literal["critical", "high", "medium", "low"]
IssueState = Literal["new", "recurring", "fixed", "reopened"]
# a part of a run's audit: "code", "dependencies", "debt", or "kpi:NAME" (a command KPI)
AuditPart = str

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
BAD_OUTCOMES: frozenset[str] = frozenset({"failed", "error"})
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
PARTIAL_KINDS: tuple[RunKind, ...] = ("retest", "shard")  # always part of the suite
SCENARIOS_ONLY = "scenarios only: "  # how the note of `run --scenario NAME` begins
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
ISSUE_KINDS: tuple[IssueKind, ...] = get_args(IssueKind)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # most severe first
ISSUE_STATES: tuple[IssueState, ...] = get_args(IssueState)


@dataclass(frozen=True, slots=True)
class Frame:
    """One traceback entry: `path` is relative to the project root when inside it."""

    path: str
    line: int
    function: str
    in_project: bool = True


@dataclass(frozen=True, slots=True)
class TestResult:
    nodeid: str
    outcome: Outcome
    duration: float = 0.0  # seconds, setup + call + teardown
    file: str = ""
    exc_type: str | None = None
    message: str | None = None
    traceback: str | None = None  # bounded text
    frames: tuple[Frame, ...] = ()
    when: str | None = None  # the phase that decided a bad outcome: setup, call, teardown
    reruns: tuple[str, ...] = ()  # outcomes of isolated re-runs, first outcome never replaced
    fingerprint: str | None = None
    cpu: float | None = None  # CPU seconds of setup + call + teardown; None: not measured
    solo: float | None = None  # wall seconds less those spent waiting for a CPU (contention)
    probe: float | None = None  # seconds of a fixed piece of work around it: machine speed

    __test__ = False  # not a pytest test class


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    value: float
    unit: str = ""
    source: str = "tests"  # "tests", "coverage", "scenario:NAME", "metric:NAME", "command"
    samples: tuple[float, ...] = ()  # bounded, so that baselines can use statistics


@dataclass(frozen=True, slots=True)
class FileCoverage:
    path: str  # relative to the project root
    statements: int
    missing: int
    branches: int = 0
    partial_branches: int = 0  # branches not taken
    percent: float = 0.0  # as `coverage report` computes it for the file
    missing_lines: str = ""  # "3-5, 9", as `coverage report -m` writes it


@dataclass(frozen=True, slots=True)
class CoverageSummary:
    statements: int
    covered_lines: int
    branches: int
    covered_branches: int
    percent: float  # the TOTAL of `coverage report` (lines and branches together when branch)
    precision: int = 0  # coverage's `report:precision`, used to display `percent`

    @property
    def line(self) -> float:
        return 100.0 * self.covered_lines / self.statements if self.statements else 100.0

    @property
    def branch(self) -> float | None:
        return 100.0 * self.covered_branches / self.branches if self.branches else None


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One sampled second of a scenario, from Locust's stats history: the load then."""

    second: float  # since the scenario's first sample
    users: int
    rps: float  # requests a second, then
    errors: float  # failed requests a second, then
    # Locust's current percentiles (over its last 10 s, whole ms), in seconds; None before
    # the first reply
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One security finding: a line of the project's code (bandit) or an installed package
    that an advisory marks vulnerable. Severities are the source's own, lower case: bandit's
    high/medium/low, an advisory's critical/high/medium/low, or "" when it gives none."""

    part: AuditPart
    rule: str  # bandit's test id (B602), or the advisory ids ("GHSA-…, PYSEC-…")
    title: str
    severity: str = ""
    confidence: str = ""  # code: bandit's high/medium/low
    path: str = ""  # code: relative to the project root
    line: int = 0
    code: str = ""  # code: the flagged line, stripped (what the fingerprint follows)
    package: str = ""  # dependencies: the distribution's name
    version: str = ""
    fixed: str = ""  # dependencies: the first version that fixes every advisory; "" none yet
    link: str = ""  # where to read more


@dataclass(frozen=True, slots=True)
class Audit:
    """One part of a run's security audit: what ran, whether it measured, what it found.
    `measured` False says why in `reason` ("cannot reach the advisory service: …"): a part
    that could not look found nothing, which is not the same as 0."""

    part: AuditPart
    tool: str  # "bandit", "osv", "pip-audit"
    measured: bool
    reason: str = ""
    seconds: float = 0.0
    checked: int = 0  # files scanned, or packages looked up
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    project: str
    kind: RunKind
    status: RunStatus
    started: datetime
    finished: datetime | None = None
    commit: str | None = None
    branch: str | None = None
    dirty: bool = False
    host: str = ""
    pid: int | None = None
    parent_id: int | None = None
    plan_digest: str | None = None
    exit_code: int | None = None
    note: str | None = None  # why a run ended as it did: "no tests collected", "crashed", ...
    artifacts: str | None = None  # folder kept with the run (coverage data file, logs)
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> number of tests
    gate: bool | None = None  # the verdict's gate; None until judged
    reasons: tuple[str, ...] = ()  # why the gate failed
    partial: bool = False  # ran part of the suite (re-test, shard, -k, paths): not judged as full

    @property
    def duration(self) -> float | None:
        if self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


@dataclass(frozen=True, slots=True)
class Issue:
    fingerprint: str
    title: str
    kind: IssueKind
    severity: Severity
    root_cause: str | None = None  # "path:line in function": the deepest shared project frame
    tests: tuple[str, ...] = ()  # node ids it hits in this run
    state: IssueState = "new"
    first_seen: int | None = None  # run id
    last_seen: int | None = None  # run id
    occurrences: int = 1  # runs it was seen in
    exc_type: str | None = None
    message: str | None = None
    location: str | None = None  # "path:line" of the deepest project frame
    reopened: int = 0  # times it came back after it was fixed

    @property
    def state_text(self) -> str:
        """Its state as people read it: "reopened 2 times" says a fix keeps failing."""
        if self.state != "reopened" or self.reopened < 1:
            return self.state
        return f"reopened {'once' if self.reopened == 1 else f'{self.reopened} times'}"


@dataclass(frozen=True, slots=True)
class KpiVerdict:
    name: str
    value: float | None  # None: not measured
    unit: str
    target: str | None  # as the plan wrote it
    status: str  # "pass", "fail", "not measured"
    baseline: float | None = None
    delta: float | None = None
    regressed: bool = False
    source: str = ""
    detail: str = ""  # how it was judged: "p=0.003, +31%", ...


@dataclass(frozen=True, slots=True)
class Criterion:
    text: str  # as the plan wrote it
    met: bool
    evidence: str  # "coverage 91.2% in run 14", "no baseline set", ...


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    number: int
    title: str
    criteria: tuple[Criterion, ...]

    @property
    def complete(self) -> bool:
        return all(c.met for c in self.criteria)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one run: KPIs, issues, flaky tests, regressions, phases and the gate."""

    run: Run
    kpis: tuple[KpiVerdict, ...]
    issues: tuple[Issue, ...]  # open issues, ranked; the top N come first
    fixed: tuple[Issue, ...] = ()  # issues open before that this run no longer shows
    flaky: tuple[str, ...] = ()  # node ids that passed and failed on this commit
    quarantined: tuple[str, ...] = ()  # failing or flaky, but in the plan's quarantine list
    regressions: tuple[str, ...] = ()  # tests that passed in the baseline and fail now
    phases: tuple[PhaseStatus, ...] = ()
    baseline_id: int | None = None
    gate: bool = False
    reasons: tuple[str, ...] = ()  # why the gate failed, one line each
    top: int = 5

    @property
    def current_phase(self) -> PhaseStatus | None:
        return next((p for p in self.phases if not p.complete), None)


# --- a run's outcome: what the Test phase produced, and how the run ends -----------------


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What the Test phase produced for one run."""

    run: Run
    results: list[TestResult]
    coverage: CoverageSummary | None = None
    files: list[FileCoverage] = field(default_factory=list)
    note: str | None = None
    detected: dict[str, str] = field(default_factory=dict)
    # the suite's wall time when it is not the run's own: a merge's longest shard
    suite_time: float | None = None
    end: RunEnd | None = None  # how the run will end, while it is still running

    __test__ = False

    @property
    def counts(self) -> dict[str, int]:
        return count_outcomes(self.results)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode(self.run.exit_code if self.run.exit_code is not None else 3)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ends: its status, exit code, note and outcome counts."""

    status: str
    code: ExitCode
    note: str | None
    counts: dict[str, int]


def run_end(results: Sequence[TestResult], note: str | None, disagreement: str | None) -> RunEnd:
    """A run's end from its results: never `passed` where pytest's own account says it
    failed or did not finish (#9)."""
    counts = count_outcomes(results)
    if disagreement:
        why = f"pytest and passcycle disagree: {disagreement}"
        return RunEnd("error", ExitCode.RUN_ERROR, "; ".join(filter(None, [why, note])), counts)
    if not results:
        return RunEnd("error", ExitCode.RUN_ERROR, note or "no tests collected", counts)
    if counts["failed"] or counts["error"]:
        return RunEnd("failed", ExitCode.FAILED, note, counts)
    return RunEnd("passed", ExitCode.OK, note, counts)


def count_outcomes(results: Sequence[TestResult]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def pass_rate(counts: dict[str, int]) -> float | None:
    """passed / (passed + failed + error), in percent; skips and xfails do not count."""
    judged = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    return 100.0 * counts.get("passed", 0) / judged if judged else None


# --- an issue's life across runs ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """What an issue's record becomes when it is seen in a run."""

    state: IssueState
    first_seen: int
    last_seen: int
    occurrences: int
    reopened: int = 0  # times it came back after it was fixed


def sighting(previous: Issue | None, run_id: int, *, same_run: bool) -> Seen:
    """The one state machine of an issue seen in run `run_id`: new the first time; seen again
    in a later run, recurring, or reopened when it had been fixed; judged again in the same
    run (`same_run`), as it was. The judge (validate/triage.py) and the store, which decides
    again under its lock when two runs save at once, both ask this."""
    if previous is None:
        return Seen("new", run_id, run_id, 1)
    first = previous.first_seen if previous.first_seen is not None else run_id
    last = max(previous.last_seen or run_id, run_id)
    if same_run:
        return Seen(previous.state, first, last, previous.occurrences, previous.reopened)
    state: IssueState = "reopened" if previous.state == "fixed" else "recurring"
    back = previous.reopened + (state == "reopened")
    return Seen(state, first, last, previous.occurrences + 1, back)


_SERIES = re.compile(r"^(?P<base>[^{]+)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def split_series(name: str) -> tuple[str, dict[str, str]]:
    """A measurement's name and labels: `error_rate{scenario="a",phase="during"}` ->
    ("error_rate", {"scenario": "a", "phase": "during"})."""
    match = _SERIES.match(name)
    if match is None:
        return name, {}
    labels = {
        k: v.replace('\\"', '"').replace("\\\\", "\\")
        for k, v in _LABEL.findall(match["labels"] or "")
    }
    return match["base"], labels
