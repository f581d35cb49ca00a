"""A load run's numbers from what Locust wrote: exact percentiles from raw samples, each
fault phase apart, and the steady throughput."""

from __future__ import annotations

import glob
import json
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from passcycle.scenario_sections import ScenarioSection


@dataclass(frozen=True, slots=True)
class RequestStats:
    """Locust's statistics of one request name (a step), or of all of them."""

    name: str
    method: str
    requests: int
    failures: int
    p50: float | None  # seconds
    p95: float | None
    p99: float | None
    mean: float | None
    throughput: float  # requests per second

    @property
    def error_rate(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class PhaseStats:
    """The requests of a scenario made before, during or after its faults."""

    requests: int
    failures: int
    samples: tuple[float, ...]  # response times in seconds, a uniform sample

    @property
    def error_rate(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    @property
    def p95(self) -> float | None:
        return _nearest_rank(sorted(self.samples), 0.95) if self.samples else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def request_stats(
    name: str, method: str, entries: list[dict[str, Any]], scenario: ScenarioSection
) -> RequestStats:
    """Statistics of Locust's `--json-file` entries taken together (one step, or all)."""
    histogram: dict[float, int] = {}
    per_second: dict[int, int] = {}
    requests = failures = 0
    total_time = 0.0
    for entry in entries:
        requests += int(entry.get("num_requests", 0))
        failures += int(entry.get("num_failures", 0))
        total_time += float(entry.get("total_response_time", 0.0))
        for key, count in (entry.get("response_times") or {}).items():
            histogram[float(key)] = histogram.get(float(key), 0) + int(count)
        for second, count in (entry.get("num_reqs_per_sec") or {}).items():
            per_second[int(float(second))] = per_second.get(int(float(second)), 0) + int(count)
    return RequestStats(
        name,
        method,
        requests,
        failures,
        _percentile(histogram, 0.50),
        _percentile(histogram, 0.95),
        _percentile(histogram, 0.99),
        total_time / requests / 1000.0 if requests else None,
        _steady_throughput(per_second, scenario),
    )


def _percentile(histogram: dict[float, int], share: float) -> float | None:
    """Locust's histogram keys are milliseconds (rounded); the result is in seconds."""
    count = sum(histogram.values())
    if not count:
        return None
    rank = max(1, math.ceil(share * count))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value / 1000.0
    return max(histogram) / 1000.0


def _steady_throughput(per_second: dict[int, int], scenario: ScenarioSection) -> float:
    """Requests per second once every user is spawned; the first and the last (partial)
    seconds are left out when there are enough whole seconds in between."""
    if not per_second:
        return 0.0
    first, last = min(per_second), max(per_second)
    # an open model (rate) starts its one scheduling user per process at once
    ramp = 0 if scenario.rate else math.ceil(scenario.users / scenario.spawn_per_second)
    start = first + max(1, ramp)
    seconds = range(start, last)
    if len(seconds) >= 2:
        return sum(per_second.get(s, 0) for s in seconds) / len(seconds)
    span = max(1, last - first + 1)
    return sum(per_second.values()) / span


def _nearest_rank(ranked: list[float], share: float) -> float:
    return ranked[max(0, math.ceil(share * len(ranked)) - 1)]


def _exact(stats: RequestStats, samples: tuple[float, ...]) -> RequestStats:
    """`stats` with percentiles from raw samples (seconds), when there are any."""
    if not samples:
        return stats
    ranked = sorted(samples)
    return replace(
        stats,
        p50=_nearest_rank(ranked, 0.50),
        p95=_nearest_rank(ranked, 0.95),
        p99=_nearest_rank(ranked, 0.99),
    )


def _merge(pools: list[dict[str, Any]], rng: random.Random) -> tuple[float, ...]:
    """The processes' reservoirs as one uniform sample (seconds): each process weighted
    by how many responses it saw."""
    seen = sum(int(p.get("seen", 0)) for p in pools)
    if not seen:
        return ()
    size = max(len(p.get("ms", [])) for p in pools)
    merged: list[float] = []
    for pool in pools:
        values = list(pool.get("ms", []))
        want = min(len(values), round(size * int(pool.get("seen", 0)) / seen))
        merged.extend(rng.sample(values, want))
    return tuple(v / 1000.0 for v in merged)


def _harness_files(out: Path) -> list[dict[str, Any]]:
    """What each Locust process's harness wrote at the end (samples-PID.json)."""
    found = [_read_json(Path(p)) for p in sorted(glob.glob(str(out / "samples-*.json")))]
    return [p for p in found if isinstance(p, dict)]


def _phases(pools: list[dict[str, Any]]) -> dict[str, PhaseStats]:
    """The harness's per-phase counts and samples, summed over Locust's processes."""
    found: dict[str, PhaseStats] = {}
    rng = random.Random(0)
    for phase in ("before", "during", "after"):
        parts = [p["phases"][phase] for p in pools if phase in (p.get("phases") or {})]
        if parts:
            found[phase] = PhaseStats(
                sum(int(x.get("requests", 0)) for x in parts),
                sum(int(x.get("failures", 0)) for x in parts),
                _merge(parts, rng),
            )
    return found


def _samples(
    pools: list[dict[str, Any]], stats: list[dict[str, Any]]
) -> tuple[tuple[float, ...], bool, bool, dict[str, tuple[float, ...]]]:
    """Merge the processes' reservoirs into one uniform sample (seconds), and one per
    request name ("METHOD name"); with no reservoir (workers on other machines), a sample
    drawn from Locust's histogram. Returns (samples, capped, exact, by_step): exact when
    they are raw response times."""
    capped = any(p.get("capped") for p in pools)
    rng = random.Random(0)
    merged = _merge(pools, rng)
    if merged:
        names = {name for p in pools for name in (p.get("steps") or {})}
        by_step = {
            name: _merge([p["steps"][name] for p in pools if name in (p.get("steps") or {})], rng)
            for name in sorted(names)
        }
        return merged, capped, True, by_step
    histogram = [
        (float(k), int(c)) for e in stats for k, c in (e.get("response_times") or {}).items()
    ]
    population = sum(c for _, c in histogram)
    if not population:
        return (), capped, False, {}
    keep = min(1.0, 2000 / population)
    drawn: list[float] = []
    for value, count in histogram:
        drawn.extend([value / 1000.0] * round(count * keep))
    return tuple(drawn), capped, False, {}
