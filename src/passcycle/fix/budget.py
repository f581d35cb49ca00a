"""Budget: the part of the risk order that fits a time, and what it would have caught.

`passcycle test --budget 20%` (of the suite's recorded time) or `--budget 2min` runs, in
risk order (fix/order.py), every test whose recorded duration still fits; a test with no
record counts as the median one. The run is part of the suite (#14).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from passcycle.errors import UsageError
from passcycle.fix.order import Ranked

_BUDGET = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>%|ms|s|sec|min|m|h)\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
_HINT = "give a share of the suite's recorded time or a time: --budget 20%, 2min or 90s"


@dataclass(frozen=True, slots=True)
class Budget:
    text: str  # as the user wrote it
    share: float | None = None  # of the suite's recorded time, 0 < share <= 1
    seconds: float | None = None

    def limit(self, total: float) -> float:
        """The budget in seconds, for a suite whose tests took `total` seconds."""
        return total * self.share if self.share is not None else float(self.seconds or 0.0)


def parse_budget(text: str) -> Budget:
    """ "20%", "2min", "90s" -> a Budget; one usage error line for anything else."""
    match = _BUDGET.match(text or "")
    if match is None:
        raise UsageError(f"--budget: cannot read {text!r}", hint=_HINT)
    value, unit = float(match["value"]), match["unit"]
    if unit == "%":
        if not 0 < value <= 100:
            raise UsageError(f"--budget: {text!r} is not a share from 0% to 100%", hint=_HINT)
        return Budget(text.strip(), share=value / 100)
    if value <= 0:
        raise UsageError(f"--budget: {text!r} leaves no time for any test", hint=_HINT)
    return Budget(text.strip(), seconds=value * _SECONDS[unit])


@dataclass(frozen=True, slots=True)
class Fit:
    """The tests a budget runs and those it leaves out, each in risk order."""

    budget: Budget
    limit: float  # seconds
    total: float  # the recorded seconds of every test in the order
    chosen: list[Ranked]
    left_out: list[Ranked]
    typical: float  # what a test with no record counts as

    def seconds(self, tests: Sequence[Ranked]) -> float:
        return sum(self.typical if t.duration is None else t.duration for t in tests)

    @property
    def entries(self) -> list[str]:
        return [t.nodeid for t in self.chosen]

    @property
    def paths(self) -> list[str]:
        """The files pytest collects: those of the chosen tests, and nothing else."""
        return list(dict.fromkeys(t.nodeid.split("::", 1)[0] for t in self.chosen))


def fit(order: Sequence[Ranked], budget: Budget) -> Fit:
    """In risk order, every test that still fits the budget (a slow one that does not fit
    leaves its time to the faster ones after it)."""
    known = [t.duration for t in order if t.duration is not None]
    typical = statistics.median(known) if known else 0.0
    total = sum(known) + typical * (len(order) - len(known))
    limit = budget.limit(total)
    chosen, left_out, spent = [], [], 0.0
    for test in order:
        cost = typical if test.duration is None else test.duration
        if spent + cost <= limit:
            chosen.append(test)
            spent += cost
        else:
            left_out.append(test)
    return Fit(budget, limit, total, chosen, left_out, typical)
