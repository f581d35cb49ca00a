"""Risk order: the tests most likely to fail run first, so a failing build fails in seconds.

Three tiers, in this order (#14):

1. `changed`: what `passcycle retest` would run — the tests the change since the last full
   run reaches through its per-test map, and that run's failures (fix/impact.py's
   selection): that run's failures first, then the tests that executed a changed line,
   then those that ran a changed function or module; each in the selection's order (by
   recent failure rate, then fastest). On click a change to a function that 1,176 tests
   run was executed by 4 of them, the 4 that failed;
2. `failing`: the other tests that failed or flipped between pass and fail lately (the
   history's last runs), the most failing first, then the most flipping, then fastest;
3. `rest`: every other test, fastest first, so that more tests finish early.

When the change reaches every test (the selection widened: a conftest.py, the config, no
git), the first tier says nothing and is left empty; the note says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from passcycle.errors import UsageError
from passcycle.fix.impact import Selection
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES
from passcycle.store import History
from passcycle.validate.flaky import flip_rate

TIERS = ("changed", "failing", "rest")
FAILURE_WINDOW = 10  # runs a recent failure rate is counted over (as `retest` orders)
FLIP_WINDOW = 20  # runs a flip rate is counted over
# test id -> (run id, outcome), newest first: History.test_outcomes
Outcomes = Mapping[str, Sequence[tuple[int, str]]]


@dataclass(frozen=True, slots=True)
class Ranked:
    nodeid: str  # a node id, or a path whose tests are new to the history
    tier: str  # one of TIERS
    reason: str
    duration: float | None  # recorded seconds; None: no record


@dataclass(frozen=True, slots=True)
class RiskOrder:
    tests: list[Ranked]  # in run order; tests the history does not know run after them
    base: int | None = None  # the full run whose map and change made the first tier
    note: str | None = None  # why the first tier is empty, when it is

    @property
    def entries(self) -> list[str]:
        """What the plugin is given (PASSCYCLE_ORDER / PASSCYCLE_SELECT): ids and paths."""
        return [t.nodeid for t in self.tests]

    def count(self, tier: str) -> int:
        return sum(t.tier == tier for t in self.tests)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the history says of each test before some run: failure and flip rates."""

    failure: dict[str, float]
    flips: dict[str, float]


def evidence(outcomes: Outcomes, before: int | None = None) -> Evidence:
    """Failure rates over each test's last FAILURE_WINDOW runs and flip rates over its last
    FLIP_WINDOW, counting only runs older than `before` (None: every run)."""
    failure: dict[str, float] = {}
    flips: dict[str, float] = {}
    for nodeid, seen in outcomes.items():
        past = [o for run, o in seen if before is None or run < before]
        if not past:
            continue
        recent = past[:FAILURE_WINDOW]
        failure[nodeid] = sum(o in BAD_OUTCOMES for o in recent) / len(recent)
        flips[nodeid] = flip_rate(list(reversed(past[:FLIP_WINDOW])))
    return Evidence(failure, flips)


def rank(
    first: Sequence[tuple[str, str]],
    known: Sequence[str],
    seen: Evidence,
    durations: Mapping[str, float],
) -> list[Ranked]:
    """The risk order of `known` tests: `first` (node id or path, reason; in its own order),
    then those failing or flipping lately, then the rest fastest first."""
    ranked = [Ranked(n, "changed", why, durations.get(n)) for n, why in first]
    placed = {n for n, _ in first}
    left = [n for n in dict.fromkeys(known) if n not in placed]
    failure, flips = seen.failure, seen.flips
    shaky = [n for n in left if failure.get(n, 0.0) > 0 or flips.get(n, 0.0) > 0]
    shaky.sort(key=lambda n: (-failure.get(n, 0.0), -flips.get(n, 0.0), durations.get(n, 0.0), n))
    for nodeid in shaky:
        ranked.append(
            Ranked(nodeid, "failing", _why(failure, flips, nodeid), durations.get(nodeid))
        )
    steady = sorted(set(left) - set(shaky), key=lambda n: (durations.get(n, 0.0), n))
    ranked.extend(Ranked(n, "rest", "fastest first", durations.get(n)) for n in steady)
    return ranked


def _why(failure: Mapping[str, float], flips: Mapping[str, float], nodeid: str) -> str:
    parts = []
    if failure.get(nodeid):
        parts.append(f"failed in {failure[nodeid]:.0%} of its last runs")
    if flips.get(nodeid):
        parts.append(f"flipped in {flips[nodeid]:.0%} of them")
    return ", ".join(parts)


def risk_order(plan: Plan, history: History) -> RiskOrder:
    """The risk order of the plan's suite, from the last full run's map and the history."""
    from passcycle.fix.retest import base_run, plan_selection

    try:
        base = base_run(plan, history)
    except UsageError:
        base = None
    selection: Selection | None = None
    note = None
    if base is None:
        note = "no full run with a coverage map yet: the history alone orders the tests"
        latest = history.latest_full(plan.name)
        if latest is None:
            note = "no run recorded yet: the tests run in pytest's order"
        results = history.results(latest.id) if latest is not None else []
    else:
        selection = plan_selection(plan, history, base)
        results = history.results(base.id)
        if selection.everything:
            note = f"the change may reach every test ({selection.reasons[0]})"
    durations = {r.nodeid: r.duration for r in results}
    first = [] if selection is None or selection.everything else selection.tests
    failed = {r.nodeid for r in results if r.outcome in BAD_OUTCOMES}
    first = sorted(first, key=lambda t: (t.nodeid not in failed, not t.hit))  # stable
    outcomes = history.test_outcomes(None, plan.name, limit_runs=FLIP_WINDOW)
    ranked = rank(
        [(t.nodeid, t.reason) for t in first], list(durations), evidence(outcomes), durations
    )
    return RiskOrder(ranked, None if base is None else base.id, note)
