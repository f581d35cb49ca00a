"""Is a scenario's latency the service's, or its load generator's? (#16)

A Locust process that is busy, or waits for a core other work holds, takes its time to read
each response; its own queueing is then in the response times it reports. load.py flags such
a scenario generator-bound, and validate judges its times only against upper bounds they
meet (validate/bound.py): they read high, never low. Three signs: the CPU
it used, what it wanted (CPU plus run-queue wait, Linux's /proc/PID/schedstat), and how late
its event loop ran a timer while requests flowed (the harness's probe) against its p50.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from passcycle.scenarios.processes import OwnedProcess

SATURATED_CPU = 90.0  # % of one core: past this, Locust's own queueing shows as latency
# The harness times how late each Locust process's event loop runs (loop_lag): every
# response it reads waits that long before its time is taken, busy or starved of a core.
# Past this share of the p50 it reports, the p50 is the generator's as much as the
# service's. Measured beside wrk on loopback (bench/bench_load.py --hogs N, 2 cores): every
# run whose p50 read more than 1.15x wrk's had a lag of 11% of its p50 or more (1.15x at
# 11%, 1.24x at 14%, 1.44x at 38%); runs with 6-7% read 0.94-1.01x.
LAG_SHARE = 0.10
# Under this floor the error is under half a millisecond, whatever share of the p50 it is:
# an idle loop wakes a timer 0.05-0.2 ms late (the kernel's timer slack), and the example's
# steady-100 (p50 1.1 ms, 35% of a core) lags 0.4 ms; a flag on every such run is noise.
LAG_FLOOR = 0.0005  # s
# A generator that waits for a core this share of its runnable time, while wanting this
# much of one, is starved: descheduled in long stretches, it reads a backlog of replies at
# once, which a timer ticking every 10 ms undercounts (beside wrk on fastapi-crud-async
# with a busy loop: 86% wanted, 45% waiting, lag 10-13% of a p50 1.6-2.5x wrk's; the
# example's quiet scenarios: 9-41% wanted, 2-19% waiting).
STARVED_WAIT = 0.35
STARVED_DEMAND = 50.0  # % of one core
NOTED_WAIT = 0.15  # a flagged generator waiting this much is told to find a quieter machine
CPU_WARMUP = 1.0  # seconds of start-up (imports) left out of the generator's CPU


def generator_bound(
    cpu: float, wanted: float, waiting: float, lag: float = 0.0, p50: float | None = None
) -> bool:
    """Whether a Locust process's own delays are in the response times it measured: it was
    busy (`cpu`, % of one core), wanted more than a core could give (CPU and run-queue
    wait, `wanted`), was starved (`waiting`, the share of `wanted` spent waiting, past
    STARVED_WAIT while it wanted a good part of a core), or its event loop ran late
    (`lag`, s) by LAG_SHARE of the `p50` (s) it reported."""
    if cpu > SATURATED_CPU or wanted > SATURATED_CPU:
        return True
    if wanted >= STARVED_DEMAND and waiting >= STARVED_WAIT:
        return True
    return lagged(lag, p50)


def lagged(lag: float, p50: float | None) -> bool:
    """Whether the event loop's lag (s) is LAG_SHARE of the `p50` (s) or more, and past
    LAG_FLOOR."""
    return bool(p50) and lag >= max(LAG_SHARE * (p50 or 0.0), LAG_FLOOR)


def loop_lag(pools: list[dict[str, Any]]) -> float:
    """The mean delay (s) the slowest Locust process's event loop added to what it timed:
    how late a 10 ms timer ran while requests flowed (the harness's probe)."""
    found = [
        float(lag["ms"]) / int(lag["ticks"]) / 1000.0
        for lag in (p.get("lag") or {} for p in pools)
        if int(lag.get("ticks") or 0)
    ]
    return max(found, default=0.0)


def schedstat(pid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns runnable but waiting for one) of the process's main thread, from
    Linux's /proc/PID/schedstat; None where the kernel does not keep it."""
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


class CpuWatch:
    """CPU of each Locust process, as % of one core, sampled every tick; and what each
    wanted: CPU plus the time it was runnable but waited for a core. A generator starved
    of CPU by other work queues its requests as surely as a busy one, yet its CPU reads
    low (a third of its runnable time spent waiting, seen beside wrk on 2 cores)."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._born: dict[int, float] = {}
        self.samples: dict[int, list[float]] = {}
        self.machine: list[float] = []
        # pid -> (first, last) (monotonic s, CPU ns, wait ns) after the warm-up
        self._sched: dict[int, list[tuple[float, int, int]]] = {}
        psutil.cpu_percent(None)

    def sample(self, procs: list[OwnedProcess]) -> None:
        now = time.monotonic()
        # The whole machine too: a generator that waits for a core queues like a busy one.
        self.machine.append(psutil.cpu_percent(None))
        for owned in procs:
            proc = self._procs.get(owned.pid)
            try:
                if proc is None:
                    proc = self._procs[owned.pid] = psutil.Process(owned.pid)
                    self._born[owned.pid] = now
                    proc.cpu_percent(None)
                    continue
                value = proc.cpu_percent(None)
            except psutil.Error:
                continue
            if now - self._born[owned.pid] >= CPU_WARMUP:
                self.samples.setdefault(owned.pid, []).append(value)
                sched = schedstat(owned.pid)
                if sched is not None:
                    seen = self._sched.setdefault(owned.pid, [])
                    seen[1:] = [(now, *sched)]
                    if len(seen) == 1:
                        seen.append(seen[0])

    def busiest(self) -> float:
        means = [sum(v) / len(v) for v in self.samples.values() if v]
        return max(means, default=0.0)

    def demand(self) -> tuple[float, float]:
        """(% of one core the busiest process wanted: on a CPU or waiting for one, the
        share of that spent waiting); (0, 0) where schedstat is not kept."""
        found = []
        for (t0, cpu0, wait0), (t1, cpu1, wait1) in (v for v in self._sched.values() if v):
            wall, cpu, wait = t1 - t0, (cpu1 - cpu0) / 1e9, (wait1 - wait0) / 1e9
            if wall >= 0.5 and cpu + wait > 0:
                found.append((100.0 * (cpu + wait) / wall, wait / (cpu + wait)))
        return max(found, default=(0.0, 0.0))


def bound_note(
    name: str, cpu: float, wanted: float, waiting: float, lag: float, p50: float | None
) -> str:
    """Why a generator-bound scenario's latency is the generator's, in one line."""
    if cpu <= SATURATED_CPU and waiting >= NOTED_WAIT:
        why = (
            f"wanted {wanted:.0f}% of a core and waited for one {waiting:.0%} of that time"
            " (other work had the CPUs)"
        )
        fix = "Run it on a quieter machine"
    else:
        why, fix = f"used {cpu:.0f}% of a core", "Run with --workers N"
    if p50 and lagged(lag, p50) and cpu <= SATURATED_CPU:
        why += (
            f"; its event loop ran {lag * 1000:.1f} ms late on average ({lag / p50:.0%} of the p50)"
        )
    return (
        f"scenario {name!r}: the load generator {why}; its own queueing is in these"
        f" response times. {fix}"
    )
