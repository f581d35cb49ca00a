"""The phase completion report: each exit criterion of a phase met or not, with its evidence,
what is still missing, and how the KPIs moved from the baseline to the latest run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from passcycle.errors import UsageError
from passcycle.plan import Plan
from passcycle.records import Criterion, Issue, Run, Verdict
from passcycle.refs import resolve_run
from passcycle.report.base import (
    fmt_kpi,
    kpi_status,
    latest_judged_run,
    stored_verdict,
)
from passcycle.report.markdown import md_code, md_text
from passcycle.store import History
from passcycle.targets import CRITERION, format_value
from passcycle.validate.direction import improved


@dataclass(frozen=True, slots=True)
class KpiChange:
    """One KPI from the baseline to the latest run."""

    name: str
    unit: str
    target: str | None
    baseline: float | None
    latest: float | None
    status: str  # of the latest run: pass, fail, regressed, not measured
    better: bool | None = None  # None: no baseline, no change or no direction

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.latest is None:
            return None
        return self.latest - self.baseline

    @property
    def delta_text(self) -> str:
        delta = self.delta
        if delta is None:
            return "—"
        sign = "+" if delta > 0 else ("-" if delta < 0 else "±")
        return sign + format_value(abs(delta), self.unit)

    @property
    def trend(self) -> str:
        if self.better is not None:
            return "improved" if self.better else "worse"
        return "unchanged" if self.delta == 0 else "—"


@dataclass(frozen=True, slots=True)
class CriterionStatus:
    criterion: Criterion
    missing: str | None  # what it still takes, when not met


@dataclass(frozen=True, slots=True)
class PhaseReport:
    plan_name: str
    number: int
    title: str
    run: Run  # the run whose verdict is the evidence
    criteria: tuple[CriterionStatus, ...]
    changes: tuple[KpiChange, ...]
    baseline: Run | None
    blockers: tuple[Issue, ...] = ()  # critical and high open issues
    phases: tuple[tuple[int, str, bool], ...] = ()  # every phase: number, title, complete
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def complete(self) -> bool:
        return all(c.criterion.met for c in self.criteria)

    @property
    def met(self) -> int:
        return sum(c.criterion.met for c in self.criteria)

    @property
    def missing(self) -> list[CriterionStatus]:
        return [c for c in self.criteria if not c.criterion.met]


def phase_report(
    plan: Plan, history: History, number: int, run: Run | int | str | None = None
) -> PhaseReport:
    """Phase `number` judged on `run` (default: the latest judged full run)."""
    phases = plan.phases
    if number not in phases:
        known = ", ".join(str(n) for n in phases) or "none"
        raise UsageError(
            f"the plan has no phase {number} (phases: {known})",
            hint="declare [phases.N] with exit = [...] in the plan; passcycle init writes four",
        )
    if run is None:
        run = latest_judged_run(history, plan.name)
    elif not isinstance(run, Run):
        run = resolve_run(history, run, plan.name)
    verdict = stored_verdict(plan, history, run)
    status = next(p for p in verdict.phases if p.number == number)
    baseline = history.baseline(plan.name)
    return PhaseReport(
        plan_name=plan.name,
        number=number,
        title=status.title,
        run=run,
        criteria=tuple(
            CriterionStatus(c, None if c.met else _missing(c, verdict)) for c in status.criteria
        ),
        changes=kpi_changes(verdict, history, baseline),
        baseline=baseline,
        blockers=tuple(i for i in verdict.issues if i.severity in ("critical", "high"))[:10],
        phases=tuple((p.number, p.title, p.complete) for p in verdict.phases),
    )


def kpi_changes(verdict: Verdict, history: History, baseline: Run | None) -> tuple[KpiChange, ...]:
    """Each KPI's baseline value (as judged against, else as stored for the baseline run)
    and its latest value."""
    stored = {}
    if baseline is not None and baseline.id != verdict.run.id:
        stored = {k.name: k.value for k in history.kpi_values(baseline.id)}
    changes = []
    for k in verdict.kpis:
        base = k.baseline if k.baseline is not None else stored.get(k.name)
        if baseline is not None and baseline.id == verdict.run.id:
            base = k.value
        changes.append(
            KpiChange(
                k.name,
                k.unit,
                k.target,
                base,
                k.value,
                kpi_status(k),
                improved(k.name, k.target, base, k.value),
            )
        )
    return tuple(changes)


def _missing(c: Criterion, verdict: Verdict) -> str:
    keyword = c.text.strip().lower()
    run = verdict.run.id
    if keyword == "baseline":
        return "no baseline yet: mark a good run as the baseline (passcycle baseline)"
    if keyword == "no critical issues":
        critical = [i.title for i in verdict.issues if i.severity == "critical"]
        return f"{len(critical)} critical open: " + "; ".join(critical[:3])
    if keyword == "gate":
        return "the gate failed: " + "; ".join(verdict.reasons[:3])
    if keyword in ("no regressions", "all kpis"):
        return c.evidence
    match = CRITERION.match(c.text)
    if match is None:
        return c.evidence
    name = match["name"]
    kpi = next((k for k in verdict.kpis if k.name == name), None)
    if kpi is None or kpi.value is None:
        if kpi is not None and kpi.detail:  # the plan measures it; it said why it could not
            return f"{name} is not measured in run {run}: {kpi.detail}"
        return f"{name} is not measured in run {run}: add what measures it to the plan"
    target = (match["target"] or kpi.target or "its target").strip()
    return f"{name} is {fmt_kpi(kpi.value, kpi.unit)} in run {run}; it needs {target}"


# --- rendering ----------------------------------------------------------------------------


def phase_markdown(report: PhaseReport) -> str:
    done = (
        "✅ complete"
        if report.complete
        else f"{report.met} of {len(report.criteria)} exit criteria met"
    )
    lines = [
        f"## Phase {report.number}: {md_text(report.title, 80)} — {done}",
        "",
        f"{md_text(report.plan_name, 60)} · evidence from run {report.run.id}"
        f" ({report.run.started:%Y-%m-%d %H:%M} UTC)"
        + (f" · baseline run {report.baseline.id}" if report.baseline else " · no baseline"),
        "",
        "### Exit criteria",
        "",
        "| | criterion | evidence |",
        "|---|---|---|",
    ]
    for c in report.criteria:
        mark = "✅" if c.criterion.met else "❌"
        text = md_code(c.criterion.text, 80, cell=True)
        lines.append(f"| {mark} | {text} | {md_text(c.criterion.evidence, 200)} |")
    if report.missing:
        lines += ["", "### What is missing", ""]
        lines += [
            f"- {md_code(c.criterion.text, 80)}: {md_text(c.missing, 300)}" for c in report.missing
        ]
    if report.changes:
        lines += [
            "",
            "### Against the baseline",
            "",
            "| KPI | target | baseline | latest | change | |",
            "|---|---|---|---|---|---|",
        ]
        for k in report.changes:
            lines.append(
                f"| {md_text(k.name, 40)} | {md_code(k.target or '—', 30, cell=True)}"
                f" | {fmt_kpi(k.baseline, k.unit)} | {fmt_kpi(k.latest, k.unit)}"
                f" | {k.delta_text} | {_TREND.get(k.trend, k.trend)} |"
            )
    if report.blockers:
        lines += ["", "### Blocking issues", ""]
        lines += [f"- **{i.severity}** {md_text(i.title, 200)}" for i in report.blockers]
    if len(report.phases) > 1:
        lines += ["", "### All phases", ""]
        lines += [
            f"- {'✅' if done else '⬜'} phase {n}: {md_text(title, 80)}"
            for n, title, done in report.phases
        ]
    return "\n".join(lines) + "\n"


_TREND = {"improved": "📈 improved", "worse": "📉 worse", "unchanged": "= unchanged"}


def phase_html(report: PhaseReport) -> str:
    from passcycle.report.html import render_template

    return render_template("phase.html.j2", report=report)
