"""Prometheus export: the history's latest KPIs, gate, runs and open issues, read on scrape."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from passcycle.catalogue import BUILTIN_KPIS
from passcycle.records import SEVERITIES, KpiVerdict
from passcycle.serve.board import Board
from passcycle.store import History
from passcycle.targets import UNITS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Prometheus' conventions: one metric per quantity, in base units, the unit in the name.
# A percentage is exported as a ratio (0-1), as `_ratio`; a count has no suffix.
_SUFFIX = {
    "percent": ("_ratio", 0.01),
    "time": ("_seconds", 1.0),
    "bytes": ("_bytes", 1.0),
    "rate": ("_per_second", 1.0),
    "byte_rate": ("_bytes_per_second", 1.0),
    "number": ("", 1.0),
}
_NOT_IN_NAMES = re.compile(r"[^a-zA-Z0-9_]")


def kpi_metric(name: str, unit: str) -> tuple[str, float]:
    """The metric a KPI is exported as, and the factor from its stored value to it:
    `test_pass_rate` (%) -> `passcycle_kpi_test_pass_rate_ratio`, x 0.01."""
    dimension, factor = UNITS.get(unit, ("number", 1.0))
    suffix, scale = _SUFFIX[dimension]
    base = _NOT_IN_NAMES.sub("_", name)
    if suffix and base.endswith(suffix):
        suffix = ""  # a project's KPI already named for its unit: `latency_seconds`
    return f"passcycle_kpi_{base}{suffix}", factor * scale


class HistoryCollector(Collector):
    """Reads the history on every scrape, so Grafana sees a run as soon as it is judged."""

    def __init__(self, history: History, project: str | None) -> None:
        self.history = history
        self.project = project

    def collect(self) -> Iterator[Metric]:
        values: dict[str, GaugeMetricFamily] = {}
        on_target = GaugeMetricFamily(
            "passcycle_target_met",
            "1 when the KPI met its target in the latest judged run, 0 when it missed it.",
            labels=["project", "kpi"],
        )
        gate = GaugeMetricFamily(
            "passcycle_gate_passed",
            "1 when the latest judged run passed the gate, 0 when it failed.",
            labels=["project"],
        )
        latest = GaugeMetricFamily(
            "passcycle_latest_run_id", "Id of the latest judged run.", labels=["project"]
        )
        finished = GaugeMetricFamily(
            "passcycle_latest_run_finished_timestamp_seconds",
            "When the latest judged run finished (Unix time).",
            labels=["project"],
        )
        issues = GaugeMetricFamily(
            "passcycle_open_issues",
            "Open issues of the latest full run, by severity.",
            labels=["project", "severity"],
        )
        runs = CounterMetricFamily(
            "passcycle_runs", "Runs recorded, by status.", labels=["project", "status"]
        )
        board = Board(self.history, self.project)
        for (project, status), count in sorted(board.status_counts().items()):
            runs.add_metric([project, status], count)
        for project in board.projects():
            one = Board(self.history, project)
            run = one.latest_judged(self.history.runs(project, limit=10))
            if run is not None:
                gate.add_metric([project], 1.0 if run.gate else 0.0)
                latest.add_metric([project], run.id)
                if run.finished is not None:
                    finished.add_metric([project], run.finished.timestamp())
                for kpi in self.history.kpi_values(run.id):
                    if kpi.value is not None:
                        _add_value(values, project, kpi, kpi.value)
                    if kpi.status in ("pass", "fail"):
                        on_target.add_metric(
                            [project, kpi.name], 1.0 if kpi.status == "pass" else 0.0
                        )
            open_issues = self.history.open_issues(project)
            for severity in SEVERITIES:
                count = sum(1 for i in open_issues if i.severity == severity)
                issues.add_metric([project, severity], count)
        yield from values.values()
        yield from (on_target, gate, latest, finished, runs, issues)


def _add_value(
    families: dict[str, GaugeMetricFamily], project: str, kpi: KpiVerdict, value: float
) -> None:
    name, factor = kpi_metric(kpi.name, kpi.unit)
    if name in families and any(s.labels["project"] == project for s in families[name].samples):
        return  # two KPI names that differ only in characters a metric name cannot hold
    if name not in families:
        builtin = BUILTIN_KPIS.get(kpi.name)
        about = builtin.description if builtin else f"the project's KPI {kpi.name}"
        families[name] = GaugeMetricFamily(
            name, f"{kpi.name} in the latest judged run: {about}.", labels=["project"]
        )
    families[name].add_metric([project], value * factor)


def registry_for(history: History, project: str | None) -> CollectorRegistry:
    """A registry of our own: the process's default one would add Python's own metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HistoryCollector(history, project))
    return registry


def router(history: History, project: str | None) -> APIRouter:
    registry = registry_for(history, project)
    metrics = APIRouter()

    @metrics.get("/metrics")
    def scrape() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return metrics
