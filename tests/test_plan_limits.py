"""Bad input in the plan, as a new user writes it: every mistake is refused before anything
runs, with exit 2 and one line naming the file and the key and what to write instead, and
the history stays empty (no run left behind that the mistake decided)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from passcycle.errors import ExitCode

TESTS = {"tests/test_a.py": "def test_ok():\n    assert True\n"}
SCENARIO = '[[scenarios]]\nname = "steady"\nhost = "http://127.0.0.1:9"\nsteps = [{ get = "/" }]\n'


def refused(passcycle: Callable[..., Any], root: Path, *args: str) -> tuple[str, str]:
    """Run a command, expect exit 2 and one error line (then perhaps its tip): both lines."""
    result = passcycle(root, *args, expect=ExitCode.USAGE_ERROR)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and len(lines) <= 2, result
    tip = lines[1] if len(lines) == 2 else ""
    assert not tip or tip.startswith("Tip: "), result
    return lines[0], tip


def history_is_empty(passcycle: Callable[..., Any], root: Path) -> None:
    (root / "passcycle.toml").write_text("", encoding="utf-8")
    assert passcycle(root, "history", "--json", expect=0).json()["runs"] == []


@pytest.mark.parametrize(
    ("plan", "key", "says"),
    [
        # killed every test at once
        ('[project]\ntimeout = "-30s"\n', "project.timeout", "'-30s' is negative"),
        # turned the timeout off
        ("[project]\ntimeout = nan\n", "project.timeout", "nan is not a finite number"),
        # read as 1: booleans are not counts
        ("[validate]\nreruns = true\n", "validate.reruns", "true is not a number"),
        ('[validate]\ncritical_share = "500%"\n', "validate.critical_share", "'500%' is more"),
        ("[validate]\ntop = 2.5\n", "validate.top", "2.5 is not a whole number"),
        (
            '[kpis]\nsuite_duration = { target = "< 10min", regression = "-10%" }\n',
            "kpis.suite_duration.regression",
            "'-10%' is negative",
        ),
        ("[alerts]\ntimeout = -inf\n", "alerts.timeout", "-inf is not a finite number"),
        (
            SCENARIO + 'faults = [{ upstream = "db", kind = "down", share = "150%" }]\n'
            '[upstreams.db]\naddress = "127.0.0.1:9"\n',
            "scenarios[0].faults[0].share",
            "'150%' is more than 100%",
        ),
        (SCENARIO + "users = 0\n", "scenarios[0].users", "0 is too small"),
        (SCENARIO + "spawn_rate = nan\n", "scenarios[0].spawn_rate", "nan is not a finite"),
    ],
)
def test_numbers_out_of_range_are_one_line(make_project, passcycle, plan, key, says) -> None:
    root = make_project({**TESTS, "passcycle.toml": plan})
    line, tip = refused(passcycle, root, "run")
    assert f"passcycle.toml: {key}: {says}" in line
    assert "; write a " in line  # and what to write instead
    assert "docs/plan.md" in tip
    history_is_empty(passcycle, root)


@pytest.mark.parametrize(
    ("plan", "key"),
    [
        # Locust raised OverflowError on it
        (SCENARIO + 'duration = "1e300s"\n', "scenarios[0].duration"),
        (SCENARIO + 'think_time = ["1s", "200h"]\n', "scenarios[0].think_time[1]"),
        ('[service]\ncommand = "app {port}"\nready_timeout = "1e9h"\n', "service.ready_timeout"),
        (
            SCENARIO + 'faults = [{ upstream = "db", kind = "down", for = "9999h" }]\n'
            '[upstreams.db]\naddress = "127.0.0.1:9"\n',
            "scenarios[0].faults[0].for",
        ),
    ],
)
def test_times_are_bounded_to_a_week(make_project, passcycle, plan, key) -> None:
    root = make_project({**TESTS, "passcycle.toml": plan})
    line, tip = refused(passcycle, root, "run")
    assert f"passcycle.toml: {key}: " in line
    assert "is more than 168h (7 days); write a time" in line
    assert "docs/plan.md" in tip
    history_is_empty(passcycle, root)


@pytest.mark.parametrize("depth", [1000, 100])
def test_a_plan_nested_too_deep_is_one_line(make_project, passcycle, depth) -> None:
    # 1000 deep was a RecursionError traceback from the TOML reader itself
    text = "a = " + "[" * depth + "]" * depth + "\n"
    root = make_project({**TESTS, "passcycle.toml": text})
    line, tip = refused(passcycle, root, "run")
    where = "line 1 (a)" if depth == 1000 else "a"
    assert f"passcycle.toml: {where}: nested more than 64 levels deep" in line
    assert "flatten" in tip
    history_is_empty(passcycle, root)


@pytest.mark.parametrize(
    ("plan", "key", "says"),
    [
        ('[kpis]\ncoverage = "> 2s"\n', "kpis.coverage", "'> 2s' is a time, but coverage is a"),
        ('[kpis]\nmemory_rss = "< 50%"\n', "kpis.memory_rss", "'< 50%' is a percentage"),
        (
            '[phases.1]\nexit = ["test_pass_rate >= 90%", "suite_duration < 5MB"]\n',
            "phases.1.exit[1]",
            "'< 5MB' is a size, but suite_duration is a time",
        ),
    ],
)
def test_a_target_in_the_wrong_unit_is_refused_before_the_suite_runs(
    make_project, passcycle, plan, key, says
) -> None:
    # `coverage = "> 2s"` was caught only after the suite ran, leaving a `passed` run behind
    root = make_project({**TESTS, "passcycle.toml": plan})
    line, tip = refused(passcycle, root, "run")
    assert f"passcycle.toml: {key}: the target {says}" in line
    assert "write it in" in tip
    history_is_empty(passcycle, root)


def test_a_target_in_plain_numbers_still_fits(make_project, passcycle) -> None:
    root = make_project({**TESTS, "passcycle.toml": '[kpis]\ntest_pass_rate = ">= 90"\n'})
    assert passcycle(root, "run", "--json", expect=0).json()["gate"]["passed"] is True


def test_a_scenario_name_used_twice_names_the_file_and_key(make_project, passcycle) -> None:
    root = make_project({**TESTS, "passcycle.toml": SCENARIO + SCENARIO})
    line, tip = refused(passcycle, root, "run")
    assert "passcycle.toml: scenarios[1].name: 'steady' is used twice (also scenarios[0])" in line
    assert tip.startswith("Tip: give each scenario its own name")
    history_is_empty(passcycle, root)


def test_a_fault_on_an_unknown_upstream_names_the_file_and_key(make_project, passcycle) -> None:
    plan = SCENARIO + 'faults = [{ upstream = "db", kind = "down" }]\n'
    root = make_project({**TESTS, "passcycle.toml": plan})
    line, tip = refused(passcycle, root, "run")
    assert (
        "passcycle.toml: scenarios[0].faults[0].upstream: no upstream 'db'"
        " (upstreams: none declared)"
    ) in line
    assert tip == "Tip: declare [upstreams.db] with its address or command"
    history_is_empty(passcycle, root)


OUTAGE = (
    '[upstreams.model]\naddress = "127.0.0.1:9"\n'
    + SCENARIO
    + 'faults = [{ upstream = "model", kind = "down", after = "1s", for = "2s" }]\n'
)


@pytest.mark.parametrize(
    ("breaker", "says"),
    [
        # two sources: which one is the breaker?
        (
            '{ get = "/metrics", metric = "open", header = "X-Breaker" }',
            "scenarios[0].breaker: give exactly one of metric, json or header (found metric"
            " and header)",
        ),
        # a floor where a ceiling was meant
        (
            '{ get = "/b", json = "breaker.state", opens = "> 5s" }',
            "scenarios[0].breaker.opens: '> 5s': write a ceiling on time, e.g. \"< 5s\"",
        ),
        # PromQL's `=~` is not a series of the page
        (
            '{ get = "/metrics", metric = \'b{backend=~"m.*"}\' }',
            "scenarios[0].breaker.metric: metric 'b{backend=~\"m.*\"}': write a series as the"
            ' metrics page shows it, e.g. breaker_open{backend="model"}',
        ),
        # a typo of a key
        ('{ get = "/b", header = "X-Breaker", open_ = "1" }', "unknown key 'scenarios[0]"),
    ],
)
def test_a_wrong_breaker_names_the_key_and_what_to_write(
    make_project, passcycle, breaker: str, says: str
) -> None:
    root = make_project({**TESTS, "passcycle.toml": OUTAGE + f"breaker = {breaker}\n"})
    line, tip = refused(passcycle, root, "run")
    assert f"passcycle.toml: {says}" in line
    assert tip.startswith('Tip: e.g. breaker = { get = "/metrics"') or "unknown key" in line
    history_is_empty(passcycle, root)


def test_a_breaker_without_faults_is_refused(make_project, passcycle) -> None:
    plan = SCENARIO + 'breaker = { get = "/b", header = "X-Breaker" }\n'
    line, _ = refused(passcycle, make_project({**TESTS, "passcycle.toml": plan}), "run")
    assert "scenarios[0]: scenario 'steady': a breaker is judged against the scenario's" in line
