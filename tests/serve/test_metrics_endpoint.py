"""/metrics: Prometheus text read from the history on every scrape."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from passcycle.records import KpiVerdict
from passcycle.store import History

from .conftest import Built


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_latest_kpis_gate_runs_and_issues(dashboard: httpx.Client, built: Built):
    samples = scrape(dashboard)
    verdict = built.verdicts[1]
    measured = [kpi for kpi in verdict.kpis if kpi.value is not None]
    assert {kpi.name for kpi in measured} >= {"test_pass_rate", "coverage"}
    for kpi in measured:
        # Percentages go out as ratios, named for their unit (Prometheus' base units).
        name = f"passcycle_kpi_{kpi.name}_ratio"
        assert samples[(name, (("project", "demo"),))] == pytest.approx(kpi.value / 100)
        labels = (("kpi", kpi.name), ("project", "demo"))
        assert samples[("passcycle_target_met", labels)] == (kpi.status == "pass")
    assert samples[("passcycle_gate_passed", (("project", "demo"),))] == 0.0
    assert samples[("passcycle_latest_run_id", (("project", "demo"),))] == verdict.run.id
    assert samples[("passcycle_runs_total", (("project", "demo"), ("status", "passed")))] == 1
    assert samples[("passcycle_runs_total", (("project", "demo"), ("status", "failed")))] == 1
    with History.open(built.url) as history:
        open_issues = history.open_issues("demo")
    for severity in ("critical", "high", "medium", "low"):
        expected = sum(i.severity == severity for i in open_issues)
        labels = (("project", "demo"), ("severity", severity))
        assert samples[("passcycle_open_issues", labels)] == expected
    # Our own registry: none of the Python process collectors of the default one.
    assert not any(name.startswith(("python_", "process_")) for name, _ in samples)


def test_a_new_judged_run_shows_on_the_next_scrape(
    built_copy: Built, serve_app: Callable[..., httpx.Client]
):
    client = serve_app(built_copy.url, None)
    assert scrape(client)[("passcycle_gate_passed", (("project", "demo"),))] == 0.0
    with History.open(built_copy.url) as history:
        run = history.start_run("demo", "run")
        history.finish_run(run.id, "passed", 0, counts={"passed": 3})
        kpi = KpiVerdict("test_pass_rate", 100.0, "%", ">= 90%", "pass")
        history.save_verdict(run.id, True, [], [kpi])
        other = history.start_run("other", "ci")
        history.finish_run(other.id, "error", 3, counts={})
    samples = scrape(client)
    assert samples[("passcycle_gate_passed", (("project", "demo"),))] == 1.0
    labels = (("kpi", "test_pass_rate"), ("project", "demo"))
    assert samples[("passcycle_kpi_test_pass_rate_ratio", (("project", "demo"),))] == 1.0
    assert samples[("passcycle_target_met", labels)] == 1.0
    assert ("passcycle_kpi_coverage_ratio", (("project", "demo"),)) not in samples
    assert samples[("passcycle_runs_total", (("project", "demo"), ("status", "passed")))] == 2
    # Serving every project: the other one's runs are counted, it has no gate yet.
    assert samples[("passcycle_runs_total", (("project", "other"), ("status", "error")))] == 1
    assert ("passcycle_gate_passed", (("project", "other"),)) not in samples


def test_one_project_only_when_named(built_copy: Built, serve_app: Callable[..., httpx.Client]):
    with History.open(built_copy.url) as history:
        other = history.start_run("other", "ci")
        history.finish_run(other.id, "failed", 1, counts={})
    samples = scrape(serve_app(built_copy.url, "demo"))
    assert {dict(labels).get("project") for _, labels in samples} == {"demo"}


def test_every_unit_goes_out_in_its_base_unit_and_promtool_accepts_it(
    built_copy: Built, serve_app: Callable[..., httpx.Client]
):
    kpis = [
        KpiVerdict("p95_response_time", 0.25, "s", "< 300ms", "pass"),
        KpiVerdict("memory_rss", 111.3 * 1024**2, "B", "< 500MB", "pass"),
        KpiVerdict("memory_growth", 20_000.0, "B/s", "< 100MB/h", "pass"),
        KpiVerdict("cpu_utilization", 19.15, "%", "< 80%", "pass"),
        KpiVerdict("concurrent_users", 120, "", ">= 100", "pass"),
        KpiVerdict("queue_latency_seconds", 0.5, "s", "< 1s", "pass"),  # already named
        KpiVerdict("awareness.score", 0.7, "", ">= 0.5", "pass"),  # a project's own
        KpiVerdict("throughput", 250.0, "/s", ">= 100/s", "pass"),
    ]
    with History.open(built_copy.url) as history:
        run = history.start_run("demo", "run")
        history.finish_run(run.id, "passed", 0, counts={"passed": 3})
        history.save_verdict(run.id, True, [], kpis)
    client = serve_app(built_copy.url, "demo")
    samples = scrape(client)
    demo = (("project", "demo"),)
    assert samples[("passcycle_kpi_p95_response_time_seconds", demo)] == 0.25
    assert samples[("passcycle_kpi_memory_rss_bytes", demo)] == 111.3 * 1024**2
    assert samples[("passcycle_kpi_memory_growth_bytes_per_second", demo)] == 20_000.0
    assert samples[("passcycle_kpi_cpu_utilization_ratio", demo)] == pytest.approx(0.1915)
    assert samples[("passcycle_kpi_concurrent_users", demo)] == 120
    assert samples[("passcycle_kpi_queue_latency_seconds", demo)] == 0.5
    assert samples[("passcycle_kpi_awareness_score", demo)] == 0.7
    assert samples[("passcycle_kpi_throughput_per_second", demo)] == 250.0
    # Prometheus' own linter: names, units, counters ending in _total, help on every metric.
    exposition = client.get("/metrics").text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""


def test_promtool_flags_what_the_old_exposition_did():
    """The check above can fail: promtool refuses a counter without `_total`."""
    old = (
        "# HELP passcycle_kpi_value The KPI's value, in its base unit (%, s, B, /s).\n"
        "# TYPE passcycle_kpi_value gauge\n"
        'passcycle_kpi_value{kpi="memory_growth"} 20000.0\n'
        "# HELP passcycle_runs Runs recorded.\n"
        "# TYPE passcycle_runs counter\n"
        "passcycle_runs 3.0\n"
    )
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=old, capture_output=True, text=True
    )
    assert checked.returncode != 0
    assert "passcycle_runs" in checked.stdout + checked.stderr
