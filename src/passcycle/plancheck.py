"""Plan-wide checks: the mistakes no single table can see, found when the plan loads.

A name used twice, a fault on an upstream nobody declared, a KPI target in a unit its KPI
is not measured in: each is refused before anything runs, so no run is left in the history
that the mistake decided (a `coverage = "> 2s"` used to be caught only after the suite had
run, leaving a `passed` run behind).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.targets import CRITERION, UNITS, Target, parse_target

if TYPE_CHECKING:
    from passcycle.plan import KpiSpec, PlanModel

_UPSTREAM = re.compile(r"\{upstream\.([^}]*)\}")
# each dimension as the messages name it: (what it is, its units, a target that fits it)
_SHOWN = {
    "percent": ("a percentage", "%", ">= 90%"),
    "time": ("a time", "ms, s, min or h", "< 2s"),
    "bytes": ("a size", "B, KB, MB or GB", "< 500MB"),
    "byte_rate": ("a growth rate", "MB/h, KB/s or the like", "< 10MB/h"),
    "rate": ("a rate", "/s", "> 100/s"),
    "number": ("a plain number", "no unit", "== 0"),
}


class Problem(NamedTuple):
    key: str  # where in the plan: "scenarios[1].name"
    message: str
    hint: str


def problems(model: PlanModel) -> Iterator[Problem]:
    """Every plan-wide mistake, in the order of the plan's sections."""
    yield from _kpis(model.kpis)
    yield from _criteria(model)
    yield from _twice("scenarios", [s.name for s in model.scenarios], "scenario")
    yield from _twice("drills", [d.name for d in model.drills], "drill")
    yield from _upstreams(model)


def _kpis(kpis: dict[str, KpiSpec]) -> Iterator[Problem]:
    for name, spec in kpis.items():
        builtin = BUILTIN_KPIS.get(name)
        if builtin is None and not spec.source:
            close = difflib.get_close_matches(name, BUILTIN_KPIS, n=1, cutoff=0.75)
            if close:  # a typo of a built-in name, far likelier than a custom KPI
                yield Problem(
                    f"kpis.{name}",
                    f"no built-in KPI {name!r}: did you mean {close[0]!r}?",
                    f"write {close[0]}, or give a custom KPI a source"
                    ' ("metric:NAME" or "command:...")',
                )
                continue
            yield Problem(
                f"kpis.{name}",
                "a custom KPI needs a source",
                'write source = "metric:NAME" or "command:..."; built-in KPIs are '
                + ", ".join(BUILTIN_KPIS),
            )
        elif spec.source and not spec.source.startswith(("metric:", "command:", "builtin:")):
            yield Problem(
                f"kpis.{name}.source",
                f"cannot read {spec.source!r}",
                'write "metric:NAME" or "command:COMMAND"',
            )
        elif builtin is not None and spec.target is not None and not _custom(spec):
            yield from _unit(f"kpis.{name}", name, spec.target, _unit_of(name, spec))


def _criteria(model: PlanModel) -> Iterator[Problem]:
    """A phase's `coverage >= 2s` is judged against the KPI's value just as its target is."""
    for number, phase in model.phases.items():
        for index, criterion in enumerate(phase.exit):
            match = CRITERION.match(criterion)
            if match is None or not match["target"] or match["name"] not in BUILTIN_KPIS:
                continue
            name = match["name"]
            spec = model.kpis.get(name)
            if spec is not None and _custom(spec):
                continue
            target = parse_target(match["target"])  # the phase model has read it already
            yield from _unit(f"phases.{number}.exit[{index}]", name, target, _unit_of(name, spec))


def _custom(spec: KpiSpec) -> bool:
    # a built-in name measured from the user's own source: its unit is that source's
    return spec.source.startswith(("metric:", "command:"))


def _unit_of(name: str, spec: KpiSpec | None) -> str:
    if spec is not None and spec.unit == "ratio":
        return "%"  # a 0..1 ratio is judged in percent (validate/kpis.py)
    return BUILTIN_KPIS[name].unit


def _unit(key: str, name: str, target: Target, unit: str) -> Iterator[Problem]:
    if target.fits(unit):
        return
    what, units, example = _SHOWN[UNITS.get(unit, ("number", 1.0))[0]]
    yield Problem(
        key,
        f"the target {target.text!r} is {_SHOWN[target.dimension][0]}, but {name} is {what}",
        f'write it in {units}, e.g. {name} = "{example}"',
    )


def _twice(section: str, names: Sequence[str], noun: str) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            yield Problem(
                f"{section}[{index}].name",
                f"{name!r} is used twice (also {section}[{first[name]}])",
                f"give each {noun} its own name: it names the {noun}'s results and files",
            )
        first.setdefault(name, index)


def _upstreams(model: PlanModel) -> Iterator[Problem]:
    have = ", ".join(sorted(model.upstreams)) or "none declared"
    for index, scenario in enumerate(model.scenarios):
        for number, fault in enumerate(scenario.faults):
            if fault.upstream not in model.upstreams:
                yield Problem(
                    f"scenarios[{index}].faults[{number}].upstream",
                    f"no upstream {fault.upstream!r} (upstreams: {have})",
                    f"declare [upstreams.{fault.upstream}] with its address or command",
                )
    if model.service is None:
        return
    command = model.service.argv
    places = [("service.command", text) for text in command]
    places += [(f"service.env.{key}", text) for key, text in model.service.env.items()]
    for key, text in places:
        for name in _UPSTREAM.findall(text):
            if name not in model.upstreams:
                yield Problem(
                    key,
                    f"{{upstream.{name}}} names no upstream (upstreams: {have})",
                    f"declare [upstreams.{name}], or fix the name in {{upstream.NAME}}",
                )
