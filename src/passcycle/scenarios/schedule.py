"""An open-model scenario's schedule read back: each Locust process's HdrHistograms merged
into response times from each request's intended start, and how far the generator itself
fell behind the schedule (#16)."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from passcycle.scenarios.loadstats import RequestStats

# The generator fell behind when its own lateness (p99) passes this, or this share of the
# response times' p99, whichever is more: past it, the times are its delay more than the
# service's. The floor is a few gevent timer ticks on a busy machine.
LAG_FLOOR = 0.010  # s
LAG_SHARE = 0.10
_HIGHEST_US = 3_600_000_000  # what arrivals.py records at most: one hour


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Times in seconds, read from an HdrHistogram (microseconds, 3 significant digits)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """What the processes that kept an open model's schedule recorded, merged."""

    rate: tuple[float, float]  # per second: first and last (equal when constant)
    arrivals: int  # iterations started
    waited: int  # arrivals that found every in-flight slot taken, and waited for one
    peak: int  # the most iterations in flight at once (each process's peak, summed)
    unfinished: int  # still unanswered at the end, counted with their wait so far
    total: Percentiles  # every request, from its intended start to its answer
    lag: Percentiles  # every arrival, from when it was due to when the generator sent it
    steps: dict[str, Percentiles] = field(default_factory=dict)  # "METHOD name" ->

    @property
    def behind(self) -> bool:
        """The generator could not keep the schedule: its latency figures are its own."""
        return self.lag.p99 > max(LAG_FLOOR, LAG_SHARE * self.total.p99)

    def timed(self, stats: RequestStats) -> RequestStats:
        """`stats` (the total, or one step's) with its times from the intended starts."""
        key = f"{stats.method} {stats.name}" if stats.method else ""
        found = self.steps.get(key) if key else self.total
        if found is None or not found.count:
            return stats
        return replace(stats, p50=found.p50, p95=found.p95, p99=found.p99, mean=found.mean)

    def notes(self, scenario: str, in_flight: int) -> list[str]:
        """What a user should know: the generator fell behind, requests waited for a slot."""
        found = []
        if self.behind:
            found.append(
                f"scenario {scenario!r}: the load generator fell behind the schedule by"
                f" {self.lag.max:.3g} s (schedule lag p99 {self.lag.p99:.3g} s); its response"
                " times are its own delay, not the service's. Run with --workers N, a lower"
                " rate, or on a quieter machine"
            )
        if self.waited:
            share = self.waited / self.arrivals if self.arrivals else 0.0
            found.append(
                f"scenario {scenario!r}: {self.waited} iterations ({share:.1%}) found all"
                f" {in_flight} in-flight slots (users) taken and waited; their wait is in"
                " the response times (raise users to send them on time)"
            )
        return found


def read_schedule(out: Path) -> Schedule | None:
    """The `schedule-PID.json` files of one scenario, merged; None when there are none."""
    found = [_read(Path(p)) for p in sorted(glob.glob(str(out / "schedule-*.json")))]
    parts = [p for p in found if p]
    if not parts:
        return None
    keys = sorted({key for part in parts for key in part.get("steps") or {}})
    rate = parts[0].get("rate") or [0.0, 0.0]
    return Schedule(
        (float(rate[0]), float(rate[-1])),
        sum(int(p.get("arrivals") or 0) for p in parts),
        sum(int(p.get("waited") or 0) for p in parts),
        sum(int(p.get("peak") or 0) for p in parts),
        sum(int(p.get("unfinished") or 0) for p in parts),
        _merged([p["total"] for p in parts if p.get("total")]),
        _merged([p["lag"] for p in parts if p.get("lag")]),
        {k: _merged([p["steps"][k] for p in parts if k in (p.get("steps") or {})]) for k in keys},
    )


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _merged(encoded: list[str]) -> Percentiles:
    """The processes' histograms added up (hdrh's encode/decode/add), as percentiles."""
    # hdrh comes with Locust in the `load` extra; only a scenario that ran needs it
    from hdrh.histogram import HdrHistogram

    total = HdrHistogram(1, _HIGHEST_US, 3)
    for text in encoded:
        total.add(HdrHistogram.decode(text.encode("ascii")))
    if not total.get_total_count():
        return Percentiles(0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def seconds(percent: float) -> float:
        return float(total.get_value_at_percentile(percent)) / 1e6

    return Percentiles(
        int(total.get_total_count()),
        seconds(50.0),
        seconds(95.0),
        seconds(99.0),
        float(total.get_max_value()) / 1e6,
        float(total.get_mean_value()) / 1e6,
    )
