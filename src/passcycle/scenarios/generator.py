"""How many Locust processes generate a scenario's load when the user did not say (#16).

One Python process is Locust's limit: past about 90% of a core its own queueing shows as
the service's latency (load.py flags the scenario generator-bound). So passcycle decides
before a scenario runs, from what the history measured of its generator last time: a
scenario that was generator-bound gets enough processes for the demand it measured, as
many as the cores the generator may take allow; any other keeps the processes it needed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from passcycle.scenarios.saturation import STARVED_WAIT

# % of one core a Locust process is planned to use: headroom under the 90% at which a
# scenario is flagged, since demand varies from run to run and Locust's gevent loop
# queues well before it is full
PROCESS_SHARE = 70.0


@dataclass(frozen=True, slots=True)
class LastGenerator:
    """What the history recorded of a scenario's generator in the last run that ran it."""

    demand: float  # % of one core the busiest process wanted (its CPU where not kept)
    processes: int  # Locust processes that generated the load (1 before they were recorded)
    bound: bool  # flagged generator-bound
    waiting: float = 0.0  # share of `demand` spent runnable, waiting for a core


@dataclass(frozen=True, slots=True)
class GeneratorChoice:
    scenario: str
    workers: int  # local Locust workers; 0: one process generates the load
    note: str = ""  # one line for the terminal when the default changed (or could not)

    @property
    def processes(self) -> int:
        return max(1, self.workers)


def generator_cores(cores: int = 0) -> int:
    """The cores the generator may take: `cores` from the plan, else those this process
    may run on (its CPU affinity, which taskset and containers narrow) less one kept for
    the service under test, which shares the machine; at least one."""
    if cores:
        return cores
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, usable - 1)


def choose_workers(scenario: str, last: LastGenerator | None, cores: int) -> GeneratorChoice:
    """Local Locust workers for `scenario`, from its generator's last run and the cores
    the generator may take. The load the last run needed in all is what its busiest
    process ran (its demand less its waits) times its processes (they share the users
    evenly); a generator-bound run gets at least one process more than it had, unless it
    was starved of a core rather than busy."""
    if last is None or (not last.bound and last.processes <= 1):
        return GeneratorChoice(scenario, 0)
    # the work to share out is what the processes ran, not what they waited: a generator
    # starved of a core by other work would wait as long in two processes (measured on two
    # shared cores: p50 +61%, 13% fewer requests/s than one)
    total = last.demand * (1.0 - last.waiting) * last.processes
    wanted = math.ceil(total / PROCESS_SHARE)
    starved = last.waiting >= STARVED_WAIT
    if last.bound and not starved:
        wanted = max(wanted, last.processes + 1)
    processes = max(1, min(wanted, cores))
    demand = f"demand {total:.0f}% of a core"
    if last.bound and starved and processes <= last.processes:
        return GeneratorChoice(
            scenario,
            0 if processes == 1 else processes,
            f"scenario {scenario!r} was generator-bound last run, waiting for a core"
            f" {last.waiting:.0%} of the time it wanted one: more Locust processes would wait"
            " as well — run it where other work leaves a core free",
        )
    if last.bound and processes <= last.processes:
        more = "no core to spare for a second Locust process"
        if processes > 1:
            more = f"cores for no more than {processes} Locust processes"
        return GeneratorChoice(
            scenario,
            0 if processes == 1 else processes,
            f"scenario {scenario!r} was generator-bound last run ({demand}); this machine"
            f" has {more} — give --workers {wanted} to try anyway",
        )
    if processes == 1:
        return GeneratorChoice(scenario, 0)
    why = "was generator-bound" if last.bound else f"used {last.processes} Locust processes"
    return GeneratorChoice(
        scenario,
        processes,
        f"scenario {scenario!r} {why} last run ({demand}): {processes} Locust processes this run",
    )
