"""Resource sampling: the service's process tree (RSS and CPU) at a fixed interval.

A thread asks psutil every `interval` seconds for the tree under the service's leader:
RSS is summed over the tree, CPU % is summed and divided by the machine's cores, so 100%
means every core busy (as the `cpu_utilization` KPI is defined).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil

from passcycle.records import Measurement

MAX_SAMPLES = 2000


@dataclass(frozen=True, slots=True)
class TreeSamples:
    rss: tuple[float, ...]  # bytes, summed over the tree
    cpu: tuple[float, ...]  # % of the whole machine
    processes: int  # the most processes seen in the tree at once

    def measurements(self, source: str) -> list[Measurement]:
        """memory_rss (peak), cpu_utilization (mean) and cpu_utilization_peak."""
        found: list[Measurement] = []
        if self.rss:
            found.append(Measurement("memory_rss", max(self.rss), "B", source, bounded(self.rss)))
        if self.cpu:
            cpu = bounded(self.cpu)
            found.append(
                Measurement("cpu_utilization", sum(self.cpu) / len(self.cpu), "%", source, cpu)
            )
            found.append(Measurement("cpu_utilization_peak", max(self.cpu), "%", source))
        return found


def bounded(values: tuple[float, ...] | list[float], limit: int = MAX_SAMPLES) -> tuple[float, ...]:
    """At most `limit` values, evenly spaced over the series."""
    if len(values) <= limit:
        return tuple(values)
    step = len(values) / limit
    return tuple(values[int(i * step)] for i in range(limit))


class TreeSampler:
    """Samples a process and its descendants in a thread: `with TreeSampler(pid) as s:`."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self._cores = psutil.cpu_count() or 1
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._rss: list[float] = []
        self._cpu: list[float] = []
        self._most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="passcycle-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._tick(prime=True)
        self._thread.start()

    def stop(self) -> TreeSamples:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        return self.samples

    @property
    def samples(self) -> TreeSamples:
        return TreeSamples(tuple(self._rss), tuple(self._cpu), self._most)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def _tick(self, prime: bool = False) -> None:
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return  # the service is gone; the runner reports that, not the sampler
        rss = cpu = 0.0
        alive: dict[tuple[int, float], psutil.Process] = {}
        for proc in tree:
            try:
                key = (proc.pid, proc.create_time())
                known = self._procs.get(key, proc)
                with known.oneshot():
                    # cpu_percent(None) compares with the previous call on the same
                    # object: a process seen for the first time counts from now on.
                    busy = known.cpu_percent(None)
                    rss += known.memory_info().rss
                cpu += busy if key in self._procs else 0.0
                alive[key] = known
            except psutil.Error:
                continue
        self._procs = alive
        self._most = max(self._most, len(alive))
        if not prime:
            self._rss.append(rss)
            self._cpu.append(cpu / self._cores)
