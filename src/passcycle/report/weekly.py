"""The weekly review (the plan's Friday review): runs of the period, pass rate and KPIs
against the baseline, issues opened and fixed, slowest and flakiest tests, and what to do
first next week."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, Issue, PhaseStatus, Run, TestResult, pass_rate
from passcycle.report.base import (
    MIN_FLIPS,
    FlakyTest,
    first_line,
    fmt_kpi,
    kpi_status,
    latest_judged_run,
    stored_verdict,
)
from passcycle.report.markdown import md_code, md_text
from passcycle.store import History
from passcycle.targets import format_value, is_trend
from passcycle.validate.changepoints import Shift, change_points
from passcycle.validate.direction import improved
from passcycle.validate.flaky import classify, flip_count, flip_rate

TOP = 10  # slowest and flakiest tests listed
RUN_SCAN = 1000  # newest runs read to find the period's
SHIFT_CONTEXT = 30  # runs before the period read too: its first change needs runs before it


@dataclass(frozen=True, slots=True)
class KpiTrend:
    name: str
    unit: str
    target: str | None
    baseline: float | None
    first: float | None  # the first judged value of the period
    latest: float | None
    status: str  # of the latest judged run
    values: tuple[float | None, ...] = ()  # over the period, oldest first
    better: bool | None = None  # latest against the baseline
    detail: str = ""  # how the latest was judged: a trend's slope and interval

    @property
    def change(self) -> str:
        if self.baseline is None or self.latest is None:
            return "—"
        delta = self.latest - self.baseline
        sign = "+" if delta > 0 else ("-" if delta < 0 else "±")
        return sign + format_value(abs(delta), self.unit)


@dataclass(frozen=True, slots=True)
class WeeklyReview:
    plan_name: str
    start: datetime
    end: datetime
    runs: tuple[Run, ...]  # in the period, oldest first
    pass_rates: tuple[tuple[int, float | None], ...]  # per full run of the period
    baseline: Run | None
    baseline_pass_rate: float | None
    kpis: tuple[KpiTrend, ...]
    opened: tuple[Issue, ...]  # first seen in the period
    fixed: tuple[Issue, ...]  # declared fixed in the period and still fixed
    open_issues: tuple[Issue, ...]  # open now, most pressing first
    slowest: tuple[TestResult, ...]  # of the latest full run
    flakiest: tuple[FlakyTest, ...]
    priorities: tuple[str, ...]
    phase: PhaseStatus | None = None  # the current phase, as of the latest run
    latest: Run | None = None
    # open issues that came back after a fix, with how many times, most often first
    recurring: tuple[tuple[Issue, int], ...] = ()
    # (KPI, unit, change point) for each change of level at a run of the period
    shifts: tuple[tuple[str, str, Shift], ...] = ()
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def gates(self) -> tuple[int, int]:
        """(passed, failed) gates of the period's judged runs."""
        judged = [r.gate for r in self.runs if r.gate is not None]
        return sum(judged), len(judged) - sum(judged)

    @property
    def tests_run(self) -> int:
        return sum(sum(r.counts.values()) for r in self.runs)


def weekly_review(
    plan: Plan, history: History, since: timedelta = timedelta(days=7), now: datetime | None = None
) -> WeeklyReview:
    end = now or datetime.now(UTC)
    start = end - since
    scanned = history.runs(project=plan.name, limit=RUN_SCAN)
    runs = tuple(
        reversed([r for r in scanned if start <= r.started <= end and r.status != "running"])
    )
    ids = {r.id for r in runs}
    full = [r for r in runs if not r.partial and r.counts]
    baseline = history.baseline(plan.name)

    latest_run = next(
        (r for r in reversed(runs) if r.kind in ("run", "ci") and r.gate is not None), None
    )
    if latest_run is None and scanned:
        latest_run = latest_judged_run(history, plan.name)
    verdict = stored_verdict(plan, history, latest_run) if latest_run is not None else None

    # the period's runs and as many before: a change needs runs on both sides of it
    trend = history.kpi_trend(plan.name, limit_runs=max(len(runs), 1) + SHIFT_CONTEXT)
    kpis = []
    baseline_values = {}
    if baseline is not None:
        baseline_values = {k.name: k.value for k in history.kpi_values(baseline.id)}
    for k in verdict.kpis if verdict else ():
        values = tuple(v for rid, v in trend.get(k.name, ()) if rid in ids)
        known = [v for v in values if v is not None]
        base = k.baseline if k.baseline is not None else baseline_values.get(k.name)
        kpis.append(
            KpiTrend(
                k.name,
                k.unit,
                k.target,
                base,
                known[0] if known else None,
                k.value,
                kpi_status(k),
                values,
                improved(k.name, k.target, base, k.value),
                k.detail,
            )
        )

    all_issues = history.issues(plan.name)
    opened = tuple(i for i in all_issues if i.first_seen in ids)
    fixed_now = {i.fingerprint for i in all_issues if i.state == "fixed"}
    fixed: dict[str, Issue] = {}
    for run in runs:
        for issue in history.issues(plan.name, run.id, states=("fixed",)):
            if issue.fingerprint in fixed_now:
                fixed[issue.fingerprint] = issue
    open_issues = tuple(history.open_issues(plan.name))
    reopened: dict[str, int] = {}
    for fingerprint, _run, state, _tests in history.issue_sightings(plan.name, since=0):
        if state == "reopened":
            reopened[fingerprint] = reopened.get(fingerprint, 0) + 1
    recurring = tuple(
        sorted(
            ((i, reopened[i.fingerprint]) for i in open_issues if i.fingerprint in reopened),
            key=lambda pair: -pair[1],
        )
    )

    latest_full = full[-1] if full else None
    results = history.results(latest_full.id) if latest_full is not None else []
    slowest = tuple(sorted(results, key=lambda r: -r.duration)[:TOP])
    span = len([r for r in scanned if r.id >= min(ids, default=0)])
    flakiest = _flakiest(history, plan.name, ids, span, results)

    review = WeeklyReview(
        plan_name=plan.name,
        start=start,
        end=end,
        runs=runs,
        pass_rates=tuple((r.id, pass_rate(r.counts)) for r in full),
        baseline=baseline,
        baseline_pass_rate=pass_rate(baseline.counts) if baseline is not None else None,
        kpis=tuple(kpis),
        opened=opened,
        fixed=tuple(fixed.values()),
        open_issues=open_issues,
        recurring=recurring,
        shifts=tuple(
            (k.name, k.unit, shift)
            for k in kpis
            for shift in change_points([(r, v) for r, v in trend.get(k.name, ()) if v is not None])
            if shift.run_id in ids
        ),
        slowest=slowest,
        flakiest=flakiest,
        priorities=(),
        phase=verdict.current_phase if verdict else None,
        latest=latest_run,
    )
    return _with_priorities(review)


def _flakiest(
    history: History, project: str, ids: set[int], span: int, latest: list[TestResult]
) -> tuple[FlakyTest, ...]:
    """Tests whose verdict went back and forth over the period, and those the latest full
    run found flaky (passed and failed on one commit)."""
    if not ids:
        return ()
    outcomes = history.test_outcomes(None, project, limit_runs=max(span, 1))
    flaky_now = {
        r.nodeid: r.reruns for r in latest if r.reruns and classify(r.outcome, r.reruns) == "flaky"
    }
    found = []
    for nodeid, seen in outcomes.items():
        mine = tuple(o for rid, o in reversed(seen) if rid in ids)
        if flip_count(mine) >= MIN_FLIPS or nodeid in flaky_now:
            found.append(
                FlakyTest(
                    nodeid, flip_rate(mine), mine, flaky_now.get(nodeid, ()), nodeid in flaky_now
                )
            )
    found.sort(key=lambda f: (-f.flip_rate, not f.flaky_now, f.nodeid))
    return tuple(found[:TOP])


def _with_priorities(review: WeeklyReview) -> WeeklyReview:
    """What to do first next week: the most pressing open issues, KPIs off target, flaky
    tests, and the current phase's unmet exit criteria."""
    items = []
    for issue in [i for i in review.open_issues if i.severity in ("critical", "high")][:5]:
        count = len(issue.tests)
        spread = f" ({count} test{'s' if count != 1 else ''})" if count else ""
        items.append(f"fix {issue.severity} issue: {first_line(issue.title, 140)}{spread}")
    for k in review.kpis:
        if k.status == "regressed":
            items.append(f"{k.name} regressed against the baseline: {fmt_kpi(k.latest, k.unit)}")
        elif k.status == "fail":
            items.append(f"bring {k.name} from {fmt_kpi(k.latest, k.unit)} to {k.target}")
    for f in review.flakiest[:3]:
        if f.flip_rate >= 0.25:
            items.append(
                f"stabilise or quarantine {first_line(f.nodeid, 120)}"
                f" (verdict flipped in {f.flip_rate:.0%} of its runs)"
            )
    if review.baseline is None:
        items.append("mark a good run as the baseline, so trends and regressions have a reference")
    if review.phase is not None:
        for c in review.phase.criteria:
            if not c.met:
                items.append(f"phase {review.phase.number} exit: {c.text} ({c.evidence})")
    if not review.runs:
        items.insert(0, "no runs in the period: run the suite (passcycle run) at least daily")
    return replace(review, priorities=tuple(items))


# --- rendering ----------------------------------------------------------------------------


def shift_text(shift: Shift, unit: str) -> str:
    """ "rose 18% at run 41 (200ms → 236ms), p=0.002" """
    verb = "rose" if shift.after > shift.before else "fell"
    return (
        f"{verb} {shift.size} at run {shift.run_id}"
        f" ({format_value(shift.before, unit)} → {format_value(shift.after, unit)}),"
        f" {shift.p_text}"
    )


def weekly_markdown(review: WeeklyReview) -> str:
    passed, failed = review.gates
    rates = [rate for _, rate in review.pass_rates if rate is not None]
    lines = [
        f"## Weekly review — {md_text(review.plan_name, 60)}",
        "",
        f"{review.start:%Y-%m-%d} to {review.end:%Y-%m-%d} · {len(review.runs)} runs"
        f" · gate passed {passed}, failed {failed} · {review.tests_run} test results",
        "",
        "### Pass rate",
        "",
    ]
    if rates:
        base = review.baseline_pass_rate
        lines.append(
            f"first {rates[0]:.1f}% → latest {rates[-1]:.1f}%"
            f" (best {max(rates):.1f}%, worst {min(rates):.1f}%)"
            + (f" · baseline {base:.1f}%" if base is not None else " · no baseline")
        )
    else:
        lines.append("no full runs in the period")
    if review.kpis:
        lines += [
            "",
            "### KPIs against the baseline",
            "",
            "| KPI | target | baseline | start of period | latest | change | status |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in review.kpis:
            trend = {True: " 📈", False: " 📉"}.get(k.better, "") if k.better is not None else ""
            lines.append(
                f"| {md_text(k.name, 40)} | {md_code(k.target or '—', 30, cell=True)}"
                f" | {fmt_kpi(k.baseline, k.unit)} | {fmt_kpi(k.first, k.unit)}"
                f" | {fmt_kpi(k.latest, k.unit)} | {k.change}{trend} | {k.status} |"
            )
        # a trend target is judged on its slope: say which way, and how sure
        slopes = [
            f"- {md_text(k.name, 40)}: {md_text(k.detail, 200)}"
            for k in review.kpis
            if is_trend(k.target) and k.detail
        ]
        lines += ["", *slopes] if slopes else []
    opened, fixed, still = len(review.opened), len(review.fixed), len(review.open_issues)
    lines += ["", f"### Issues: {opened} opened, {fixed} fixed, {still} open", ""]
    for title, issues in (("Opened", review.opened), ("Fixed", review.fixed)):
        if issues:
            lines.append(f"**{title}:**")
            lines += [f"- {i.severity} · {md_text(i.title, 160)}" for i in issues[:TOP]]
            if len(issues) > TOP:
                lines.append(f"- … and {len(issues) - TOP} more")
            lines.append("")
    if review.recurring:
        lines.append("**Came back after a fix:**")
        lines += [
            f"- {i.severity} · {md_text(i.title, 160)} — reopened"
            f" {'once' if n == 1 else f'{n} times'}"
            for i, n in review.recurring[:TOP]
        ]
        lines.append("")
    if review.shifts:
        lines += ["### Change points", ""]
        lines += [
            f"- {md_text(name, 40)} {shift_text(shift, unit)}"
            for name, unit, shift in review.shifts[:TOP]
        ]
        lines.append("")
    if review.slowest:
        lines += ["### Slowest tests", "", "| test | duration |", "|---|---|"]
        lines += [
            f"| {md_code(r.nodeid, 120, cell=True)} | {format_value(r.duration, 's')} |"
            for r in review.slowest
        ]
        lines.append("")
    if review.flakiest:
        lines += ["### Flakiest tests", "", "| test | flip rate | runs |", "|---|---|---|"]
        lines += [
            f"| {md_code(f.nodeid, 120, cell=True)} | {f.flip_rate:.0%} | {len(f.outcomes)} |"
            for f in review.flakiest
        ]
        lines.append("")
    lines += ["### Priorities for next week", ""]
    lines += [f"{n}. {md_text(item, 300)}" for n, item in enumerate(review.priorities, 1)] or [
        "nothing pressing: every KPI on target and no critical or high issue open"
    ]
    return "\n".join(lines) + "\n"


def weekly_html(review: WeeklyReview) -> str:
    from passcycle.report.html import render_template, sparkline

    sparks = {k.name: sparkline(k.values, k.unit) for k in review.kpis}
    bad = sum(1 for r in review.slowest if r.outcome in BAD_OUTCOMES)
    return render_template(
        "weekly.html.j2", review=review, sparks=sparks, slow_failing=bad, shift_text=shift_text
    )
