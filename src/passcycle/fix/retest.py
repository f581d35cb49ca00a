"""Re-test: which tests to run again after a fix, and what the re-run says of each issue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passcycle.errors import ExitCode, UsageError
from passcycle.fix.changes import ChangeSet, changes_since_run
from passcycle.fix.impact import Selection, TestMap, select
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, Issue, Run, TestOutcome, TestResult, Verdict
from passcycle.validate.fingerprint import fingerprint
from passcycle.validate.flaky import flip_rate
from passcycle.validate.localize import MAP_FILE

if TYPE_CHECKING:  # the history's database layer is not imported to decide (fix/brief.py)
    from passcycle.store import History

FULL_KINDS = ("run", "test", "ci")
SCENARIO = "scenario:"  # an issue's root cause when a scenario measured it
TEST_KINDS = ("failure", "error", "regression", "flaky")


@dataclass(frozen=True, slots=True)
class IssueProgress:
    issue: Issue
    status: str  # "fixed", "still failing", "changed", "not re-run"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retest:
    """A re-test: the run it re-tests, what was selected, and what became of each issue."""

    base: Run
    selection: Selection | None  # None: everything was re-run
    outcome: TestOutcome | None  # None: nothing to re-run
    verdict: Verdict | None
    issues: list[IssueProgress]
    verified: TestOutcome | None = None  # `--verify`: the full suite, run afterwards
    # the scenarios whose KPIs failed in the base run, run again (cycle/results.RunResult)
    scenarios: Any = None

    @property
    def missed(self) -> list[str]:
        """With `--verify`: the tests the full suite saw fail that the re-test did not run."""
        if self.verified is None:
            return []
        ran = set() if self.outcome is None else {r.nodeid for r in self.outcome.results}
        bad = (r.nodeid for r in self.verified.results if r.outcome in BAD_OUTCOMES)
        return [nodeid for nodeid in bad if nodeid not in ran]

    @property
    def exit_code(self) -> ExitCode:
        codes = [o.exit_code for o in (self.outcome, self.verified) if o is not None]
        if self.scenarios is not None:
            codes.append(self.scenarios.exit_code)
        return max(codes, default=ExitCode.OK)


def base_run(plan: Plan, history: History) -> Run:
    """The latest full run that finished and kept its impact map."""
    # full runs only: a day of re-tests (`cycle --watch` re-tests at every save) must not
    # push the last full run out of the window
    for run in history.runs(project=plan.name, limit=50, kind=FULL_KINDS):
        if run.partial or run.status not in ("passed", "failed"):
            continue
        if run.artifacts and (plan.root / run.artifacts / MAP_FILE).is_file():
            return run
    raise UsageError(
        "no full run with a coverage map to re-test from",
        hint="passcycle run (or passcycle test) records one",
    )


def plan_selection(plan: Plan, history: History, run: Run) -> Selection:
    return selection_from(plan, run, history.results(run.id), recent_failure_rate(plan, history))


def recent_failure_rate(plan: Plan, history: History) -> dict[str, float]:
    """Each test's share of bad outcomes over the project's last 10 runs (those with none
    are left out: the selection ranks them 0 anyway)."""
    return history.failure_rates(plan.name, limit_runs=10)


def selection_from(
    plan: Plan,
    run: Run,
    results: Sequence[TestResult],
    failure_rate: Mapping[str, float],
    changes: ChangeSet | None = None,
) -> Selection:
    """The tests a change since `run` (its results, the recent failure rates) can affect;
    `changes`: what changed since it, when the caller has read that already."""
    artifacts = plan.root / (run.artifacts or "")
    if changes is None:
        changes = changes_since_run(plan.root, run)
    test_map: TestMap = {}
    setup_map: TestMap = {}
    if not changes.empty:  # else only the last run's failures: no map to read (nor coverage)
        from passcycle.suite.covmap import impact_maps

        test_map, setup_map = impact_maps(artifacts / MAP_FILE, plan.root)
    plan_file = None
    if plan.path is not None:
        try:
            plan_file = str(plan.path.relative_to(plan.root))
        except ValueError:
            plan_file = None
    return select(
        plan.root,
        changes=changes,
        test_map=test_map,
        setup_map=setup_map,
        last_results=results,
        recent_failure_rate=failure_rate,
        durations={r.nodeid: r.duration for r in results},
        source=plan.source,
        tests=plan.tests,
        plan_file=plan_file,
        last_run=run.id,
    )


def progress(
    issues: Sequence[Issue],
    results: Sequence[TestResult],
    current: Mapping[str, str] | None = None,
) -> list[IssueProgress]:
    """Per issue of the re-tested run: fixed, still failing, changed, or not re-run.
    `current`: node id -> the fingerprint of its issue in the re-test's own verdict (one
    issue per bug groups by culprit, which a result's own fingerprint does not know)."""
    current = current or {}
    by_id = {r.nodeid: r for r in results}
    report = []
    for issue in issues:
        if issue.kind not in TEST_KINDS or issue.state == "fixed":
            continue  # KPI breaches are judged on the full pass, not on a selection
        rerun = [by_id[t] for t in issue.tests if t in by_id]
        if not issue.tests or not rerun:
            report.append(IssueProgress(issue, "not re-run"))
            continue
        bad = [r for r in rerun if r.outcome in BAD_OUTCOMES]
        if not bad:
            left = len(issue.tests) - len(rerun)
            passing = "1 test passes" if len(rerun) == 1 else f"{len(rerun)} tests pass"
            detail = passing + (f"; {left} not re-run" if left else "")
            report.append(IssueProgress(issue, "fixed", detail))
            continue
        same = [
            r
            for r in bad
            if issue.fingerprint in (current.get(r.nodeid), r.fingerprint or fingerprint(r))
        ]
        if same:
            report.append(
                IssueProgress(issue, "still failing", f"{len(same)} of {len(rerun)} tests fail")
            )
        else:
            first = bad[0]
            detail = f"now {first.exc_type or first.outcome}: {(first.message or '')[:80]}"
            report.append(IssueProgress(issue, "changed", detail.strip()))
    return report


def flip_rates(history: History, project: str, nodeids: Sequence[str]) -> dict[str, float]:
    outcomes = history.test_outcomes(list(nodeids), project, limit_runs=20)
    return {n: flip_rate([o for _, o in reversed(seen)]) for n, seen in outcomes.items()}


def map_path(plan: Plan, run: Run) -> Path | None:
    return plan.root / run.artifacts / MAP_FILE if run.artifacts else None


def failed_scenarios(plan: Plan, issues: Sequence[Issue]) -> list[str]:
    """The plan's scenarios that an open issue of the base run blames (a KPI they measure
    missed its target, their steady state or breaker broke): a re-test runs them again."""
    blamed = {
        (i.root_cause or "").removeprefix(SCENARIO)
        for i in issues
        if i.kind not in TEST_KINDS and i.state != "fixed"
        and (i.root_cause or "").startswith(SCENARIO)
    }  # fmt: skip
    return [s.name for s in plan.model.scenarios if s.name in blamed]


def scenario_progress(
    issues: Sequence[Issue], names: Sequence[str], verdict: Verdict
) -> list[IssueProgress]:
    """What became of each issue a re-run scenario was blamed for: fixed when the scenario
    measured again and the issue is gone from its verdict, still failing when it is there."""
    now = {i.fingerprint: i for i in verdict.issues}
    measured = {k.source for k in verdict.kpis if k.value is not None}
    report = []
    for issue in issues:
        source = issue.root_cause or ""
        if issue.kind in TEST_KINDS or issue.state == "fixed" or not source.startswith(SCENARIO):
            continue
        name = source.removeprefix(SCENARIO)
        if name not in names:
            continue
        if issue.fingerprint in now:
            report.append(IssueProgress(issue, "still failing", now[issue.fingerprint].title))
        elif source in measured:
            report.append(IssueProgress(issue, "fixed", f"scenario {name!r} run again"))
        else:
            report.append(IssueProgress(issue, "not re-run", f"scenario {name!r} measured nothing"))
    return report
