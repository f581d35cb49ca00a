"""The HTML report as a file: values, vendored charts, no network, escaping; the other
formats written beside it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape

import pytest
from report_projects import HOSTILE_ID, HOSTILE_IMG, HOSTILE_SCENARIO, MANY

from passcycle.errors import UsageError
from passcycle.report import build_context, render_html, write_reports
from passcycle.report.html import safe_json
from passcycle.targets import format_value

SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)


@pytest.fixture(scope="module")
def page(shop) -> tuple[str, object]:
    with shop.history() as history:
        ctx = build_context(shop.plan, history, shop.latest, suggestions={"nope": "unused"})
    return render_html(ctx), ctx


def test_the_kpi_table_holds_the_judged_values(page):
    html, ctx = page
    for kpi in ctx.verdict.kpis:
        row = re.search(rf'<tr data-kpi="{kpi.name}" data-status="(\w+)">(.*?)</tr>', html, re.S)
        assert row is not None, kpi.name
        assert row[1] == ("regressed" if kpi.regressed else kpi.status)
        assert f'<td class="num value">{format_value(kpi.value, kpi.unit)}</td>' in row[2]
        assert '<svg class="spark' in row[2]  # two judged runs: a trend line
    assert 'id="gate">\n      GATE FAILED' in html


def test_it_is_self_contained(page):
    html, _ = page
    assert "var uPlot=function" in html  # the vendored library, inlined
    assert ".uplot" in html  # and its styles
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?http", html, re.I)
    scripts = SCRIPT.findall(html)
    data = ' type="application/json" id="report-data"'
    assert [attrs for attrs, _ in scripts] == [data, "", "", ""]  # uPlot, our two chart scripts
    assert all("src=" not in attrs for attrs, _ in scripts)


def test_the_policy_allows_exactly_the_inlined_scripts(page):
    html, _ = page
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1])
    assert "default-src 'none'" in csp and "connect-src" not in csp  # nothing may load
    for _, body in SCRIPT.findall(html)[1:]:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_hostile_names_appear_only_escaped(page):
    html, _ = page
    for name in (HOSTILE_ID, HOSTILE_IMG):
        assert name not in html
    assert "test_x[&lt;script&gt;alert(1)&lt;/script&gt;]" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert html.count("<script") == 4
    assert "<img" not in html
    assert "\x1b" not in html and "\x00" not in html
    assert "red | `tick` &lt;b&gt;bold&lt;/b&gt;" in html  # the ANSI message, as text


def test_chart_data_cannot_end_its_script_block(page):
    html, ctx = page
    data_text = SCRIPT.findall(html)[0][1]
    assert "<" not in data_text and ">" not in data_text
    data = json.loads(data_text)
    names = [s["name"] for s in data["scenarios"]]
    assert names == sorted(["steady-100", HOSTILE_SCENARIO])
    steady = data["scenarios"][names.index("steady-100")]
    assert steady["x"] == [r.id for r in ctx.recent_runs]
    assert steady["series"]["p95"] == [240.0, 180.0]  # run 1 then run 2, in the axis's unit:
    assert steady["unit"] == "ms"
    assert steady["range"][0] <= 180.0 and steady["range"][1] >= 240.0
    assert data["history"]["x"] == [r.id for r in ctx.recent_runs]
    assert safe_json({"a": "</script><!--"}) == '{"a": "\\u003c/script\\u003e\\u003c!--"}'


def test_faults_show_what_the_service_did_while_they_were_on(page):
    html, _ctx = page
    rows = re.findall(r'<tr data-fault-scenario="([^"]*)" data-phase="([^"]*)">', html)
    assert ("steady-100", "during") in rows
    assert "model down ×7" in html
    assert ">12.50%<" in html  # the error rate during the fault
    assert "evil&lt;/script&gt;" in html and "evil</script>" not in html


def test_a_generator_bound_scenario_is_marked(page):
    html, _ctx = page
    rows = dict(re.findall(r'<tr data-scenario="([^"]*)"><td>(.*?)</td>', html))
    assert 'class="pill bound"' not in rows["steady-100"]
    [bound] = [cell for name, cell in rows.items() if name.startswith("evil")]
    assert bound.endswith(">generator-bound</span>")


def test_sections_show_issues_flaky_coverage_and_phases(page):
    html, ctx = page
    assert html.count('<div class="issue ') == min(len(ctx.verdict.issues), ctx.verdict.top)
    assert "Fixed since the last run (1)" in html  # mul() was fixed between the runs
    assert 'id="flaky"' in html and "tests/test_shop.py::test_flaky" in html
    assert "src/pkg/__init__.py" in html  # coverage by file
    assert "Phase 1: Immediate stabilization" in html and "Phase 2: Performance" in html


def test_write_reports_writes_every_format(shop, tmp_path):
    with shop.history() as history:
        paths = write_reports(shop.plan, history, shop.latest.id, tmp_path / "out")
        with pytest.raises(UsageError, match="unknown report format 'pdf'"):
            write_reports(shop.plan, history, "latest", tmp_path, ["html", "pdf"])
    assert {k: p.name for k, p in paths.items()} == {
        "html": "report.html",
        "md": "report.md",
        "junit": "junit.xml",
        "json": "report.json",
    }
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["run"]["id"] == shop.latest.id and data["gate"]["passed"] is False
    assert data["tests"]["counts"]["failed"] >= 3  # test_json's shape, composed in
    assert {k["name"] for k in data["kpis"]} == {"test_pass_rate", "coverage", "suite_duration"}
    assert [s["name"] for s in data["scenarios"]] == sorted(["steady-100", HOSTILE_SCENARIO])
    assert sorted(p.name for p in paths["html"].parent.iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temporary file left behind


def test_default_folder_is_the_projects_passcycle_folder(shop):
    with shop.history() as history:
        paths = write_reports(shop.plan, history, formats=["md"])
    assert paths["md"] == shop.plan.root / ".passcycle" / "report.md"


@pytest.mark.slow
def test_a_thousand_failures_stay_a_reasonable_page(many_failures):
    with many_failures.history() as history:
        ctx = build_context(many_failures.plan, history, many_failures.latest)
    html = render_html(ctx)
    size = len(html.encode("utf-8"))
    assert size < 3_000_000, size
    assert f'Failing tests <span class="muted">({MANY})</span>' in html
    assert html.count("<summary>traceback</summary>") <= 300 + ctx.verdict.top
