"""A load generator starved of CPU queues its requests as a busy one does, yet its CPU reads
low: passcycle watches what it wanted (CPU plus run-queue wait), on real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from passcycle.scenarios.load import SATURATED_CPU, _CpuWatch, generator_bound, schedstat

HOG = "while True: pass"


@dataclass
class Owned:
    pid: int


def _watch(pid: int, seconds: float) -> _CpuWatch:
    watch = _CpuWatch()
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
