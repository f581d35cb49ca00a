"""How much of the machine other work took while the suite ran.

Solo time (wall less run-queue wait) and the speed probe take out the waiting and the slow
spells, not the cost of sharing caches with other busy processes: with two other jobs
busy on a 2-CPU runner one unchanged run of more-itertools measured +32%. The machine's
busy CPU time (every process, and time the hypervisor stole) less passcycle's own and its
waited-for children's (the pytest processes) is the other work; averaged over the suite's
wall time it is how many CPUs others kept busy, which the verdict compares with the
baseline's (validate/noise.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True, slots=True)
class CpuMark:
    busy: float  # the machine's non-idle CPU seconds since boot
    own: float  # this process's and its waited-for children's CPU seconds
    at: float  # monotonic seconds


def mark() -> CpuMark:
    machine = psutil.cpu_times()
    own = os.times()
    return CpuMark(
        sum(getattr(machine, name, 0.0) for name in _BUSY),
        own.user + own.system + own.children_user + own.children_system,
        time.monotonic(),
    )


def others_since(start: CpuMark) -> float | None:
    """CPUs that processes other than this one and its children kept busy since `start`,
    on average; None when too little time passed to say."""
    end = mark()
    wall = end.at - start.at
    if wall < 0.2:  # the counters tick in hundredths of a second
        return None
    other = (end.busy - start.busy) - (end.own - start.own)
    return round(max(0.0, other / wall), 3)
