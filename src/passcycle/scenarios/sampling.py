"""Resource sampling: the service's process tree (RSS and CPU) at a fixed interval.

A thread asks psutil every `interval` seconds for the tree under the service's leader:
RSS is summed over the tree, CPU % is summed and divided by the machine's cores, so 100%
means every core busy (as the `cpu_utilization` KPI is defined).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

from passcycle.records import Measurement

MAX_SAMPLES = 2000
# A growth rate needs this long a span of samples: a service fills its caches, pools and
# allocator arenas as load starts, which a short scenario would report as a leak.
GROWTH_SPAN = 30.0  # seconds
GROWTH_SAMPLES = 20


@dataclass(frozen=True, slots=True)
class TreeSamples:
    rss: tuple[float, ...]  # bytes, summed over the tree
    cpu: tuple[float, ...]  # % of the whole machine
    processes: int  # the most processes seen in the tree at once
    times: tuple[float, ...] = ()  # seconds (monotonic) of each rss/cpu sample

    def growth(self) -> float | None:
        """RSS growth in bytes per second: the least-squares slope over the second half of
        the samples (the first half is warm-up); None for a span too short to tell."""
        if len(self.times) != len(self.rss) or len(self.rss) < GROWTH_SAMPLES:
            return None
        if self.times[-1] - self.times[0] < GROWTH_SPAN:
            return None
        from scipy.stats import linregress

        half = len(self.rss) // 2
        return float(linregress(self.times[half:], self.rss[half:]).slope)

    def measurements(self, source: str) -> list[Measurement]:
        """memory_rss (peak), memory_growth (slope, on long enough scenarios),
        cpu_utilization (mean) and cpu_utilization_peak."""
        found: list[Measurement] = []
        if self.rss:
            found.append(Measurement("memory_rss", max(self.rss), "B", source, bounded(self.rss)))
        growth = self.growth()
        if growth is not None:
            found.append(Measurement("memory_growth", growth, "B/s", source))
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
        self._times: list[float] = []
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
        return TreeSamples(tuple(self._rss), tuple(self._cpu), self._most, tuple(self._times))

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
            self._times.append(time.monotonic())
