"""Resource sampling of a real process tree: RSS summed, CPU normalised to the machine."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from passcycle.scenarios.sampling import TreeSampler, TreeSamples, bounded

# A parent holding 40 MB, with a child that spins one core.
TREE = """
import subprocess, sys, time
ballast = bytearray(40 * 1024 * 1024)
child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print("ready", flush=True)
try:
    time.sleep(60)
finally:
    child.kill()
"""


def test_samples_memory_and_cpu_of_the_whole_tree() -> None:
    proc = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        spinner = psutil.Process(proc.pid).children()[0]
        cpu_before, wall_before = sum(spinner.cpu_times()[:2]), time.monotonic()
        with TreeSampler(proc.pid, interval=0.1) as sampler:
            time.sleep(1.5)
        cpu_after, wall_after = sum(spinner.cpu_times()[:2]), time.monotonic()
        samples = sampler.samples
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    assert samples.processes == 2
    assert len(samples.rss) >= 8
    assert max(samples.rss) > 40 * 1024 * 1024  # the parent's ballast counts
    # The spinner's CPU over the same window, as a share of the whole machine (the
    # machine may be shared: compare with what the kernel says, not with one full core).
    cores = psutil.cpu_count() or 1
    expected = 100.0 * (cpu_after - cpu_before) / (wall_after - wall_before) / cores
    mean = sum(samples.cpu) / len(samples.cpu)
    assert expected > 1.0
    assert abs(mean - expected) <= max(3.0, 0.35 * expected), (mean, expected)
    assert max(samples.cpu) <= 100.0


def test_measurements_are_peak_memory_and_mean_cpu() -> None:
    samples = TreeSamples(rss=(100.0, 300.0, 200.0), cpu=(10.0, 30.0, 20.0), processes=1)
    found = {m.name: m for m in samples.measurements("scenario:s")}
    assert found["memory_rss"].value == 300.0 and found["memory_rss"].unit == "B"
    assert found["memory_rss"].samples == (100.0, 300.0, 200.0)
    assert found["cpu_utilization"].value == 20.0 and found["cpu_utilization"].unit == "%"
    assert found["cpu_utilization_peak"].value == 30.0
    assert {m.source for m in found.values()} == {"scenario:s"}


def test_a_process_that_is_gone_gives_no_samples() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with TreeSampler(proc.pid, interval=0.05) as sampler:
        time.sleep(0.2)
    assert sampler.samples.rss == () and sampler.samples.measurements("x") == []


def test_bounded_keeps_the_shape_of_a_long_series() -> None:
    values = [float(i) for i in range(10_000)]
    kept = bounded(values, 100)
    assert len(kept) == 100 and kept[0] == 0.0 and kept[-1] >= 9_800
    assert bounded([1.0, 2.0], 100) == (1.0, 2.0)


def _series(rate: float, seconds: float, warmup_jump: float = 0.0) -> TreeSamples:
    """RSS sampled every 0.5 s: 100 MB, a jump in the first quarter (caches filling),
    growing by `rate` bytes a second, with a wobble of about ±0.5 MB."""
    times = tuple(i * 0.5 for i in range(int(seconds * 2)))
    rss = tuple(
        100e6
        + (warmup_jump if t > seconds / 4 else 0.0)
        + rate * t
        + (5e5 if i % 3 == 0 else -2.5e5)
        for i, t in enumerate(times)
    )
    return TreeSamples(rss, tuple(10.0 for _ in times), 1, times)


def test_growth_is_the_slope_after_warm_up() -> None:
    leaking = _series(rate=50_000, seconds=60, warmup_jump=40e6)
    assert abs(leaking.growth() - 50_000) < 5_000  # type: ignore[operator]
    steady = _series(rate=0, seconds=60, warmup_jump=40e6)  # filled its caches, then flat
    assert abs(steady.growth()) < 5_000  # type: ignore[arg-type]
    found = {m.name: m for m in leaking.measurements("scenario:soak")}
    assert found["memory_growth"].unit == "B/s"
    assert found["memory_growth"].value == leaking.growth()


def test_growth_needs_a_long_enough_span() -> None:
    short = _series(rate=50_000, seconds=20)
    assert short.growth() is None
    assert "memory_growth" not in {m.name for m in short.measurements("scenario:s")}
    assert TreeSamples((1.0, 2.0), (1.0, 1.0), 1).growth() is None  # no times: no slope
