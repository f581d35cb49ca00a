"""Phases: the plan's exit criteria, each met or not, with the evidence."""

from __future__ import annotations

from collections.abc import Sequence

from passcycle.plan import Plan
from passcycle.records import Criterion, Issue, KpiVerdict, PhaseStatus
from passcycle.targets import CRITERION, format_value, is_trend, parse_target


def evaluate(
    plan: Plan,
    *,
    run_id: int,
    kpis: Sequence[KpiVerdict],
    issues: Sequence[Issue],
    baseline_id: int | None,
    regressions: Sequence[str],
    gate: bool,
) -> list[PhaseStatus]:
    by_name = {k.name: k for k in kpis}
    phases = []
    for number, phase in plan.phases.items():
        criteria = tuple(
            _criterion(text, run_id, by_name, issues, baseline_id, regressions, gate)
            for text in phase.exit
        )
        phases.append(PhaseStatus(number, phase.title or f"phase {number}", criteria))
    return phases


def _criterion(
    text: str,
    run_id: int,
    kpis: dict[str, KpiVerdict],
    issues: Sequence[Issue],
    baseline_id: int | None,
    regressions: Sequence[str],
    gate: bool,
) -> Criterion:
    keyword = text.strip().lower()
    if keyword == "baseline":
        if baseline_id is None:
            return Criterion(text, False, "no baseline set: passcycle baseline set")
        return Criterion(text, True, f"baseline is run {baseline_id}")
    if keyword == "no critical issues":
        critical = [i for i in issues if i.severity == "critical"]
        if critical:
            return Criterion(text, False, f"{len(critical)} critical in run {run_id}")
        return Criterion(text, True, f"none in run {run_id}")
    if keyword == "no regressions":
        regressed = [k.name for k in kpis.values() if k.regressed]
        if regressions or regressed:
            what = ([f"{len(regressions)} tests"] if regressions else []) + regressed
            return Criterion(text, False, "regressed: " + ", ".join(what))
        if baseline_id is None:
            return Criterion(text, False, "no baseline to compare with")
        return Criterion(text, True, f"none against run {baseline_id}")
    if keyword == "all kpis":
        missing = [k.name for k in kpis.values() if k.status != "pass"]
        if missing:
            return Criterion(text, False, "not on target: " + ", ".join(missing[:6]))
        return Criterion(text, True, f"all {len(kpis)} on target in run {run_id}")
    if keyword == "gate":
        return Criterion(text, gate, f"gate {'passed' if gate else 'failed'} in run {run_id}")
    match = CRITERION.match(text)
    assert match is not None  # the plan validated it
    name = match["name"]
    verdict = kpis.get(name)
    if verdict is None or verdict.value is None:
        why = f": {verdict.detail}" if verdict is not None and verdict.detail else ""
        return Criterion(text, False, f"{name} not measured{why}")
    shown = format_value(verdict.value, verdict.unit)
    if match["target"]:
        met = parse_target(match["target"]).check(verdict.value)
    else:
        met = verdict.status == "pass"
    # a trend's evidence is its slope, not its last value alone
    trend = f" ({verdict.detail})" if is_trend(verdict.target) else ""
    return Criterion(text, met, f"{name} {shown}{trend} in run {run_id}")
