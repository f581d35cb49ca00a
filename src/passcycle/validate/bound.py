"""Latency measured by a generator-bound scenario (scenarios/saturation.py): its load
generator's own queueing is in the response times, so they read high, never low."""

from __future__ import annotations

from dataclasses import replace

from passcycle.plan import Plan
from passcycle.records import KpiVerdict, Measurement, split_series
from passcycle.validate import kpis as kpi_engine
from passcycle.validate.kpis import kpi_specs

# what a scenario whose load generator was the bottleneck measured of the generator itself
GENERATOR_TIMED = frozenset(
    {"p50_response_time", "p95_response_time", "p99_response_time", "fault_p95_response_time"}
)


def bound_sources(measurements: list[Measurement]) -> set[str]:
    """The scenarios (as `scenario:NAME` sources) whose load generator was the bottleneck."""
    return {m.source for m in measurements if m.name == "generator_bound"}


def without_generator_bound(
    plan: Plan, data: kpi_engine.RunData
) -> tuple[kpi_engine.RunData, dict[str, str]]:
    """The run's measurements less the response times of generator-bound scenarios that
    would fail their target, and why, for each latency KPI. A time that meets an upper
    bound is kept: the service's own, under the generator's queueing, met it too."""
    bound = sorted(bound_sources(data.measurements))
    if not bound:
        return data, {}
    specs = kpi_specs(plan)

    def kept(m: Measurement) -> bool:
        name = split_series(m.name)[0]
        if m.source not in bound or name not in GENERATOR_TIMED:
            return True
        spec = specs.get(name)
        target = spec.target if spec is not None else None
        if target is None or target.trend or target.higher_is_better:
            return False
        return target.check(m.value)

    measurements = [m for m in data.measurements if kept(m)]
    names = ", ".join(repr(b.removeprefix("scenario:")) for b in bound)
    why = (
        f"not judged: generator-bound ({names}: the load generator was busy, starved of a core"
        " or behind its schedule, so response times are its own queueing); run with"
        " --workers N or on a quieter machine"
    )
    return replace(data, measurements=measurements), dict.fromkeys(GENERATOR_TIMED, why)


def mark_upper_bounds(
    verdicts: list[KpiVerdict], measurements: list[Measurement]
) -> list[KpiVerdict]:
    """A latency KPI passed on a generator-bound scenario's time says so: someone reading
    the KPIs alone should know the value is an upper bound, not the service's own."""
    bound = bound_sources(measurements)
    if not bound:
        return verdicts
    said = "generator-bound: an upper bound, the service's own time is lower"
    return [
        replace(v, detail=f"{v.detail}; {said}" if v.detail else said)
        if v.status == "pass" and v.name in GENERATOR_TIMED and v.source in bound
        else v
        for v in verdicts
    ]
