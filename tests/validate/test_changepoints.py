"""Change points in a KPI's history (Apache Otava's E-divisive means, vendored): a step is
found where it is, one odd run is no change, and a recent change for the worse is an issue
whether or not a baseline is set."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from browserkit import ARTIFACTS, chromium, watched_page
from kpikit import kpi_project, set_latency

from passcycle.plan import load_plan
from passcycle.serve.app import create_app
from passcycle.store import History
from passcycle.validate.changepoints import MIN_SEGMENT, change_points, shift_issue
from tests.serve.conftest import LiveServer


def noisy(levels: list[tuple[float, int]], noise: float = 0.05, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [level * (1 + rng.gauss(0, noise)) for level, count in levels for _ in range(count)]


def numbered(values: list[float], first: int = 1) -> list[tuple[int, float]]:
    return [(first + i, v) for i, v in enumerate(values)]


def test_a_step_is_found_where_it_is():
    series = numbered(noisy([(100.0, 25), (120.0, 25)]), first=11)
    [shift] = change_points(series)
    assert shift.index == 25 and shift.run_id == 36  # the first run at the new level
    assert 97 < shift.before < 103 and 117 < shift.after < 123
    assert shift.pvalue < 0.001 and 0.15 < shift.change < 0.25


def test_one_odd_run_flat_noise_and_a_too_recent_step_are_no_change():
    outlier = noisy([(100.0, 40)])
    outlier[20] *= 1.6
    assert change_points(numbered(outlier)) == []
    assert change_points(numbered(noisy([(100.0, 40)], noise=0.1))) == []
    assert change_points(numbered([5.0] * 30)) == []  # constant: nothing to split
    late = noisy([(100.0, 30), (150.0, MIN_SEGMENT - 1)])
    assert change_points(numbered(late)) == []  # needs MIN_SEGMENT runs at the new level
    assert len(change_points(numbered(noisy([(100.0, 30), (150.0, MIN_SEGMENT)])))) == 1


def test_two_steps_two_changes():
    series = numbered(noisy([(100.0, 20), (130.0, 20), (90.0, 20)]))
    assert [s.index for s in change_points(series)] == [20, 40]


def test_a_recent_change_for_the_worse_is_an_issue_a_better_one_is_not():
    slower = numbered(noisy([(0.200, 20), (0.236, 6)], noise=0.03))
    commits = {21: "abc1234def5678"}
    issue = shift_issue("p95_response_time", "s", "< 1s", slower, commits)
    assert issue is not None and issue.kind == "regression"
    assert issue.title.startswith("p95_response_time rose 1")
    assert "at run 21 (commit abc1234def), p=" in issue.title
    assert "before" in (issue.message or "")
    faster = numbered(noisy([(0.236, 20), (0.200, 6)], noise=0.03))
    assert shift_issue("p95_response_time", "s", "< 1s", faster, {}) is None
    # the direction comes from the target for a project's own KPI
    assert shift_issue("harmony", "", ">= 0.5", slower, {}) is None
    assert shift_issue("harmony", "", "<= 0.5", slower, {}) is not None
    assert shift_issue("harmony", "", None, slower, {}) is None  # no known direction


def test_a_step_out_of_a_constant_level_claims_no_p_value_below_the_floats_precision():
    # 2 issues in 20 runs, then 5 in 6: the t-test's p-value is 0 to the float
    steady = numbered([2.0] * 20 + [5.0] * 6)
    issue = shift_issue("technical_debt", "", "<= 10", steady, {})
    assert issue is not None
    assert issue.title.endswith("rose 150% at run 21, p<1e-15"), issue.title


@pytest.mark.browser
def test_passcycle_run_names_the_run_where_a_kpi_shifted(tmp_path: Path, passcycle):
    """Real runs: a project's KPI printed by a command steps up by 30% at run 9; from the
    third run at the new level on, the run has an issue naming run 9, with no baseline."""
    root = kpi_project(tmp_path / "project")
    levels = noisy([(100.0, 8), (130.0, 4)], noise=0.02, seed=3)
    seen = []
    for value in levels:
        set_latency(root, value)
        data = passcycle(root, "run", "--json").json()
        seen.append([i for i in data["issues"] if i["title"].startswith("latency ")])
    assert all(found == [] for found in seen[:10])  # before the third run at 130
    [issue] = seen[-1]
    assert issue["title"].startswith("latency rose 3") and " at run 9" in issue["title"]
    assert issue["kind"] == "regression"
    assert data["gate"]["passed"] is True  # news, not a gate: the target still holds
    with History.open(f"sqlite:///{root / '.passcycle' / 'history.db'}") as history:
        [still] = history.open_issues("project")  # open, not fixed by the run that found it
    assert still.title == issue["title"] and still.state == "recurring"
    check_markers(root, passcycle)


def test_a_kpis_issue_is_fixed_by_the_full_run_that_no_longer_finds_it(tmp_path: Path, passcycle):
    root = kpi_project(tmp_path / "project", value=2000)
    data = passcycle(root, "run", "--json", expect=1).json()
    [breach] = [i for i in data["issues"] if i["kind"] == "breach"]
    set_latency(root, 100)
    passcycle(root, "run", "--json", expect=0)
    with History.open(f"sqlite:///{root / '.passcycle' / 'history.db'}") as history:
        states = {i.title: i.state for i in history.issues("project")}
    assert states[breach["title"]] == "fixed"


def check_markers(root: Path, passcycle) -> None:
    """The change point in the weekly review, and marked on the report's sparkline and the
    dashboard's chart in Chromium (screenshots in tests/artifacts/)."""
    passcycle(root, "report", "--since", "7d", expect=0)
    review = (root / ".passcycle" / "review.md").read_text()
    assert "### Change points" in review
    assert re.search(r"- latency rose 3\d% at run 9 \(\d+\.\d+ → 1\d\d\.\d+\), p=", review)
    report = (root / ".passcycle" / "report.html").read_text()
    row = re.search(r'<tr data-kpi="latency".*?</tr>', report, re.S)
    assert row is not None and row[0].count('<line class="shift"') == 1
    url = f"sqlite:///{root / '.passcycle' / 'history.db'}"
    plan = load_plan(root)
    with chromium() as browser, LiveServer(create_app(url, plan.name, plan=plan)) as server:
        page = watched_page(browser)
        page.goto(server.url + "/")
        page.wait_for_timeout(300)
        page.screenshot(path=ARTIFACTS / "change-point-overview.png", full_page=True)
        chart = page.locator('.chart[data-kpi="latency"]')
        assert json.loads(chart.get_attribute("data-shifts")) == [9]
        page.goto((root / ".passcycle" / "report.html").as_uri())
        page.screenshot(path=ARTIFACTS / "change-point-report.png", full_page=True)
        assert page.locator('tr[data-kpi="latency"] svg line.shift').count() == 1
        assert page.errors == []
