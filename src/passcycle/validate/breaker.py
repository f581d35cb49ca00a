"""Circuit breakers judged: what a scenario's breaker reads showed (scenarios/breaker.py)
against the plan's `opens` and `closes`. Each is a check of the scenario's steady state,
counted in `hypothesis_met` with the probes' checks, and each broken one is an issue with
the numbers: how long the breaker took, or what was read instead of open or closed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from passcycle.plan import Plan
from passcycle.records import Issue, Measurement, split_series
from passcycle.scenario_sections import ScenarioSection
from passcycle.targets import Target, format_value
from passcycle.validate.hypothesis import Check, check_issue

BREAKER = "breaker"  # the Check's probe


@dataclass
class _Seen:
    """One scenario's breaker measurements."""

    reads: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # phase: values
    unreadable: tuple[str, float] | None = None  # the commonest answer, how many reads
    open_time: float | None = None
    recover_time: float | None = None


def judge_breakers(plan: Plan, measurements: Iterable[Measurement]) -> list[Check]:
    """The checks of every scenario with a breaker that ran in this run."""
    seen: dict[str, _Seen] = {}
    for m in measurements:
        if not m.source.startswith("scenario:"):
            continue
        found = seen.setdefault(m.source.removeprefix("scenario:"), _Seen())
        base, labels = split_series(m.name)
        if base == "breaker_reads":
            found.reads.setdefault(labels["phase"], []).append((labels["value"], m.value))
        elif base == "breaker_unreadable":
            found.unreadable = (labels["answer"], m.value)
        elif base == "breaker_open_time":
            found.open_time = m.value
        elif base == "breaker_recover_time":
            found.recover_time = m.value
    checks = []
    for scenario in plan.model.scenarios:
        if scenario.breaker is not None and scenario.name in seen:
            checks.extend(_checks(scenario, seen[scenario.name]))
    return checks


def _checks(scenario: ScenarioSection, seen: _Seen) -> list[Check]:
    breaker = scenario.breaker
    assert breaker is not None
    name = scenario.name
    if not any(seen.reads.values()):
        answer, count = seen.unreadable or ("no read was answered", 0)
        how = f"cannot read the breaker: {answer} ({count:.0f} reads)"
        return [Check(name, BREAKER, "read", False, how)]
    said = f" on {breaker.source}"
    checks = []
    if breaker.opens is not None:
        if seen.open_time is None:
            reads = _reads(seen.reads.get("during", []), said, seen.unreadable)
            how = f"the breaker did not open within {_limit(breaker.opens)} ({reads})"
            checks.append(Check(name, BREAKER, "opens", False, how))
        else:
            how = f"the breaker opened {format_value(seen.open_time, 's')} after the faults"
            how += f" began (opens {breaker.opens.text})"
            checks.append(Check(name, BREAKER, "opens", breaker.opens.check(seen.open_time), how))
    # a breaker that never opened has nothing to close: the `opens` check says so
    if breaker.closes is not None and seen.open_time is not None:
        if seen.recover_time is None:
            reads = _reads(seen.reads.get("after", []), said, seen.unreadable)
            how = f"the breaker did not close within {_limit(breaker.closes)} ({reads})"
            checks.append(Check(name, BREAKER, "closes", False, how))
        else:
            back = seen.recover_time
            how = f"the breaker closed {format_value(back, 's')} after the faults ended"
            how += f" (closes {breaker.closes.text})"
            checks.append(Check(name, BREAKER, "closes", breaker.closes.check(back), how))
    return checks


def _limit(target: Target) -> str:
    return f"{target.value:g}s"


def _reads(values: list[tuple[str, float]], said: str, unreadable: tuple[str, float] | None) -> str:
    """`read 0 on organism_breaker_open{backend="model"} 52 times`, most read first."""
    ordered = sorted(values, key=lambda v: -v[1])
    parts = [f"{value}{said if i == 0 else ''} {count:.0f} times"
             for i, (value, count) in enumerate(ordered)]  # fmt: skip
    text = f"read {', '.join(parts)}" if parts else f"no read{said}"
    if unreadable is not None:
        text += f"; {unreadable[1]:.0f} reads found no value"
    return text


def breaker_issues(checks: Sequence[Check]) -> list[Issue]:
    """One issue per broken check: when (during the faults, after them), and the numbers."""
    issues = []
    for check in checks:
        if check.held:
            continue
        where = {"opens": f"during {check.scenario}", "closes": f"after {check.scenario}'s faults"}
        title = f"{where.get(check.phase, check.scenario)}: {check.how}"
        issues.append(check_issue(check, title, BREAKER))
    return issues
