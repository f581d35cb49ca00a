"""One line per scenario of a run, read back from its measurements: what the terminal, the
HTML report and Markdown show under "scenarios", faults included."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from passcycle.records import Measurement, split_series

PHASES = ("before", "during", "after")
PHASED = ("requests", "error_rate", "p95_response_time")  # a scenario's requests by phase


@dataclass(frozen=True, slots=True)
class PhaseFigures:
    """A fault scenario's requests before, during or after its faults."""

    phase: str
    requests: float | None = None
    error_rate: float | None = None  # %
    p95: float | None = None  # s


@dataclass(frozen=True, slots=True)
class FaultFigures:
    number: str
    upstream: str
    kind: str
    hits: float


@dataclass(frozen=True, slots=True)
class ProbePhase:
    """What a steady-state probe saw in one phase of its scenario's faults."""

    phase: str  # "before", "during" or "after"
    answers: float
    errors: float | None = None  # % outside `expect`, the unanswered included
    p95: float | None = None  # s
    timeouts: float | None = None  # probes not answered within the probe's timeout
    judged: bool = True  # False: "during" of a probe with `during = false`


@dataclass(frozen=True, slots=True)
class ProbeFigures:
    """A steady-state probe (a scenario's `hypothesis`): its answers phase by phase, and
    the seconds from the faults' end to back within tolerance for good (None: never)."""

    probe: str
    phases: tuple[ProbePhase, ...] = ()
    recovery: float | None = None


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    name: str
    requests: float | None = None
    users: float | None = None
    throughput: float | None = None  # /s
    p95: float | None = None  # s
    error_rate: float | None = None  # %
    faults: tuple[FaultFigures, ...] = ()
    phases: tuple[PhaseFigures, ...] = ()
    p50: float | None = None  # s
    p99: float | None = None  # s
    generator_cpu: float | None = None  # % of one core, the busiest Locust process
    generator_demand: float | None = None  # % of one core it wanted: CPU + run-queue wait
    generator_wait: float | None = None  # % of what it wanted spent waiting for a core
    generator_processes: float | None = None  # Locust processes that generated the load
    # an open model (rate): how late the generator sent requests against the schedule, s
    schedule_lag_p99: float | None = None
    schedule_lag_max: float | None = None
    # its circuit breaker (docs/scenarios.md): s from the faults' start to read open, and
    # from their end to read closed again
    breaker_open_time: float | None = None
    breaker_recover_time: float | None = None
    hypothesis: tuple[ProbeFigures, ...] = ()  # its steady-state probes
    # its generator was the bottleneck (scenarios/saturation.py): its times read high, and a
    # latency KPI they would fail is not judged (validate/bound.py)
    generator_bound: bool = False
    # s: how late its event loop ran while requests flowed, the slowest Locust process's mean
    generator_lag: float | None = None


@dataclass(frozen=True, slots=True)
class DrillSummary:
    """A crash drill of a run: how long the service took to come back, what survived."""

    name: str
    recovery_time: float | None = None  # s
    data_survival: float | None = None  # %


def summarize_drills(measurements: Iterable[Measurement]) -> list[DrillSummary]:
    """Every drill of a run, in the order it ran; one that never recovered has no time."""
    found: dict[str, dict[str, float]] = {}
    for m in measurements:
        if m.source.startswith("drill:"):
            found.setdefault(m.source.removeprefix("drill:"), {})[m.name] = m.value
    return [
        DrillSummary(name, values.get("recovery_time"), values.get("data_survival"))
        for name, values in found.items()
    ]


def summarize(measurements: Iterable[Measurement]) -> list[ScenarioSummary]:
    """Every scenario of a run, in the order it ran, with its faults and phases."""
    totals: dict[str, dict[str, float]] = {}
    phases: dict[str, dict[str, dict[str, float]]] = {}
    faults: dict[str, list[FaultFigures]] = {}
    probes: dict[str, dict[tuple[str, str, str], dict[str, float]]] = {}
    for m in measurements:
        if not m.source.startswith("scenario:"):
            continue
        scenario = m.source.removeprefix("scenario:")
        base, labels = split_series(m.name)
        totals.setdefault(scenario, {})
        if not labels:
            totals[scenario][base] = m.value
        elif base.startswith("hypothesis_") and "n" in labels:
            key = (labels["n"], labels.get("probe", ""), labels.get("phase", ""))
            probes.setdefault(scenario, {}).setdefault(key, {})[base] = m.value
        elif "phase" in labels and base in PHASED:
            phases.setdefault(scenario, {}).setdefault(labels["phase"], {})[base] = m.value
        elif base == "fault_hits":
            faults.setdefault(scenario, []).append(
                FaultFigures(
                    labels.get("fault", ""),
                    labels.get("upstream", ""),
                    labels.get("kind", ""),
                    m.value,
                )
            )
    found = []
    for scenario, values in totals.items():
        by_phase = phases.get(scenario, {})
        found.append(
            ScenarioSummary(
                scenario,
                values.get("requests"),
                values.get("concurrent_users"),
                values.get("throughput"),
                values.get("p95_response_time"),
                values.get("error_rate"),
                tuple(faults.get(scenario, ())),
                tuple(
                    PhaseFigures(
                        p,
                        by_phase[p].get("requests"),
                        by_phase[p].get("error_rate"),
                        by_phase[p].get("p95_response_time"),
                    )
                    for p in PHASES
                    if p in by_phase
                ),
                values.get("p50_response_time"),
                values.get("p99_response_time"),
                values.get("generator_cpu"),
                values.get("generator_demand"),
                values.get("generator_wait"),
                values.get("generator_processes"),
                values.get("p99_schedule_lag"),
                values.get("max_schedule_lag"),
                values.get("breaker_open_time"),
                values.get("breaker_recover_time"),
                _probe_figures(probes.get(scenario, {})),
                bool(values.get("generator_bound")),
                values.get("generator_lag"),
            )
        )
    return found


def _probe_figures(
    seen: dict[tuple[str, str, str], dict[str, float]],
) -> tuple[ProbeFigures, ...]:
    """The probes of one scenario in the plan's order, from their `hypothesis_*` series."""
    found = []
    for n, probe in sorted({(n, probe) for n, probe, _ in seen}, key=lambda k: int(k[0] or 0)):
        phases = tuple(
            ProbePhase(
                phase,
                values.get("hypothesis_answers", 0.0),
                values.get("hypothesis_errors"),
                values.get("hypothesis_p95"),
                values.get("hypothesis_timeouts"),
                values.get("hypothesis_judged", 1.0) != 0,
            )
            for phase in PHASES
            if (values := seen.get((n, probe, phase))) is not None
        )
        recovery = seen.get((n, probe, ""), {}).get("hypothesis_recovery")
        found.append(ProbeFigures(probe, phases, recovery))
    return tuple(found)
