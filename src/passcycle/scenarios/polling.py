"""A poller: one question asked of the service every `interval` from a thread of its own
while a scenario's load runs, each answer timed from the scenario's start.

Hypothesis probes and breaker reads are both pollers. A thread of passcycle's own, not a
Locust user: Locust's users queue behind each other, so a question asked there would be
answered late by the generator, not by the service."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")


class Poller(Generic[T]):
    """Calls `ask(client)` every `interval` until stopped; `keep(at, answer, took)` gets
    what it returned, `at` in seconds since the scenario started (answers asked before the
    start is known, or while stopping, are dropped)."""

    def __init__(
        self,
        base_url: str,
        clock: Callable[[], float | None],
        interval: float,
        timeout: float,
        name: str = "passcycle-probe",
    ) -> None:
        self.base_url = base_url
        self.clock = clock  # the scenario's start (epoch seconds), once known
        self.interval = interval
        self.timeout = timeout
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + self.timeout + 2.0)

    def ask(self, client: httpx.Client) -> T:  # pragma: no cover - each poller's own
        raise NotImplementedError

    def keep(self, at: float, answer: T, took: float) -> None:  # pragma: no cover
        raise NotImplementedError

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            while not self._stop.is_set():
                asked, began = time.time(), time.monotonic()
                answer = self.ask(client)
                took = time.monotonic() - began
                start = self.clock()
                if start is not None and not self._stop.is_set():
                    self.keep(asked - start, answer, took)
                self._stop.wait(max(0.0, self.interval - took))
