"""The Locust side of an open-model scenario (`rate`): iterations started on a fixed
schedule, each request timed from when it was meant to start.

NEVER imported by passcycle: locustgen.py appends this file's text after harness.py when a
scenario has a rate, and Locust runs it in its own process.

Locust still sends the traffic, but a closed-model user (request, answer, think, again)
cannot keep a schedule: a stalled service stops its users, so the requests they would
have sent are never sent and never timed (coordinated omission, which wrk2 corrects in
wrk). Here one user per Locust process runs the schedule as its task: arrival N is due
at a fixed offset from the start whatever the answers, and at that time a greenlet is
spawned for it. The greenlet takes one of the in-flight slots (`users`, split over the
processes), waiting if none is free, plays the steps on the user's FastHttpSession
(whose connection pool has one connection per slot), and records the time from the
arrival's intended start to each answer into an HdrHistogram (1 µs to 1 h, 3
significant digits). The scheduler records its own lateness, the time from when an
arrival was due to when it was spawned, into a second one: that is the generator, not
the service, and passcycle says when it fell behind. Locust's own statistics (requests,
failures, throughput per second) are kept as they are.
"""

import math
import os
import time
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore
from gevent.pool import Group
from hdrh.histogram import HdrHistogram
from locust import constant, events, task
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_STOPPING

if "StepsUser" not in globals():  # alone (lint); a generated file has harness.py above
    from passcycle.scenarios.harness import _STATE, PASSCYCLE, StepsUser, _sample, _write

_HIGHEST_US = 3_600_000_000  # one hour: a longer wait is recorded as one hour
_RATE: list[float] = PASSCYCLE.get("rate") or [1.0, 1.0]
_DURATION = float(PASSCYCLE.get("duration") or 1.0)
_PROCESSES = max(1, int(PASSCYCLE.get("processes") or 1))
_IN_FLIGHT = max(1, math.ceil(int(PASSCYCLE.get("in_flight") or 10) / _PROCESSES))
_STOP_TIMEOUT = float(PASSCYCLE.get("stop_timeout") or 0.0)


def _histogram() -> Any:
    return HdrHistogram(1, _HIGHEST_US, 3)


def _us(seconds: float) -> int:
    return min(_HIGHEST_US, max(1, round(seconds * 1e6)))


_TIMED: dict[str, Any] = {
    "total": _histogram(),  # every request, from its intended start to its answer
    "lag": _histogram(),  # every arrival, from when it was due to when it was spawned
    "steps": {},  # "METHOD label" -> histogram
    "arrivals": 0,
    "waited": 0,  # arrivals that found every slot taken
    "peak": 0,  # the most in flight at once in this process
    "unfinished": 0,  # still unanswered when the scenario ended
}


def due(number: int) -> float:
    """Seconds from the start when arrival `number` (0-based, over every process) is due:
    the rate ramps evenly from its first to its last value over the duration."""
    start, end = _RATE
    if start == end:
        return number / start
    slope = (end - start) / _DURATION
    # arrivals by time t: start*t + slope*t²/2; solved for t
    return (math.sqrt(max(0.0, start * start + 2 * slope * number)) - start) / slope


@events.quitting.add_listener
def _on_quitting_schedule(environment: Any, **_kw: Any) -> None:
    if not _TIMED["arrivals"]:
        return  # a master of workers: they kept the schedule

    def encoded(histogram: Any) -> str:
        return bytes(histogram.encode()).decode("ascii")

    _write(f"schedule-{os.getpid()}.json", {
        "rate": _RATE, "processes": _PROCESSES,
        "total": encoded(_TIMED["total"]), "lag": encoded(_TIMED["lag"]),
        "steps": {key: encoded(h) for key, h in _TIMED["steps"].items()},
        **{k: _TIMED[k] for k in ("arrivals", "waited", "peak", "unfinished")},
    })  # fmt: skip


if PASSCYCLE.get("rate"):

    class PasscycleRateUser(StepsUser):
        """An open model: this process's share of the schedule, at most _IN_FLIGHT
        iterations in flight at once."""

        concurrency = _IN_FLIGHT  # FastHttpSession's pool: one connection per slot
        wait_time = constant(0)

        @task
        def schedule(self) -> None:
            # Process k of n takes arrivals k, k+n, k+2n...: together they keep one schedule.
            first = max(0, int(getattr(self.environment.runner, "worker_index", 0))) % _PROCESSES
            slots = BoundedSemaphore(_IN_FLIGHT)
            pending: dict[int, float] = {}  # arrival -> when it was due (perf_counter)
            group = Group()
            start = time.perf_counter()
            number = first
            try:
                while not self._stopping():
                    offset = due(number)
                    if offset >= _DURATION:
                        break
                    at = start + offset
                    # sleep to the due time; when late, still yield, so that the
                    # arrivals spawned already get to run
                    gevent.sleep(max(0.0, at - time.perf_counter()))
                    if self._stopping():
                        break
                    _TIMED["lag"].record_value(_us(time.perf_counter() - at))
                    _TIMED["arrivals"] += 1
                    pending[number] = at
                    group.spawn(self._arrive, number, at, slots, pending)
                    number += _PROCESSES
                group.join(timeout=_STOP_TIMEOUT)
            finally:
                # Unanswered at the end: the wait so far counts (a lower bound), so that a
                # stall at the very end is not dropped from the figures.
                now = time.perf_counter()
                for at in pending.values():
                    _TIMED["total"].record_value(_us(now - at))
                    _TIMED["unfinished"] += 1
                pending.clear()
                group.kill(block=False)
            raise StopUser()

        def _stopping(self) -> bool:
            return bool(_STATE["stopping"] or self._state == LOCUST_STATE_STOPPING)

        def _arrive(self, number: int, at: float, slots: Any, pending: dict[int, float]) -> None:
            try:
                if slots.locked():
                    _TIMED["waited"] += 1  # its wait for a slot is in its time
                with slots:
                    _TIMED["peak"] = max(_TIMED["peak"], _IN_FLIGHT - slots.counter)
                    self._iterate({"user": self.number, "iteration": number + 1}, due=at)
            except StopUser:
                pass  # a mistake in the plan: _fatal has stopped the test
            finally:
                pending.pop(number, None)

        def _timed(self, step: dict[str, Any], began: float, ok: bool) -> None:
            took = time.perf_counter() - began
            key = f"{step['method']} {step['label']}"
            _TIMED["total"].record_value(_us(took))
            found = _TIMED["steps"].get(key)
            if found is None:
                found = _TIMED["steps"][key] = _histogram()
            found.record_value(_us(took))
            _sample(key, took * 1000.0, time.time() - took, not ok)
