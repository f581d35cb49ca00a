"""The dashboard over a real history: pages, JSON API, refresh, escaping, read-only."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from html import escape, unescape

import httpx
import pytest

from passcycle.console import verdict_json
from passcycle.serve.app import DEFAULT_HOST, serve
from passcycle.store import History

from .conftest import HOSTILE_ID, HOSTILE_MESSAGE, Built, build_history

PAGES = ["/", "/runs", "/runs/1", "/runs/2", "/issues", "/tests"]


def test_overview_shows_gate_phase_kpis_and_open_issues(dashboard: httpx.Client, built: Built):
    page = dashboard.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'id="gate"' in html and "FAILED" in html
    assert "test_pass_rate misses its target &gt;= 90%" in html
    assert "33.33%" in html  # the pass rate of run 2, as the KPI card shows it
    assert "Stabilize" in html and "1 of 2 exit criteria met" in html
    with History.open(built.url) as history:
        open_count = len(history.open_issues("demo"))
    assert open_count == 3
    assert f'<div class="big">{open_count}</div>' in html
    assert html.count('class="chart"') == 2


def test_api_overview_matches_the_stored_verdict(dashboard: httpx.Client, built: Built):
    data = dashboard.get("/api/overview").json()
    verdict = verdict_json(built.verdicts[1])
    assert data["project"] == "demo"
    assert data["run"]["id"] == verdict["run"]["id"] == 2
    assert data["gate"] == {"passed": False, "reasons": verdict["gate"]["reasons"], "run": 2}
    stored = {k["name"]: (k["value"], k["status"]) for k in verdict["kpis"]}
    assert {k["name"]: (k["value"], k["status"]) for k in data["kpis"]} == stored
    pass_rate = next(k for k in data["kpis"] if k["name"] == "test_pass_rate")
    assert pass_rate["trend"] == [[1, 100.0], [2, pytest.approx(100 / 3)]]
    assert pass_rate["target_value"] == 90.0
    # Phases are judged again from the stored KPIs only, and agree with the run's verdict.
    assert data["phases"] == verdict["phases"]
    assert data["current_phase"] == verdict["current_phase"] == 1
    assert data["open_issues"]["count"] == 3
    severities = [i.severity for i in built.verdicts[1].issues]
    assert data["open_issues"]["by_severity"]["high"] == severities.count("high") > 0
    assert [r["id"] for r in data["recent"]] == [2, 1]


def test_runs_list_and_run_detail(dashboard: httpx.Client):
    runs = dashboard.get("/runs").text
    assert 'href="/runs/2"' in runs and 'href="/runs/1"' in runs
    detail = dashboard.get("/api/runs/2").json()
    assert detail["run"]["counts"]["failed"] == 2
    assert {f["nodeid"] for f in detail["failures"]} == {
        "tests/test_demo.py::test_mul",
        f"tests/test_demo.py::test_x[{HOSTILE_ID}]",
    }
    assert [f["path"] for f in detail["coverage"]["files"]] == ["src/demo/__init__.py"]
    assert detail["coverage"]["files"][0]["percent"] == 100.0
    page = dashboard.get("/runs/2").text
    assert "src/demo/__init__.py" in page
    assert escape(HOSTILE_MESSAGE) in page
    assert "2 tests passed in the baseline and fail now" in page


def test_the_run_page_says_how_each_kpi_was_judged(dashboard: httpx.Client, built: Built):
    page = unescape(dashboard.get("/runs/2").text)
    hows = dict(re.findall(r'<tr><td>([^<]+)</td>.*?<td class="muted how">(.*?)</td></tr>', page))
    kpis = built.verdicts[1].kpis
    assert set(hows) == {k.name for k in kpis}
    judged = [k for k in kpis if k.status in ("pass", "fail")]
    assert judged
    for kpi in judged:
        how = hows[kpi.name]
        assert how.startswith(f"from {kpi.source}"), how
        assert (kpi.detail in how) if kpi.detail else ("target" in how), how


def test_run_detail_shows_scenarios_and_faults(dashboard: httpx.Client):
    detail = dashboard.get("/api/runs/2").json()
    (scenario,) = detail["scenarios"]
    assert scenario["name"] == HOSTILE_ID and scenario["p95"] == 0.042
    assert scenario["faults"] == [{"number": "1", "upstream": "db", "kind": "reset", "hits": 27}]
    assert scenario["phases"] == [
        {"phase": "during", "requests": 300, "error_rate": 9.0, "p95": None}
    ]
    assert dashboard.get("/api/runs/1").json()["scenarios"] == []
    page = dashboard.get("/runs/2").text
    assert "db reset ×27" in page and ">9.00%<" in page and ">42ms<" in page
    assert escape(HOSTILE_ID) in page and HOSTILE_ID not in page


def test_unknown_run_is_404_in_html_and_json(dashboard: httpx.Client):
    assert dashboard.get("/runs/999").status_code == 404
    missing = dashboard.get("/api/runs/999")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no run 999 in the history"}


def test_issues_have_their_history(dashboard: httpx.Client):
    issues = dashboard.get("/api/issues").json()["issues"]
    by_title = {i["title"]: i for i in issues}
    failure = next(i for t, i in by_title.items() if "test_mul" in t)
    assert failure["history"] == [{"run": 2, "state": "new", "tests": 1}]
    page = dashboard.get("/issues").text
    assert 'title="run 2: new, 1 tests"' in page


def test_tests_show_flip_rate_and_durations(dashboard: httpx.Client):
    tests = {t["nodeid"]: t for t in dashboard.get("/api/tests").json()["tests"]}
    flipped = tests["tests/test_demo.py::test_mul"]
    assert flipped["flip_rate"] == 1.0
    assert [r["outcome"] for r in flipped["runs"]] == ["failed", "passed"]
    assert all(r["duration"] >= 0 for r in flipped["runs"])
    assert tests["tests/test_demo.py::test_add"]["flip_rate"] == 0.0
    # flaky (flipping) tests come first
    assert next(iter(tests.values()))["flip_rate"] == 1.0
    page = dashboard.get("/tests", params={"q": "test_add"}).text
    assert "test_add" in page and "test_mul" not in page
    # two runs: each test's duration trend is drawn, and the header says how rows are sorted
    page = dashboard.get("/tests").text
    assert page.count('<svg class="spark"') == len(tests)
    assert "flaky first, then failing, then slowest" in page


@pytest.mark.parametrize("path", PAGES)
def test_hostile_text_is_escaped_on_every_page(dashboard: httpx.Client, path: str):
    html = dashboard.get(path).text
    assert HOSTILE_ID not in html
    assert HOSTILE_MESSAGE not in html
    assert "<script>alert" not in html and "onerror=alert(1)>" not in html.replace("&gt;", "")


def test_hostile_text_reaches_the_page_escaped(dashboard: httpx.Client):
    assert escape(HOSTILE_ID, quote=False) in dashboard.get("/tests").text
    assert escape(HOSTILE_MESSAGE, quote=False) in dashboard.get("/runs/2").text


def test_pages_forbid_inline_script(dashboard: httpx.Client):
    policy = dashboard.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert dashboard.get("/static/vendor/uPlot.iife.min.js").status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/api/overview", "/api/runs/1", "/metrics"])
def test_nothing_can_be_written(dashboard: httpx.Client, method: str, path: str):
    assert dashboard.request(method, path).status_code == 405


def test_no_interactive_docs_from_a_cdn(dashboard: httpx.Client):
    assert dashboard.get("/docs").status_code == 404
    assert dashboard.get("/openapi.json").status_code == 404


def test_binds_loopback_by_default():
    assert DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def test_version_changes_when_a_run_lands(
    built_copy: Built, serve_app: Callable[..., httpx.Client]
):
    client = serve_app(built_copy.url, "demo", plan=built_copy.plan)
    before = client.get("/api/version").json()
    assert before["run"] == 2
    page = client.get("/").text
    assert f'data-version="{before["version"]}"' in page
    with History.open(built_copy.url) as history:
        run = history.start_run("demo", "run")
        running = client.get("/api/version").json()
        assert running["run"] == run.id and running["version"] != before["version"]
        history.finish_run(run.id, "passed", 0, counts={"passed": 3})
        finished = client.get("/api/version").json()
        assert finished["version"] != running["version"]
        history.save_verdict(run.id, True, [], [])
    judged = client.get("/api/version").json()
    assert judged["gate"] is True and judged["version"] != finished["version"]
    assert client.get("/api/overview").json()["gate"]["passed"] is True


def test_empty_history_says_what_to_do(tmp_path, serve_app: Callable[..., httpx.Client]):
    client = serve_app(f"sqlite:///{tmp_path / 'empty.db'}", None)
    page = client.get("/")
    assert page.status_code == 200 and "No judged run yet" in page.text
    assert client.get("/api/overview").json()["run"] is None
    assert client.get("/api/version").json()["run"] is None


@pytest.mark.postgres
def test_dashboard_over_postgresql(pg_url: str, tmp_path, serve_app):
    built = build_history(tmp_path / "demo", pg_url)
    client = serve_app(pg_url, None, plan=built.plan)
    data = client.get("/api/overview").json()
    assert data["project"] == "demo" and data["run"]["id"] == built.verdicts[1].run.id
    assert data["gate"]["passed"] is False
    assert data["phases"] == verdict_json(built.verdicts[1])["phases"]
    assert data["open_issues"]["count"] == 3
    assert "FAILED" in client.get("/").text
    tests = {t["nodeid"]: t for t in client.get("/api/tests").json()["tests"]}
    assert tests["tests/test_demo.py::test_mul"]["flip_rate"] == 1.0
    assert client.get("/api/issues").json()["issues"]
