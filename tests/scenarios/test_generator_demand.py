"""A load generator starved of CPU queues its requests as a busy one does, yet its CPU reads
low: passcycle watches what it wanted (CPU plus run-queue wait), on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scenario_kit import scenario

from passcycle.scenarios import run_scenarios
from passcycle.scenarios.saturation import (
    SATURATED_CPU,
    CpuWatch,
    bound_note,
    generator_bound,
    schedstat,
)

HOG = "while True: pass"


@dataclass
class Owned:
    pid: int


def _watch(pid: int, seconds: float) -> CpuWatch:
    watch = CpuWatch()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watch.sample([Owned(pid)])  # type: ignore[list-item]
        time.sleep(0.2)
    return watch


def test_two_processes_on_one_core_each_want_all_of_it() -> None:
    # the watched one and a rival pinned to the same core: each gets about half of it
    # and waits for the other half
    hogs = [subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", HOG]) for _ in range(2)]
    try:
        assert schedstat(hogs[0].pid) is not None
        watch = _watch(hogs[0].pid, 3.5)  # 1 s of warm-up left out, then 2.5 s
        used = watch.busiest()
        wanted, waiting = watch.demand()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert used < 75  # its CPU alone would not flag it
    assert wanted > SATURATED_CPU  # what it wanted does
    # about half the time waiting for the rival; more when anything else runs on core 0 too
    # (a busy machine), so only the lower bound is the rival's doing
    assert waiting > 0.25


def test_an_idle_process_wants_nothing() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        watch = _watch(idle.pid, 2.0)
        wanted, _ = watch.demand()
    finally:
        idle.kill()
        idle.wait()
    assert wanted < 10


def test_a_starved_generator_is_bound_a_quiet_one_is_not() -> None:
    # (CPU %, wanted %, share of it waiting), as measured beside wrk and on the example
    assert generator_bound(95, 97, 0.02)  # busy
    assert generator_bound(67, 91, 0.27)  # wanted more than a core gave
    assert generator_bound(42, 85, 0.50)  # one process starved: p50 1.4-1.9x wrk's
    assert generator_bound(30, 57, 0.47)  # two processes, each starved: 1.3-1.7x
    assert not generator_bound(29, 32, 0.07)  # the example's steady-100
    assert not generator_bound(8, 10, 0.14)  # a slow service sets the pace
    assert not generator_bound(27, 41, 0.30)  # waits a little, wants little


def test_where_the_loop_lag_was_measured_it_decides() -> None:
    # (CPU %, wanted %, waiting, lag s, p50 s), beside wrk (bench/bench_load.py)
    assert generator_bound(80, 80, 0.0, lag=0.0016, p50=0.0078)  # 20%: 1.15-1.19x wrk's
    assert generator_bound(55, 63, 0.24, lag=0.0020, p50=0.0145)  # 14%: 1.24x
    assert not generator_bound(76, 77, 0.0, lag=0.0007, p50=0.0116)  # 6%: 0.94x
    # starved: its backlogs of replies are more than a 10 ms tick sees (fastapi-crud-async
    # beside a busy loop: lag 10% of a p50 2.5x wrk's), so the waits flag it on their own
    assert generator_bound(48, 87, 0.45, lag=0.0019, p50=0.0257)
    assert not generator_bound(48, 87, 0.20, lag=0.0019, p50=0.0257)
    # an idle loop oversleeps a little whatever the machine: under 0.5 ms is not the
    # generator's, however fast the service
    assert not generator_bound(5, 6, 0.0, lag=0.0002, p50=0.0008)


def _pinned_to_core_0(app: Any, tmp_path: Path, delay: float, users: int, rivals: int) -> Any:
    """One scenario run with its service and Locust allowed core 0 only, beside `rivals`
    busy loops there too."""
    hogs = [
        subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", HOG]) for _ in range(rivals)
    ]
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # what this process starts inherits it
    try:
        return run_scenarios(
            app(APP_DELAY=delay),
            [scenario(name="s", users=users, duration="4s")],
            tmp_path,
            tmp_path / "run",
        )
    finally:
        os.sched_setaffinity(0, allowed)
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.skipif(
    0 not in os.sched_getaffinity(0), reason="pins work to core 0: not allowed here"
)
def test_a_generator_sharing_its_core_is_flagged_by_its_loop_lag(app, tmp_path: Path) -> None:
    outcome = _pinned_to_core_0(app, tmp_path, 0.005, users=20, rivals=2)
    found = {m.name: m.value for m in outcome.measurements if m.source == "scenario:s"}
    assert found["generator_lag"] >= 0.1 * found["p50_response_time"]
    assert found["generator_bound"] == 1.0  # its latency is not judged
    [note] = [n for n in outcome.notes if "the load generator" in n]
    assert "its event loop ran " in note and "ms late on average" in note


def test_a_slow_service_sets_the_pace_not_the_generator(app, tmp_path: Path) -> None:
    outcome = run_scenarios(
        app(APP_DELAY=0.05),
        [scenario(name="s", users=5, duration="3s")],
        tmp_path,
        tmp_path / "run",
    )
    found = {m.name: m.value for m in outcome.measurements if m.source == "scenario:s"}
    assert 0 < found["generator_lag"] < 0.1 * found["p50_response_time"]  # measured, small
    assert "generator_bound" not in found


def test_the_note_gives_the_lag_only_where_it_is_the_reason() -> None:
    starved = bound_note("s", 60, 80, 0.40, lag=0.002, p50=0.010)
    assert "; its event loop ran 2.0 ms late on average (20% of the p50);" in starved
    assert starved.endswith("Run it on a quieter machine")
    # an open model behind its schedule: seconds of p50, the lag says nothing of them
    assert "event loop" not in bound_note("s", 60, 97, 0.27, lag=0.0043, p50=2.0)
    assert bound_note("s", 97, 98, 0.0, lag=0.003, p50=0.004) == (
        "scenario 's': the load generator used 97% of a core; its own queueing is in these"
        " response times. Run with --workers N"
    )
