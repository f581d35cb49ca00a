"""The scenarios of a run: check the targets, start the service, run each scenario under
sampling and health probes, read the metrics, stop everything, return measurements.

Measurements per scenario (source "scenario:NAME"): p50/p95/p99_response_time (s; p95
carries the response-time sample), error_rate (%), throughput (/s), requests,
concurrent_users, generator_cpu (% of one core), generator_processes (Locust's); with a
service passcycle started: memory_rss (B, peak), cpu_utilization (%, mean),
cpu_utilization_peak; with a health path: uptime (%). Per step the same latency, error
and throughput figures, labelled `p95_response_time{scenario="NAME",step="STEP"}`. The
metrics endpoint adds one measurement per series (source "metric:NAME"). An open model
(`rate`) times requests from their intended starts and adds p99_schedule_lag and
max_schedule_lag (s): how late the generator itself sent them.

A scenario with faults adds, per phase (before, during, after the faults), requests,
error_rate and p95_response_time labelled `{scenario="NAME",phase="during"}`; the KPIs
fault_error_rate and fault_p95_response_time (the "during" figures); and per fault
`fault_hits{scenario=...,upstream=...,kind=...,fault="N"}`, the requests it broke.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passcycle.errors import PlanError, RunError
from passcycle.records import Measurement, TimelinePoint
from passcycle.scenario_sections import ScenarioSection, ServiceSection, UpstreamSection
from passcycle.scenarios.breaker import BreakerWatch, breaker_measurements
from passcycle.scenarios.faults import FaultHits
from passcycle.scenarios.hypothesis import HypothesisProbe, hypothesis_measurements
from passcycle.scenarios.load import (
    LoadProgress,
    LoadResult,
    LoadSpec,
    RequestStats,
    run_load,
    started_file,
)
from passcycle.scenarios.locustgen import write_locustfiles
from passcycle.scenarios.polling import Poller
from passcycle.scenarios.probes import HealthProbe, MetricsSnapshot, metric_measurements
from passcycle.scenarios.probes import read_metrics as read_metrics_url
from passcycle.scenarios.safety import check_allow_hosts, check_target
from passcycle.scenarios.sampling import TreeSampler, TreeSamples
from passcycle.scenarios.service import Service
from passcycle.scenarios.upstreams import Upstreams

ScenarioProgress = LoadProgress


@dataclass(frozen=True)
class ScenarioOutcome:
    """What the scenarios of a run produced."""

    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings to show: saturation, caps, ...
    results: list[LoadResult] = field(default_factory=list)
    service_log: Path | None = None
    service_url: str = ""  # where the load went (the port passcycle chose)

    @property
    def timelines(self) -> dict[str, tuple[TimelinePoint, ...]]:
        """Each scenario that ran, second by second."""
        return {r.scenario: r.timeline for r in self.results}


class ScenarioError(RunError):
    """A scenario could not finish (the service died, a step is wrong); `outcome` holds
    what was measured before it stopped."""

    def __init__(self, error: RunError, outcome: ScenarioOutcome) -> None:
        super().__init__(error.message, error.hint)
        self.outcome = outcome


def run_scenarios(
    plan_service: ServiceSection | None,
    scenarios: Sequence[ScenarioSection],
    root: Path,
    artifacts: Path,
    *,
    workers: int | Mapping[str, int] = 0,
    remote_workers: int = 0,
    master_bind: str = "127.0.0.1",
    master_port: int = 0,
    on_progress: Callable[[LoadProgress], None] | None = None,
    upstreams: Mapping[str, UpstreamSection] | None = None,
) -> ScenarioOutcome:
    """Run every scenario against the plan's service; the service, its upstreams and
    Locust are stopped whatever happens (Ctrl-C included). `workers` Locust workers run
    on this machine (a mapping: per scenario name, 0 for one not named); `remote_workers`
    more are awaited on `master_bind`:`master_port` (docs/scenarios.md). Each upstream
    gets a fault proxy; the service reaches it at `{upstream.NAME}`, and a scenario's
    faults are injected there.

    Raises PlanError (exit 2) for a target load may not go to, before any traffic;
    RunError (exit 3) when the service or a scenario fails: ScenarioError, carrying what
    was measured, once scenarios have started."""
    if not scenarios:
        return ScenarioOutcome()
    service_section = plan_service or ServiceSection()
    upstreams = dict(upstreams or {})
    local = {
        s.name: workers.get(s.name, 0) if isinstance(workers, Mapping) else workers
        for s in scenarios
    }
    preflight(service_section, scenarios, root, min(local.values()), remote_workers, upstreams)
    artifacts.mkdir(parents=True, exist_ok=True)
    measurements: list[Measurement] = []
    notes: list[str] = []
    results: list[LoadResult] = []

    def outcome() -> ScenarioOutcome:
        log = artifacts / "service.log"
        return ScenarioOutcome(
            list(measurements),
            list(notes),
            list(results),
            log if log.exists() else None,
            service.url,
        )

    service = Service(service_section, root, artifacts)
    dependencies = Upstreams(upstreams, root, artifacts, service_section.allow_hosts)
    try:
        dependencies.start()
        service.section = dependencies.resolve(service_section)
        if service_section.command or service_section.url:
            service.start()
        before = _read_metrics(service)
        for scenario in scenarios:
            host = (scenario.host or service.url).rstrip("/")
            allowed = [_host(host), _host(service.url), *service_section.allow_hosts]
            out = artifacts / "scenarios" / scenario.name
            spec = LoadSpec(
                scenario,
                host,
                write_locustfiles(
                    scenario,
                    out,
                    root=root,
                    allowed_hosts=[h for h in allowed if h],
                    processes=max(1, local[scenario.name] + remote_workers),
                ),
                out,
                workers=local[scenario.name],
                remote_workers=remote_workers,
                master_bind=master_bind,
                # remote workers need a port known in advance: Locust's own default
                master_port=master_port or (5557 if remote_workers else 0),
            )
            try:
                result, samples, uptime, hits, pollers = _one(
                    spec, service, on_progress, dependencies
                )
            except RunError as exc:
                raise ScenarioError(exc, outcome()) from None
            results.append(result)
            notes.extend(result.warnings)
            measurements.extend(scenario_measurements(result, samples, uptime))
            probes = [p for p in pollers if isinstance(p, HypothesisProbe)]
            measurements.extend(hypothesis_measurements(scenario, probes))
            for watch in (p for p in pollers if isinstance(p, BreakerWatch)):
                measurements.extend(breaker_measurements(scenario, watch))
            found, said = fault_measurements(result, hits)
            measurements.extend(found)
            notes.extend(said)
            if service.crashed():
                error = service.crash_error(scenario.name, result.elapsed)
                raise ScenarioError(error, outcome())
        measurements.extend(metric_measurements(before, _read_metrics(service)))
    finally:
        service.stop()
        dependencies.stop()
    return outcome()


def preflight(
    service: ServiceSection,
    scenarios: Sequence[ScenarioSection],
    root: Path,
    workers: int,
    remote_workers: int,
    upstreams: Mapping[str, UpstreamSection] | None = None,
) -> None:
    """Everything that can be refused is refused here, before a process starts."""
    if importlib.util.find_spec("locust") is None:
        raise RunError(
            "scenarios need Locust, which is not installed",
            hint="pip install 'passcycle[load]'",
        )
    if workers < 0 or remote_workers < 0:
        raise PlanError("--workers: give a number >= 0")
    check_allow_hosts(service.allow_hosts)
    if service.url:
        check_target(service.url, service.allow_hosts, "service.url")
    names: set[str] = set()
    for index, scenario in enumerate(scenarios):
        where = f"scenarios[{index}] ({scenario.name})"
        if scenario.name in names:
            raise PlanError(f"{where}: two scenarios are named {scenario.name!r}")
        names.add(scenario.name)
        if scenario.host:
            check_target(scenario.host, service.allow_hosts, f"{where}.host")
        elif not (service.command or service.url):
            raise PlanError(
                f"{where}: no target for the load",
                hint="declare [service] with a command (or url), or give the scenario a host",
            )
        if scenario.locustfile and not (root / scenario.locustfile).is_file():
            raise PlanError(f"{where}.locustfile: no such file {scenario.locustfile!r}")
        for number, fault in enumerate(scenario.faults):
            if fault.upstream not in (upstreams or {}):
                raise PlanError(
                    f"{where}.faults[{number}]: no upstream {fault.upstream!r}",
                    hint=f"declare [upstreams.{fault.upstream}] with its address or command",
                )
    for name, upstream in (upstreams or {}).items():
        if upstream.address:
            check_target(f"http://{upstream.address}", service.allow_hosts, f"upstreams.{name}")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


def _read_metrics(service: Service) -> MetricsSnapshot:
    if not service.section.metrics or not service.url:
        return MetricsSnapshot()
    return read_metrics_url(service.endpoint(service.section.metrics))


def _one(
    spec: LoadSpec,
    service: Service,
    on_progress: Callable[[LoadProgress], None] | None,
    dependencies: Upstreams,
) -> tuple[LoadResult, TreeSamples | None, float | None, list[FaultHits], list[Poller[Any]]]:
    section = service.section
    sampler = TreeSampler(service.pid, section.sample_interval) if service.pid else None
    probe = None
    if section.health and service.url:
        probe = HealthProbe(service.endpoint(section.health), section.probe_interval)
    faulted = {f.upstream for f in spec.scenario.faults}
    clock = _StartClock(started_file(spec))
    hits: list[FaultHits] = []
    # the hypothesis' probes and the breaker's reads: questions passcycle asks itself
    pollers: list[Poller[Any]] = [
        HypothesisProbe(p, spec.host, clock) for p in spec.scenario.hypothesis
    ]
    if spec.scenario.breaker is not None:
        pollers.append(BreakerWatch(spec.scenario.breaker, spec.host, clock, dependencies.fill))
    try:
        for name in sorted(faulted):
            chosen = [f for f in spec.scenario.faults if f.upstream == name]
            dependencies.proxies[name].arm(chosen, clock)
        if sampler is not None:
            sampler.start()
        if probe is not None:
            probe.start()
        for poller in pollers:
            poller.start()
        result = run_load(spec, on_progress=on_progress, should_stop=service.crashed)
    finally:
        for poller in pollers:
            poller.stop()
        if probe is not None:
            probe.stop()
        if sampler is not None:
            sampler.stop()
        for name in sorted(faulted):
            hits.extend(dependencies.proxies[name].disarm())
    order = {id(f): i for i, f in enumerate(spec.scenario.faults)}
    hits.sort(key=lambda h: order.get(id(h.fault), 0))
    return (
        result,
        sampler.samples if sampler else None,
        probe.uptime if probe else None,
        hits,
        pollers,
    )


class _StartClock:
    """When Locust started the scenario's test (epoch seconds), read once the harness has
    written it; the fault proxies time their schedule from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start: float | None = None

    def __call__(self) -> float | None:
        if self.start is None and self.path.exists():
            try:
                self.start = float(json.loads(self.path.read_text())["t"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
        return self.start


def fault_measurements(
    result: LoadResult, hits: Sequence[FaultHits]
) -> tuple[list[Measurement], list[str]]:
    """What a scenario's faults did, and what the service did while they were on."""
    if not hits:
        return [], []
    source = f"scenario:{result.scenario}"
    scenario = _quote(result.scenario)
    found: list[Measurement] = []
    notes: list[str] = []
    for phase, stats in result.phases.items():
        label = f'{{scenario="{scenario}",phase="{phase}"}}'
        found.append(Measurement(f"requests{label}", float(stats.requests), "", source))
        if stats.requests:
            found.append(Measurement(f"error_rate{label}", stats.error_rate, "%", source))
        if stats.p95 is not None:
            found.append(Measurement(f"p95_response_time{label}", stats.p95, "s", source))
    during = result.phases.get("during")
    if during is None or not during.requests:
        notes.append(
            f"scenario {result.scenario!r}: no request was made while its faults were on;"
            " nothing shows how the service bears them"
        )
    else:
        found.append(Measurement("fault_error_rate", during.error_rate, "%", source))
        if during.p95 is not None:
            found.append(
                Measurement("fault_p95_response_time", during.p95, "s", source, during.samples)
            )
    for number, hit in enumerate(hits, start=1):
        fault = hit.fault
        label = (
            f'{{scenario="{scenario}",upstream="{_quote(fault.upstream)}",'
            f'kind="{fault.kind}",fault="{number}"}}'
        )
        found.append(Measurement(f"fault_hits{label}", float(hit.hits), "", source))
        if not hit.hits and fault.kind != "down":
            notes.append(
                f"scenario {result.scenario!r}: fault {number} ({fault.describe()}) met no"
                f" request: does the service call {fault.upstream!r} during the scenario?"
            )
    return found, notes


def scenario_measurements(
    result: LoadResult, samples: TreeSamples | None, uptime: float | None
) -> list[Measurement]:
    """The measurements of one scenario, named as the KPI catalogue names them."""
    source = f"scenario:{result.scenario}"
    total = result.total
    found = [*_latency(total, source, "", result.samples)]
    found.append(Measurement("requests", float(total.requests), "", source))
    found.append(Measurement("concurrent_users", float(result.users_sustained), "", source))
    found.append(Measurement("generator_cpu", result.generator_cpu, "%", source))
    # what the next run's choice of processes starts from (scenarios/generator.py)
    found.append(Measurement("generator_processes", float(result.processes), "", source))
    if result.saturated:  # its latency is the generator's queueing: validate leaves it out
        found.append(Measurement("generator_bound", 1.0, "", source))
    if result.schedule is not None:  # an open model: how late the generator sent requests
        lag = result.schedule.lag
        found.append(Measurement("p99_schedule_lag", lag.p99, "s", source))
        found.append(Measurement("max_schedule_lag", lag.max, "s", source))
    if result.generator_lag:
        found.append(Measurement("generator_lag", result.generator_lag, "s", source))
    if result.generator_demand:  # where the kernel keeps schedstat
        found.append(Measurement("generator_demand", result.generator_demand, "%", source))
        found.append(Measurement("generator_wait", result.generator_wait, "%", source))
    for step in result.steps:
        label = f'{{scenario="{_quote(result.scenario)}",step="{_quote(step.name)}"}}'
        found.extend(_latency(step, source, label, ()))
    if samples is not None:
        found.extend(samples.measurements(source))
    if uptime is not None:
        found.append(Measurement("uptime", uptime, "%", source))
    return found


def _latency(
    stats: RequestStats, source: str, label: str, samples: tuple[float, ...]
) -> Iterator[Measurement]:
    if label:  # the scenario's own total is written once, by the caller
        yield Measurement(f"requests{label}", float(stats.requests), "", source)
    for name, value in (("p50", stats.p50), ("p95", stats.p95), ("p99", stats.p99)):
        if value is not None:
            kept = samples if name == "p95" else ()
            yield Measurement(f"{name}_response_time{label}", value, "s", source, kept)
    if stats.requests:
        yield Measurement(f"error_rate{label}", stats.error_rate, "%", source)
        yield Measurement(f"throughput{label}", stats.throughput, "/s", source)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
