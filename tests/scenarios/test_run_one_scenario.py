"""`passcycle run --scenario NAME`: one scenario against the real service, no tests, a
partial run judged on what it measured."""

from __future__ import annotations

import sys
from pathlib import Path

from scenario_kit import APP, write


def _project(root: Path) -> Path:
    write(root / "app.py", APP)
    write(root / "tests" / "test_never.py", "def test_never():\n    raise SystemExit(9)\n")
    write(
        root / "passcycle.toml",
        '[project]\ntests = ["tests"]\n\n[kpis]\ntest_pass_rate = "== 100%"\n'
        'p95_response_time = "< 10s"\n\n'
        f'[service]\ncommand = ["{sys.executable}", "app.py", "{{port}}"]\n'
        'health = "/health"\n\n'
        # think time: 2 users looping flat out would keep Locust's process busy, and a
        # generator-bound scenario's latency is not judged
        '[[scenarios]]\nname = "steady"\nusers = 2\nduration = "2s"\n'
        'think_time = ["5ms", "10ms"]\nsteps = [ { get = "/" } ]\n\n'
        '[[scenarios]]\nname = "spike"\nusers = 4\nduration = "60s"\n'
        'steps = [ { get = "/" } ]\n',
    )
    return root


def test_one_scenario_alone(tmp_path: Path, passcycle) -> None:
    root = _project(tmp_path / "project")
    data = passcycle(root, "run", "--scenario", "steady", "--json", expect=0, timeout=120).json()
    assert [s["name"] for s in data["scenarios"]] == ["steady"]  # spike's 60 s never ran
    [steady] = data["scenarios"]
    assert 0 < steady["p50"] <= steady["p95"] <= steady["p99"]
    # the generator: what it used, what it wanted (CPU and run-queue wait), what it waited
    assert steady["generator_cpu"] > 0 and steady["generator_demand"] > 0
    assert 0 <= steady["generator_wait"] <= 100
    assert data["run"]["partial"] is True and data["total"] == 0  # the tests never ran
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["p95_response_time"]["status"] == "pass"
    assert kpis["test_pass_rate"]["status"] == "not measured"
    assert data["gate"] == {"passed": True, "reasons": []}
    assert data["note"].startswith("scenarios only: steady")
    text = passcycle(root, "run", "--scenario", "steady", expect=0, timeout=120)
    assert "running 'steady' against the service" in text.stderr
    assert "steady" in text.stdout and "spike" not in text.stdout
    assert "pass rate" not in text.stdout  # no test summary for a run without tests
    history = passcycle(root, "history", "--json").json()["runs"]
    assert [r["partial"] for r in history[:2]] == [True, True]


def test_an_unknown_scenario_is_one_line(tmp_path: Path, passcycle) -> None:
    root = _project(tmp_path / "project")
    result = passcycle(root, "run", "--scenario", "stedy", expect=2)
    assert "no scenario 'stedy' in the plan" in result.stderr
    assert "did you mean 'steady'? the plan's scenarios: steady, spike" in result.stderr
    assert passcycle(root, "history", "--json").json()["runs"] == []  # nothing ran


def test_a_generator_behind_its_schedule_is_said_and_not_judged(tmp_path: Path, passcycle) -> None:
    root = _project(tmp_path / "project")
    plan_file = root / "passcycle.toml"
    # a target its late sends fail (one they met would still pass: times read high, not low)
    plan_file.write_text(plan_file.read_text().replace('"< 10s"', '"< 50ms"'))
    with plan_file.open("a") as plan:
        # far past what one Locust process sends: its schedule slips by seconds
        plan.write(
            '\n[[scenarios]]\nname = "flood"\nrate = "20000/s"\nusers = 50\nduration = "2s"\n'
            'stop_timeout = "0s"\nsteps = [ { get = "/" } ]\n'
        )
    data = passcycle(root, "run", "--scenario", "flood", "--json", timeout=120).json()
    assert "scenario 'flood': the load generator fell behind the schedule by" in data["note"]
    [flood] = data["scenarios"]
    assert flood["schedule_lag_max"] >= flood["schedule_lag_p99"] > 0.1
    p95 = {k["name"]: k for k in data["kpis"]}["p95_response_time"]
    assert p95["detail"].startswith("not judged: generator-bound ('flood'")
    shown = passcycle(root, "show", str(data["run"]["id"]))
    # the terminal wraps the note at its width: read it as one line
    assert "fell behind the schedule by" in " ".join(shown.stdout.split())
    # and the run says it in the terminal as it ends, not only in the history
    said = passcycle(root, "run", "--scenario", "flood", timeout=120).stdout
    text = " ".join(said.split())
    assert "note: scenario 'flood'" in text and "fell behind the schedule by" in text
    assert "run 2 (scenarios only: flood, no tests)" in text
    # its row in the scenarios table is marked, and what the mark means said once
    [row] = [line for line in said.splitlines() if line.startswith("flood ")]
    assert row.rstrip().endswith("%") and " ⚠ " in row
    assert text.count("⚠ generator-bound: its load generator's own queueing is in these") == 1


def test_a_full_run_says_what_its_scenarios_noted_after_them(tmp_path: Path, passcycle) -> None:
    # the suite's summary is shown as the tests end, before any scenario has run: what the
    # scenarios noted is said after their table, once
    root = tmp_path / "project"
    write(root / "app.py", APP)
    write(root / "tests" / "test_ok.py", "def test_ok():\n    pass\n")
    write(
        root / "passcycle.toml",
        '[project]\ntests = ["tests"]\n\n[kpis]\ntest_pass_rate = "== 100%"\n\n'
        f'[service]\ncommand = ["{sys.executable}", "app.py", "{{port}}"]\n'
        'health = "/health"\nenv = { APP_DELAY = "0.05" }\n\n'
        # one slot, 40 iterations a second, each answered in 50 ms: most wait for the slot
        '[[scenarios]]\nname = "one-slot"\nrate = "40/s"\nusers = 1\nduration = "2s"\n'
        'steps = [ { get = "/" } ]\n',
    )
    text = " ".join(passcycle(root, "run", timeout=120).stdout.split())
    said = "scenario 'one-slot': "
    assert text.count("found all 1 in-flight slots (users) taken") == 1
    assert text.index("pass rate 100.0%") < text.index("scenarios scenario") < text.index(said)


SERVE = """\
import os, runpy, sys
from pathlib import Path

# the service's configuration, read at start: the fix below is a change to it
os.environ["APP_DELAY"] = Path("delay.txt").read_text().strip()
sys.argv = ["app.py", sys.argv[1]]
runpy.run_path("app.py", run_name="__main__")
"""


def test_retest_runs_again_the_scenario_whose_kpi_failed(tmp_path: Path, passcycle) -> None:
    root = tmp_path / "project"
    write(root / "app.py", APP)
    write(root / "serve.py", SERVE)
    write(root / "delay.txt", "0.25\n")
    write(root / "tests" / "test_ok.py", "def test_ok():\n    assert True\n")
    write(
        root / "passcycle.toml",
        '[project]\ntests = ["tests"]\n\n[kpis]\np95_response_time = "< 100ms"\n\n'
        f'[service]\ncommand = ["{sys.executable}", "serve.py", "{{port}}"]\n'
        'health = "/health"\n\n'
        '[[scenarios]]\nname = "steady"\nusers = 2\nduration = "2s"\n'
        'think_time = ["5ms", "10ms"]\nsteps = [ { get = "/" } ]\n\n'
        '[[scenarios]]\nname = "other"\nusers = 1\nduration = "1s"\n'
        'think_time = ["5ms", "10ms"]\nsteps = [ { get = "/health" } ]\n',
    )
    slow = passcycle(root, "run", "--json", expect=1, timeout=120).json()
    [breach] = [i for i in slow["issues"] if i["title"].startswith("p95_response_time")]
    assert breach["root_cause"] == "scenario:steady"
    write(root / "delay.txt", "0\n")  # the fix
    again = passcycle(root, "retest", "--json", expect=0, timeout=120).json()
    rerun = again["scenarios"]
    assert [s["name"] for s in rerun["scenarios"]] == ["steady"]  # not 'other': it passed
    assert rerun["run"]["partial"] is True and rerun["gate"] is True
    [progress] = [i for i in again["issues"] if i["fingerprint"] == breach["fingerprint"]]
    assert progress["status"] == "fixed"
    text = passcycle(root, "retest", expect=0, timeout=120)
    assert "re-ran scenarios 'steady'" in text.stdout and "fixed" in text.stdout
    # a re-test's scenario run is never the base of the next re-test, nor a full run
    history = passcycle(root, "history", "--json").json()["runs"]
    assert [r["kind"] for r in history[:2]] == ["retest", "retest"]
