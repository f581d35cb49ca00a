"""/metrics: Prometheus text read from the history on every scrape."""

from __future__ import annotations

from collections.abc import Callable

import httpx
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
    for kpi in verdict.kpis:
        labels = (("kpi", kpi.name), ("project", "demo"))
        assert samples[("passcycle_kpi_value", labels)] == kpi.value
        assert samples[("passcycle_kpi_on_target", labels)] == (kpi.status == "pass")
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
    assert samples[("passcycle_kpi_value", labels)] == 100.0
    assert samples[("passcycle_kpi_on_target", labels)] == 1.0
    assert ("passcycle_kpi_value", (("kpi", "coverage"), ("project", "demo"))) not in samples
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
