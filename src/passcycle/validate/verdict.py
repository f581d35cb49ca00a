"""The verdict of a run: KPIs, issues, flaky tests, regressions, phases and the gate,
judged from the records in the history (it reads the store and writes back only issues)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from passcycle.covnote import cause_from_note
from passcycle.plan import Plan
from passcycle.records import (
    BAD_OUTCOMES,
    FileCoverage,
    Issue,
    IssueKind,
    KpiVerdict,
    Measurement,
    Run,
    TestResult,
    Verdict,
)
from passcycle.store import History
from passcycle.store.history import FULL_RUN_KINDS
from passcycle.validate import kpis as kpi_engine
from passcycle.validate import noise
from passcycle.validate.baseline import Comparison
from passcycle.validate.bound import mark_upper_bounds, without_generator_bound
from passcycle.validate.breaker import breaker_issues, judge_breakers
from passcycle.validate.changepoints import WINDOW, change_points, shift_issue
from passcycle.validate.diffcov import diff_coverage
from passcycle.validate.flaky import classify, is_quarantined
from passcycle.validate.forecast import breach_forecast
from passcycle.validate.hypothesis import hypothesis_issues, hypothesis_kpi, judge_hypotheses
from passcycle.validate.kpis import kpi_specs
from passcycle.validate.localize import Suspect
from passcycle.validate.phases import evaluate
from passcycle.validate.security import at_least, audit_measurements, vulnerability_issues
from passcycle.validate.trends import Trend, judge_trend, mean_time_between_failures
from passcycle.validate.triage import SeverityRules, breach_issue, carry_over, rank, triage

KPI_KINDS = frozenset({"breach", "regression", "slow", "coverage_gap", "leak"})
SHIFT_RUNS = 2 * WINDOW  # the earlier runs a KPI's change points are looked for in


def rules_for(plan: Plan) -> SeverityRules:
    v = plan.validate
    return SeverityRules(
        critical_share=v.critical_share,
        critical_min_tests=v.critical_min_tests,
        high_min_tests=v.high_min_tests,
    )


def _data(history: History, run: Run) -> kpi_engine.RunData:
    summary, _ = history.coverage(run.id)
    return kpi_engine.RunData(run, history.results(run.id), summary, history.measurements(run.id))


def flaky_tests(results: list[TestResult]) -> list[str]:
    return [r.nodeid for r in results if r.reruns and classify(r.outcome, r.reruns) == "flaky"]


def judge_run(
    plan: Plan,
    history: History,
    run: Run,
    *,
    save: bool = True,
    culprits: Mapping[str, Suspect] | None = None,
) -> Verdict:
    """The run judged: KPIs against targets and baseline, issues, phases, the gate.
    `culprits` (fix/locating.py `run_culprits`) lets triage make one issue per bug."""
    data, bound = without_generator_bound(plan, _data(history, run))
    results = data.results
    quarantine = plan.validate.quarantine
    baseline_run = history.baseline(plan.name)
    if baseline_run is not None and baseline_run.id == run.id:
        base_data = None  # a run is not its own baseline
    else:
        base_data = _data(history, baseline_run) if baseline_run else None

    flaky = flaky_tests(results)
    baseline_passed = (
        {r.nodeid for r in base_data.results if r.outcome == "passed"} if base_data else set()
    )
    previous = {i.fingerprint: i for i in history.issues(plan.name)}
    partial = run.partial
    issues = triage(
        results,
        previous=previous,
        run_id=run.id,
        rules=rules_for(plan),
        baseline_passed=baseline_passed,
        quarantine=quarantine,
        partial=partial,
        culprits=culprits,
        tests_folders=plan.tests,
    )
    open_issues = [i for i in issues if i.state != "fixed"]
    fixed = [i for i in issues if i.state == "fixed"]

    diff = None
    if run.artifacts and not partial:
        data_file = plan.root / run.artifacts / "coverage.db"
        diff = diff_coverage(plan.root, data_file, plan.validate.diff_base)
    measured = kpi_engine.measure(
        plan,
        data,
        issues=open_issues,
        flaky=flaky,
        diff_coverage=diff.percent if diff else None,
    )
    base_measured = None
    if base_data is not None:
        base_issues = triage(
            base_data.results, previous=None, run_id=base_data.run.id, rules=rules_for(plan)
        )
        base_measured = kpi_engine.measure(
            plan, base_data, issues=base_issues, flaky=flaky_tests(base_data.results)
        )
    audits = history.audits(run.id)
    audited, unmeasured = audit_measurements(plan, audits)
    unmeasured = {**bound, **unmeasured}
    measured.update({k: m for k, m in audited.items() if not m.source.endswith(":least")})
    if not partial:
        lived, why_not = _from_history(plan, history, run)
        measured.update(lived)
        unmeasured = {**unmeasured, **why_not}
    open_issues.extend(vulnerability_issues(plan, audits, previous, run.id))
    checks = judge_hypotheses(plan, data.measurements)
    breakers = judge_breakers(plan, data.measurements)  # checks of the steady state too
    held = hypothesis_kpi([*checks, *breakers])
    if held is not None:
        measured[held.name] = held
    broken = [*hypothesis_issues(checks), *breaker_issues(breakers)]
    open_issues.extend(carry_over(i, previous.get(i.fingerprint), run.id) for i in broken)
    if partial:
        # a re-test ran a selection: its pass rate or coverage says nothing about the suite
        measured = {k: v for k, v in measured.items() if k not in _SUITE_WIDE}
    spreads, paired = _noise(plan, history, run, results, baseline_run, base_data, base_measured)
    verdicts = kpi_engine.judge(
        plan,
        measured,
        base_measured,
        spreads=spreads,
        paired=paired,
        unmeasured=unmeasured,
        trends=_trends(plan, history, run, measured) if not partial else None,
    )
    verdicts = mark_upper_bounds(at_least(plan, verdicts, audited, unmeasured), data.measurements)

    for verdict in verdicts:
        if verdict.status == "fail":
            kind: IssueKind | None = "coverage_gap" if verdict.source == "coverage" else None
            prior = previous.get(breach_issue(verdict).fingerprint)
            issue = breach_issue(verdict, kind=kind, previous=prior, run_id=run.id)
            # a KPI's source ("tests") is no root cause; its scenario, a coverage gap's file are
            cause = _breach_cause(verdict, history.coverage(run.id)[1], run.note)
            open_issues.append(replace(issue, root_cause=cause))

    if not partial:
        open_issues.extend(_series_issues(plan, history, run, verdicts, previous))
    regressions = regressed_tests(results, baseline_passed, flaky, quarantine)
    # `run --scenario`: a partial run of scenarios alone, which no test result is owed by
    scenarios_only = partial and any(m.source.startswith("scenario:") for m in data.measurements)
    gate, reasons = _gate(
        verdicts, open_issues, regressions, flaky, quarantine, bool(results) or scenarios_only
    )
    if run.status in ("error", "interrupted"):
        # a run that did not end as a test session should (pytest stopped early, or pytest
        # and passcycle disagree on what failed) never passes, whatever its results say (#9)
        gate = False
        reasons.insert(0, f"the run ended {run.status}: {run.note or 'no reason recorded'}")
    fixed = _settled(fixed, open_issues, previous, partial)
    ranked = rank(open_issues, top=None)
    phases = evaluate(
        plan,
        run_id=run.id,
        kpis=verdicts,
        issues=ranked,
        baseline_id=baseline_run.id if baseline_run else None,
        regressions=regressions,
        gate=gate,
    )
    if save:
        history.save_issues(plan.name, run.id, [*ranked, *fixed])
        history.save_verdict(run.id, gate, reasons, verdicts)
    return Verdict(
        run=replace(run, gate=gate, reasons=tuple(reasons)),  # the run as judged
        kpis=tuple(verdicts),
        issues=tuple(ranked),
        fixed=tuple(fixed),
        flaky=tuple(flaky),
        quarantined=quarantined_tests(results, flaky, quarantine),
        regressions=tuple(regressions),
        phases=tuple(phases),
        baseline_id=baseline_run.id if baseline_run else None,
        gate=gate,
        reasons=tuple(reasons),
        top=plan.validate.top,
    )


def _from_history(
    plan: Plan, history: History, run: Run
) -> tuple[dict[str, Measurement], dict[str, str]]:
    """The KPIs the history itself measures: `mtbf`, over the full runs of the run's
    branch up to it."""
    spec = kpi_specs(plan).get("mtbf")
    if spec is None or spec.source:
        return {}, {}
    recent = [
        r
        for r in history.runs(project=plan.name, limit=2000)
        if r.id <= run.id
        and r.kind in FULL_RUN_KINDS
        and not r.partial
        and r.branch == run.branch
        and r.status in ("passed", "failed", "error")
    ]
    value, why = mean_time_between_failures(recent)
    if value is None:
        return {}, {"mtbf": why}
    return {"mtbf": Measurement("mtbf", value, "s", "history")}, {}


def _settled(
    fixed: list[Issue], open_issues: list[Issue], previous: Mapping[str, Issue], partial: bool
) -> list[Issue]:
    """The issues this run fixes. Triage fixes test issues; a KPI's own issue (missed
    target, regression, change point: no tests of its own) is fixed by a full run that no
    longer finds it, and never by triage in a run that does."""
    found = {i.fingerprint for i in open_issues}
    settled = [i for i in fixed if i.fingerprint not in found]
    if not partial:
        settled += [
            replace(i, state="fixed")
            for fp, i in previous.items()
            if fp not in found and i.state != "fixed" and not i.tests and i.kind in KPI_KINDS
        ]
    return settled


def _series_issues(
    plan: Plan,
    history: History,
    run: Run,
    verdicts: Sequence[KpiVerdict],
    previous: Mapping[str, Issue],
) -> list[Issue]:
    """What each KPI's series says, over its recent full runs on this branch: a change of
    level for the worse (validate/changepoints.py), baseline or not, and a breach forecast
    within the plan's horizon for a KPI still on target (validate/forecast.py)."""
    earlier = [
        r
        for r in reversed(history.kpi_window(plan.name, before=run.id, limit=SHIFT_RUNS))
        if r[0].branch == run.branch
    ]
    found = []
    for verdict in verdicts:
        if verdict.value is None:
            continue
        runs = [(r, values[verdict.name]) for r, values in earlier if verdict.name in values]
        runs.append((run, verdict.value))
        commits = {r.id: r.commit for r, _ in runs}
        series = [(r.id, value) for r, value in runs]
        shifts = change_points(series)  # once: the issue and the forecast's start both need them
        shift = shift_issue(verdict.name, verdict.unit, verdict.target, series, commits, shifts)
        since = shifts[-1].index if shifts else 0
        ahead = breach_forecast(verdict, runs, since, plan.validate.forecast_days)
        for issue in (shift, ahead):
            if issue is not None:
                found.append(carry_over(issue, previous.get(issue.fingerprint), run.id))
    return found


def _trends(
    plan: Plan, history: History, run: Run, measured: Mapping[str, Measurement]
) -> dict[str, Trend]:
    """Each KPI with a trend target, judged on its values over the target's window: the
    earlier judged runs of the run's branch, and this run's value."""
    judged = {}
    for name, spec in kpi_specs(plan).items():
        target, current = spec.target, measured.get(name)
        if target is None or not target.trend or current is None:
            continue
        since = run.started - timedelta(seconds=target.window)
        series = history.kpi_series(plan.name, name, since, before=run.id, branch=run.branch)
        series.append((run.started, current.value))
        judged[name] = judge_trend(series, target, current.unit)
    return judged


def _noise(
    plan: Plan,
    history: History,
    run: Run,
    results: list[TestResult],
    baseline_run: Run | None,
    base_data: kpi_engine.RunData | None,
    base_measured: dict[str, Measurement] | None,
) -> tuple[dict[str, noise.Spread], Comparison | None]:
    """What judging against the baseline needs to tell a change from noise: each KPI's
    spread over comparable runs, and the suite's per-test times paired with the baseline's."""
    if baseline_run is None or base_data is None or base_measured is None or run.partial:
        return {}, None
    window = history.kpi_window(
        plan.name, before=run.id, limit=3 * noise.WINDOW_RUNS, measured=noise.TOTALS
    )
    base_values = {name: m.value for name, m in base_measured.items()}
    base_values.update({m.name: m.value for m in base_data.measurements if m.name in noise.TOTALS})
    spreads = noise.history_spreads(window, baseline_run, base_values)
    spec = kpi_specs(plan).get("suite_duration")
    regression = spec.regression if spec is not None else None
    paired = None
    if regression is not None:
        paired = noise.compare_paired(
            noise.timed_tests(base_data.results),
            noise.timed_tests(results),
            min_effect=regression,
        )
    if paired is not None and regression is not None:
        name = noise.total_of(paired.method)
        totals = {m.name: m.value for m in history.measurements(run.id)}
        scale = noise.speed_scale(noise.timed_tests(base_data.results))
        paired = noise.within_history(
            paired,
            totals.get(name),
            spreads.get(name),
            min_effect=regression,
            scale=scale if name == "suite_work" else 1.0,
        )
        paired = noise.on_busier_machine(
            paired, totals.get("suite_others"), base_values.get("suite_others")
        )
    return spreads, paired


_SUITE_WIDE = {
    "test_pass_rate",
    "test_reliability",
    "critical_error_rate",
    "coverage",
    "line_coverage",
    "branch_coverage",
    "diff_coverage",
    "suite_duration",
}


def _gate(
    verdicts: list[KpiVerdict],
    issues: list[Issue],
    regressions: list[str],
    flaky: list[str],
    quarantine: list[str],
    tested: bool,
) -> tuple[bool, list[str]]:
    """Pass = every measured KPI on target, no regression, no critical issue; `tested`:
    the run has test results, or owes none (a partial run of scenarios alone)."""
    reasons = []
    for v in verdicts:
        if v.status == "fail":
            if v.regressed:
                reasons.append(f"{v.name} regressed against the baseline: {v.detail}")
            else:
                reasons.append(f"{v.name} misses its target {v.target}")
    if regressions:
        reasons.append(f"{len(regressions)} tests passed in the baseline and fail now")
    # a critical vulnerability is the plan's critical_vulnerabilities KPI to judge
    critical = [
        i
        for i in issues
        if i.severity == "critical" and i.state != "fixed" and i.kind != "vulnerability"
    ]
    if critical:
        noun = "issue is" if len(critical) == 1 else "issues are"
        reasons.append(f"{len(critical)} critical {noun} open")
    if not tested:
        reasons.append("no test results")
    return not reasons, reasons


def stored_verdict(plan: Plan, history: History, run: Run) -> Verdict:
    """The verdict as it was judged, read back from the history: KPIs, gate and issues are
    stored with the run; flaky tests, regressions and phases follow from those records.
    A run never judged is judged now, without saving anything."""
    if run.gate is None:
        return judge_run(plan, history, run, save=False)
    results = history.results(run.id)
    order = {name: i for i, name in enumerate(kpi_specs(plan))}
    kpis = sorted(history.kpi_values(run.id), key=lambda k: order.get(k.name, len(order)))
    linked = history.issues(plan.name, run.id)
    issues = rank([i for i in linked if i.state != "fixed"], top=None)
    flaky = flaky_tests(results)
    quarantine = plan.validate.quarantine
    baseline = history.baseline(plan.name)
    regressions: list[str] = []
    if baseline is not None and baseline.id != run.id:
        passed = {r.nodeid for r in history.results(baseline.id) if r.outcome == "passed"}
        regressions = regressed_tests(results, passed, flaky, quarantine)
    baseline_id = baseline.id if baseline is not None else None
    return Verdict(
        run=run,
        kpis=tuple(kpis),
        issues=tuple(issues),
        fixed=tuple(i for i in linked if i.state == "fixed"),
        flaky=tuple(flaky),
        quarantined=quarantined_tests(results, flaky, quarantine),
        regressions=tuple(regressions),
        phases=tuple(
            evaluate(
                plan,
                run_id=run.id,
                kpis=kpis,
                issues=issues,
                baseline_id=baseline_id,
                regressions=regressions,
                gate=run.gate,
            )
        ),
        baseline_id=baseline_id,
        gate=run.gate,
        reasons=run.reasons,
        top=plan.validate.top,
    )


def regressed_tests(
    results: list[TestResult], baseline_passed: set[str], flaky: list[str], quarantine: list[str]
) -> list[str]:
    """Tests that passed in the baseline and fail now: not flaky ones, not quarantined."""
    return sorted(
        r.nodeid
        for r in results
        if r.outcome in BAD_OUTCOMES
        and r.nodeid in baseline_passed
        and r.nodeid not in flaky
        and not is_quarantined(r.nodeid, quarantine)
    )


def quarantined_tests(
    results: list[TestResult], flaky: list[str], quarantine: list[str]
) -> tuple[str, ...]:
    """Failing or flaky tests the plan's quarantine keeps out of the gate."""
    return tuple(
        r.nodeid
        for r in results
        if (r.outcome in BAD_OUTCOMES or r.nodeid in flaky) and is_quarantined(r.nodeid, quarantine)
    )


def _breach_cause(
    verdict: KpiVerdict, files: list[FileCoverage], note: str | None = None
) -> str | None:
    if verdict.source != "coverage":  # the scenario that measured it is where it broke
        return verdict.source if verdict.source.startswith("scenario:") else None
    # coverage said it measured nothing (the tests import another copy of the package):
    # that, not the worst file's 0%, is the cause, and no test written would change it
    unmeasured = cause_from_note(note)
    if unmeasured:
        return unmeasured[:200]
    if not files:
        return None
    worst = min(files, key=lambda f: (f.percent, -f.statements))
    missing = f" (missing {worst.missing_lines})" if worst.missing_lines else ""
    return f"{worst.path} {worst.percent:.0f}%{missing}"[:200]


def artifacts_path(plan: Plan, run: Run) -> Path | None:
    return plan.root / run.artifacts if run.artifacts else None
