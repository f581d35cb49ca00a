"""The service's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The `_created` timestamp series would read as values named like our counters
# (organism_sessions_created); a scraper judging KPIs wants counts only.
disable_created_metrics()

# A ratio with nothing to count yet is NaN ("no data"), not 0 (a failure) or 1 (a success).
NO_DATA = math.nan


class Metrics:
    """Every series the service exposes; one instance per app, so tests do not share state."""

    def __init__(self, harmony_window: int = 1000) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.orchestrations = Counter(
            "organism_orchestration", "Orchestrations by result.", ["result"], registry=r
        )
        self.success_ratio = Gauge(
            "organism_orchestration_success_ratio",
            "Share of orchestrations that produced an answer, since start.",
            registry=r,
        )
        self.harmony = Gauge(
            "organism_harmony_ratio",
            "Mean share of answering backends that agreed with the majority, recent window.",
            registry=r,
        )
        self.sessions_active = Gauge(
            "organism_sessions_active", "Sessions in state active.", registry=r
        )
        self.sessions_created = Counter(
            "organism_sessions", "Sessions created since start.", registry=r
        )
        self.persistence_ratio = Gauge(
            "organism_session_persistence_ratio",
            "Share of session reads that returned exactly what was written.",
            registry=r,
        )
        self.breaker_open = Gauge(
            "organism_breaker_open",
            "1 while the backend's breaker is open.",
            ["backend"],
            registry=r,
        )
        self.cache_hits = Counter(
            "organism_cache_hits", "Orchestrations answered from the cache.", registry=r
        )
        self.backend_calls = Counter(
            "organism_backend_calls",
            "Calls to model backends by outcome (ok, error, timeout, busy, skipped).",
            ["backend", "outcome"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "organism_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
            registry=r,
        )
        self._lock = threading.Lock()
        self._succeeded = 0
        self._orchestrated = 0
        self._harmonies: deque[float] = deque(maxlen=harmony_window)
        self._reads = 0
        self._intact_reads = 0
        for gauge in (self.success_ratio, self.harmony, self.persistence_ratio):
            gauge.set(NO_DATA)

    def orchestrated(self, success: bool, harmony: float | None = None) -> None:
        """Count one orchestration; `harmony` only when backends were actually asked."""
        self.orchestrations.labels(result="success" if success else "failure").inc()
        with self._lock:
            self._orchestrated += 1
            self._succeeded += success
            self.success_ratio.set(self._succeeded / self._orchestrated)
            if harmony is not None:
                self._harmonies.append(harmony)
                self.harmony.set(sum(self._harmonies) / len(self._harmonies))

    def cache_hit(self) -> None:
        self.cache_hits.inc()

    def backend_call(self, backend: str, outcome: str) -> None:
        self.backend_calls.labels(backend=backend, outcome=outcome).inc()

    def breakers(self, open_by_backend: Iterable[tuple[str, bool]]) -> None:
        for backend, is_open in open_by_backend:
            self.breaker_open.labels(backend=backend).set(1.0 if is_open else 0.0)

    def session_created(self) -> None:
        self.sessions_created.inc()
        self.sessions_active.inc()

    def session_ended(self) -> None:
        self.sessions_active.dec()

    def persistence_checked(self, intact: bool) -> None:
        with self._lock:
            self._reads += 1
            self._intact_reads += intact
            self.persistence_ratio.set(self._intact_reads / self._reads)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """Pure ASGI middleware timing each HTTP request under its route template, so that
    /sessions/{session_id} is one series and not one per id."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(
                method=scope["method"], route=route, status=str(status)
            ).observe(time.perf_counter() - started)
