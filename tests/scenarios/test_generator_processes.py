"""Without --workers, a scenario whose generator was the bottleneck last run gets more
Locust processes, as many as the cores the generator may take allow, and says so (#16):
real runs of the CLI, real Locust, the tiny service on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scenario_kit import APP, write

from passcycle.errors import ExitCode, PlanError
from passcycle.plan import parse_plan
from passcycle.scenarios.generator import (
    LastGenerator,
    choose_workers,
    generator_cores,
)
from passcycle.scenarios.saturation import STARVED_WAIT

PLAN = (
    '[project]\ntests = ["tests"]\n\n'
    f'[service]\ncommand = ["{sys.executable}", "app.py", "{{port}}"]\nhealth = "/health"\n\n'
    # far past what one Locust process sends: its schedule slips by seconds, so the
    # scenario is generator-bound whatever else the machine is doing
    '[[scenarios]]\nname = "flood"\nrate = "20000/s"\nusers = 50\nduration = "2s"\n'
    'stop_timeout = "0s"\nsteps = [ { get = "/" } ]\n'
)


def _on_two_cores(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI as the `passcycle` fixture runs it, allowed two cores (taskset), as on
    a two-core machine: one for the generator, one kept for the service."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PASSCYCLE_DB", None)
    command = ["taskset", "-c", "0,1", sys.executable, "-m", "passcycle", "-C", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(
    not {0, 1} <= os.sched_getaffinity(0),
    reason="pins passcycle to cores 0 and 1 with taskset: this process may not run on both",
)
def test_a_generator_bound_scenario_gets_the_processes_the_cores_allow(
    tmp_path: Path, passcycle
) -> None:
    root = tmp_path / "project"
    write(root / "app.py", APP)
    write(root / "tests" / "test_never.py", "def test_never():\n    raise SystemExit(9)\n")
    write(root / "passcycle.toml", PLAN)
    first = passcycle(root, "run", "--scenario", "flood", "--json", timeout=120).json()
    [flood] = first["scenarios"]
    assert flood["generator_processes"] == 1  # no history yet: one process
    assert flood["generator_bound"] is True  # flagged in the scenario, not only the note
    assert "scenario 'flood': the load generator fell behind" in first["note"]

    # two cores: the generator may take one, the service keeps the other. What it is told
    # follows from what the first run measured: busy, it could use a core more; starved of
    # one by other work (a loaded machine), more processes would wait as well.
    second = _on_two_cores(root, "run", "--scenario", "flood", "--json")
    assert "Traceback" not in second.stderr, second.stderr
    said = " ".join(second.stderr.split())
    expected = choose_workers("flood", _last(flood), 1)
    assert expected.processes == 1 and expected.note in said
    if _last(flood).waiting < STARVED_WAIT:
        assert "no core to spare for a second Locust process — give --workers 2" in said
    assert "Locust processes this run" not in said
    [flood] = json.loads(second.stdout)["scenarios"]
    assert flood["generator_processes"] == 1

    # the plan lets the generator take two cores: the next run starts two processes,
    # unless the last one waited for a core more than it ran
    with (root / "passcycle.toml").open("a") as plan:
        plan.write("\n[load]\ncores = 2\n")
    third = passcycle(root, "run", "--scenario", "flood", "--json", timeout=120)
    data = third.json()
    expected = choose_workers("flood", _last(flood), 2)
    assert data["scenarios"][0]["generator_processes"] == expected.processes
    assert expected.note in " ".join(third.stderr.split())
    if _last(flood).waiting < STARVED_WAIT:
        assert expected.processes == 2 and expected.note.endswith(": 2 Locust processes this run")
        out = root / ".passcycle" / "runs" / str(data["run"]["id"]) / "scenarios" / "flood"
        assert "2 workers connected" in (out / "locust.log").read_text()
        names = sorted(p.name for p in out.glob("worker-*.log"))
        assert names == ["worker-1.log", "worker-2.log"]

    # --workers N is the user's word: no choice made, none said
    fixed = passcycle(root, "run", "--scenario", "flood", "--workers", "0", "--json", timeout=120)
    assert fixed.json()["scenarios"][0]["generator_processes"] == 1
    assert "generator-bound last run" not in fixed.stderr


def _last(scenario: dict[str, Any]) -> LastGenerator:
    """What the next run reads back of a scenario's generator, from its `run --json`."""
    demand = max(scenario["generator_demand"] or 0.0, scenario["generator_cpu"])
    waiting = (scenario["generator_wait"] or 0.0) / 100.0
    bound = scenario["generator_bound"]
    return LastGenerator(demand, scenario["generator_processes"], bound, waiting)


def test_the_rule_adds_processes_for_the_demand_it_measured() -> None:
    bound = LastGenerator(demand=140.0, processes=1, bound=True)
    assert choose_workers("a", None, 8).workers == 0  # never ran: one process
    assert choose_workers("a", LastGenerator(60.0, 1, False), 8).workers == 0
    assert choose_workers("a", bound, 8).workers == 2  # ceil(140 / 70)
    # saturated at 95% of a core each in 3 processes: 285% -> 5 at 70% each, capped by cores
    assert choose_workers("a", LastGenerator(95.0, 3, True), 8).workers == 5
    assert choose_workers("a", LastGenerator(95.0, 3, True), 4).workers == 4
    # a schedule that slipped with little CPU still gets one process more
    assert choose_workers("a", LastGenerator(40.0, 1, True), 8).workers == 2
    # processes that were enough are kept (no see-saw between runs), and dropped when idle
    held = choose_workers("a", LastGenerator(60.0, 2, False), 8)
    assert held.workers == 2 and held.note == (
        "scenario 'a' used 2 Locust processes last run (demand 120% of a core):"
        " 2 Locust processes this run"
    )
    assert choose_workers("a", LastGenerator(20.0, 2, False), 8).workers == 0
    # no core to spare: said in one line, and one process kept
    kept = choose_workers("a", bound, 1)
    assert kept.workers == 0 and kept.processes == 1
    assert kept.note == (
        "scenario 'a' was generator-bound last run (demand 140% of a core); this machine has"
        " no core to spare for a second Locust process — give --workers 2 to try anyway"
    )
    # starved, not busy (fastapi-crud-async beside a CI run: 57% wanted, 47% of it
    # waiting, in each of 2 processes): the processes share out what they ran, and a
    # starved generator gets no process more, however many cores
    starved = choose_workers("a", LastGenerator(85.0, 1, True, 0.5), 8)
    assert starved.workers == 0 and starved.note == (
        "scenario 'a' was generator-bound last run, waiting for a core 50% of the time it"
        " wanted one: more Locust processes would wait as well — run it where other work"
        " leaves a core free"
    )
    assert choose_workers("a", LastGenerator(57.0, 2, True, 0.47), 8).workers == 0  # 60%: 1
    assert choose_workers("a", LastGenerator(91.0, 1, True, 0.27), 8).workers == 2  # busy
    full = choose_workers("a", LastGenerator(95.0, 2, True), 2)
    assert full.workers == 2  # 190% wanted 3
    assert "has cores for no more than 2 Locust processes — give --workers 3" in full.note


def test_the_generator_keeps_one_core_for_the_service() -> None:
    usable = len(os.sched_getaffinity(0))
    assert generator_cores() == max(1, usable - 1)
    assert generator_cores(3) == 3  # the plan's [load] cores


def test_the_plans_load_section() -> None:
    assert parse_plan({}).load.workers == "auto"
    assert parse_plan({"load": {"workers": 3, "cores": 2}}).load.workers == 3
    for wrong in ("many", -1, True, 2.5):
        with pytest.raises(PlanError) as caught:
            parse_plan({"load": {"workers": wrong}})
        assert caught.value.exit_code == ExitCode.USAGE_ERROR
        assert 'load.workers: write "auto" or a number of Locust workers' in caught.value.message
