"""The circuit breaker: stop asking a backend that keeps failing, and try again later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    """closed -> open after `failure_threshold` consecutive failures -> half-open after
    `reset_timeout` seconds, where one trial call decides: success closes, failure re-opens.

    The clock is injectable so that tests move time instead of sleeping.
    """

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    @property
    def failures(self) -> int:
        return self._failures

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.reset_timeout:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one trial call at a time."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == OPEN:
                return False
            now = self._clock()
            # A trial whose result never came back (the caller was cancelled) must not
            # keep the breaker half-open for ever: after another cool-down, allow a new one.
            if self._trial_started is not None and now - self._trial_started < self.reset_timeout:
                return False
            self._trial_started = now
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_started = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_started = None
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                # A failed trial re-opens for a full cool-down.
                self._opened_at = self._clock()
