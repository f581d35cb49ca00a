"""Each test's clocks (CPU, solo, the machine's speed as it starts) and its timeout."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest


class Timeout(BaseException):
    """Raised by SIGALRM in a test that ran past PASSCYCLE_TIMEOUT.

    A BaseException so that a test's own `except Exception` cannot swallow it.
    """


class TimeoutGuard:
    """PASSCYCLE_TIMEOUT seconds a test (SIGALRM, POSIX main thread), around everything."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        timeout = self.seconds
        armed = (
            hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        )
        previous: Any = None
        if armed:

            def on_alarm(signum: int, frame: Any) -> None:
                raise Timeout(f"test exceeded the {timeout}s timeout")

            previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            yield
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)


LONG_TEST = 0.05  # seconds: a test this long is probed as it ends too (40 us more)


class Clock:
    """Each test's CPU time, its solo time (wall less the time it waited for a CPU) and the
    machine's speed as it starts (and ends, for a long test), on its teardown report
    (validate/noise.py, #9).

    Wall time alone cannot judge a slower suite: other jobs on a shared runner stretch every
    test at once. The CPU time and the run-queue delay let the judge take contention out.
    """

    def __init__(self) -> None:
        self.schedstat: int | None = None  # /proc/thread-self/schedstat, kept open

    @pytest.hookimpl(hookwrapper=True, trylast=True)  # innermost: the test and nothing else
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        probe = self.probe()  # before the clock starts: the probe is not the test's time
        started = (time.perf_counter(), time.process_time(), self.run_delay(), probe)
        item._passcycle_clock = started  # type: ignore[attr-defined]
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        started = getattr(item, "_passcycle_clock", None)
        if call.when != "teardown" or started is None:
            return
        # plain attributes, so that they travel with the report through pytest-xdist
        wall, cpu, delay = time.perf_counter(), time.process_time(), self.run_delay()
        report.passcycle_cpu = round(cpu - started[1], 6)
        if delay is not None and started[2] is not None:
            # the wall time it would have taken alone: less its wait for a CPU
            report.passcycle_solo = round(max(wall - started[0] - (delay - started[2]), 0.0), 6)
        probe = started[3]
        if wall - started[0] > LONG_TEST:
            # the machine can change speed within a long test: its mean speed is nearer
            # the mean of both ends than its start alone (mistune: 1.7 s tests)
            probe = (probe + self.probe()) / 2
        report.passcycle_probe = round(probe, 9)

    @staticmethod
    def probe() -> float:
        """Seconds a fixed piece of work takes now (the best of 2, ~25 us each): the
        machine's speed as a test starts. A virtual CPU can run 1.5-2x slower for seconds at
        a time (an idle spell, a busy neighbour on the host) with no wait to see; each
        test's time over this is its time at equal speed (validate/noise.py)."""
        best = 1.0
        for _ in range(2):
            started = time.perf_counter()
            x = 0
            for i in range(200):
                x += i * i % 7
            best = min(best, time.perf_counter() - started)
        return best

    def run_delay(self) -> float | None:
        """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat's
        run_delay); None where the kernel does not tell. Read through a descriptor kept
        open: 8 us a read, where opening the file each time cost 250 us on a loaded
        machine."""
        if self.schedstat == -1:
            return None
        try:
            if self.schedstat is None:
                self.schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
            return int(os.pread(self.schedstat, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            self.schedstat = -1
            return None
