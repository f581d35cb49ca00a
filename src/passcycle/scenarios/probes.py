"""Probes of the running service: its metrics endpoint and its health, from outside.

The metrics endpoint is read before and after the scenarios. Prometheus text format
(prometheus_client's parser) or flat JSON `{name: number}`; every series becomes a
measurement named like the series (`queue_depth{queue="a"}` for labelled ones, the bare
name for unlabelled ones) with source "metric:NAME"; a counter also gets its increase
over the scenarios as `increase(NAME)`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import httpx

from passcycle.errors import RunError
from passcycle.records import Measurement

MAX_SERIES = 1000  # a metrics page with more series keeps the first ones


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    values: dict[str, float] = field(default_factory=dict)
    counters: frozenset[str] = frozenset()  # series that only go up (Prometheus counters)


def series_name(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_metrics(text: str, content_type: str = "") -> MetricsSnapshot:
    """Prometheus text or flat JSON; JSON is tried when the body looks like an object."""
    if "json" in content_type or text.lstrip().startswith("{"):
        return _parse_json(text)
    return _parse_prometheus(text)


def _parse_json(text: str) -> MetricsSnapshot:
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("JSON metrics must be an object {name: number}")
    values = {
        str(k): float(v)
        for k, v in data.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return MetricsSnapshot(dict(list(values.items())[:MAX_SERIES]))


def _parse_prometheus(text: str) -> MetricsSnapshot:
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    counters: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if len(values) >= MAX_SERIES:
                break
            if not math.isfinite(sample.value):
                continue
            name = series_name(sample.name, dict(sample.labels))
            values[name] = float(sample.value)
            # untyped series named *_total are counters by Prometheus' naming convention
            counter = family.type == "counter" or (
                family.type in ("unknown", "untyped") and sample.name.endswith("_total")
            )
            if counter and not sample.name.endswith("_created"):
                counters.add(name)
    return MetricsSnapshot(values, frozenset(counters))


def read_metrics(url: str, timeout: float = 5.0) -> MetricsSnapshot:
    """GET the metrics URL; a page that cannot be read is a RunError naming the URL."""
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        return parse_metrics(response.text, response.headers.get("content-type", ""))
    except (httpx.HTTPError, ValueError) as exc:
        raise RunError(
            f"cannot read the service's metrics at {url}: {exc}",
            hint="service.metrics must answer Prometheus text or JSON {name: number}",
        ) from None


def metric_measurements(before: MetricsSnapshot, after: MetricsSnapshot) -> list[Measurement]:
    """Each series as read after the scenarios; counters also with their increase."""
    found = [Measurement(name, value, "", f"metric:{name}") for name, value in after.values.items()]
    for name in sorted(after.counters):
        if name in before.values:
            increase = after.values[name] - before.values[name]
            found.append(Measurement(f"increase({name})", increase, "", f"metric:{name}"))
    return found


class HealthProbe:
    """Asks the health URL every `interval` seconds in a thread; `uptime` is the share
    answered 2xx within the timeout."""

    def __init__(self, url: str, interval: float = 1.0, timeout: float = 1.0) -> None:
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.answered = 0
        self.asked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="passcycle-health", daemon=True)

    def __enter__(self) -> HealthProbe:
        self.start()
        return self

    def start(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout + 2.0)

    @property
    def uptime(self) -> float | None:
        return 100.0 * self.answered / self.asked if self.asked else None

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                started = time.monotonic()
                try:
                    ok = client.get(self.url).is_success
                except httpx.HTTPError:
                    ok = False
                if self._stop.is_set():
                    return  # stopped during the probe: it does not count
                self.asked += 1
                self.answered += ok
                if self._stop.wait(max(0.0, self.interval - (time.monotonic() - started))):
                    return
