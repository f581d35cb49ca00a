"""Steady-state hypotheses judged: what each probe saw in each phase of its scenario's faults
(scenarios/hypothesis.py) against the tolerance the plan gives it, the recovery after the
faults against the scenario's `recover`, the KPI `hypothesis_met` (the share of those
checks that held) and one issue per broken check saying which phase broke and how."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from passcycle.plan import Plan
from passcycle.records import Issue, Measurement, split_series
from passcycle.scenario_sections import ProbeSection, ScenarioSection
from passcycle.targets import format_value

CHECKED = ("before", "during", "after")


@dataclass(frozen=True, slots=True)
class Check:
    scenario: str
    probe: str
    phase: str  # "before", "during", "after" or "recovery"
    held: bool
    how: str  # what was seen, against what: "41% errors (tolerance 0%), p95 1.2s (< 300ms)"


def judge_hypotheses(plan: Plan, measurements: Iterable[Measurement]) -> list[Check]:
    """Every check of every scenario with a hypothesis that ran in this run."""
    seen: dict[tuple[str, str, str, str], float] = {}
    for m in measurements:
        base, labels = split_series(m.name)
        if base.startswith("hypothesis_") and "n" in labels:
            key = (labels.get("scenario", ""), labels["n"], labels.get("phase", ""), base)
            seen[key] = m.value
    ran = {scenario for scenario, _, _, _ in seen}
    checks = []
    for scenario in plan.model.scenarios:
        if scenario.name not in ran:
            continue
        for index, probe in enumerate(scenario.hypothesis):
            checks.extend(_checks(scenario, str(index), probe, seen))
    return checks


def _checks(
    scenario: ScenarioSection,
    n: str,
    probe: ProbeSection,
    seen: dict[tuple[str, str, str, str], float],
) -> list[Check]:
    checks = []
    has_after = bool(scenario.faults) and scenario.fault_window()[1] < scenario.duration
    for phase in CHECKED:
        if phase == "during" and (not probe.during or not scenario.faults):
            continue
        if phase == "after" and not has_after:
            continue
        key = (scenario.name, n, phase)
        answers = int(seen.get((*key, "hypothesis_answers"), 0))
        if not answers:
            checks.append(Check(scenario.name, probe.label, phase, False, "no answer to judge"))
            continue
        errors = seen.get((*key, "hypothesis_errors"), 0.0)
        p95 = seen.get((*key, "hypothesis_p95"))
        late = int(seen.get((*key, "hypothesis_timeouts"), 0))
        held = errors <= 100 * probe.errors + 1e-9
        seen_how = [f"{errors:.0f}% errors (tolerance {100 * probe.errors:.0f}%)"]
        waited = format_value(probe.timeout, "s")
        if late:  # not errors of the service's: it did not answer in time
            seen_how.append(f"{late} of them unanswered within {waited}")
        if probe.p95 is not None and p95 is not None:
            held = held and probe.p95.check(p95)
            # an unanswered probe is timed at the timeout: the true p95 is more
            over = "over " if late and p95 >= probe.timeout else ""
            seen_how.append(
                f"p95 {over}{format_value(min(p95, probe.timeout), 's')} ({probe.p95.text})"
            )
        seen_how.append(f"{answers} answers")
        checks.append(Check(scenario.name, probe.label, phase, held, ", ".join(seen_how)))
    if scenario.recover is not None:
        back = seen.get((scenario.name, n, "", "hypothesis_recovery"))
        if back is None:
            how = f"not back within tolerance by the scenario's end (recover {scenario.recover})"
            checks.append(Check(scenario.name, probe.label, "recovery", False, how))
        else:
            held = scenario.recover.check(back)
            how = f"back within tolerance {format_value(back, 's')} after the faults"
            how += f" ({scenario.recover.text})"
            checks.append(Check(scenario.name, probe.label, "recovery", held, how))
    return checks


def hypothesis_kpi(checks: Sequence[Check]) -> Measurement | None:
    """`hypothesis_met`: the share of the run's checks that held."""
    if not checks:
        return None
    held = 100.0 * sum(c.held for c in checks) / len(checks)
    return Measurement("hypothesis_met", held, "%", "scenario:hypothesis")


def hypothesis_issues(checks: Sequence[Check]) -> list[Issue]:
    """One issue per broken check: the scenario, the probe, the phase and the numbers."""
    issues = []
    for check in checks:
        if check.held:
            continue
        where = (
            f"after {check.scenario}'s faults"
            if check.phase == "recovery"
            else f"{check.phase} {check.scenario}"
        )
        title = f"steady state broken {where}: {check.probe} {check.how}"
        issues.append(check_issue(check, title, "hypothesis"))
    return issues


def check_issue(check: Check, title: str, topic: str) -> Issue:
    """The issue of a broken check, of severity high; `topic` keeps its fingerprint apart
    from other kinds of checks'."""
    key = f"{topic}\n{check.scenario}\n{check.probe}\n{check.phase}"
    return Issue(
        fingerprint=hashlib.sha1(key.encode()).hexdigest()[:16],
        title=title,
        kind="breach",
        severity="high",
        root_cause=f"scenario:{check.scenario}",
        message=check.how,
    )
