"""A budget's recall over the history: of the failures past full runs saw, how many the
budget's subset, chosen before each run, would have run.

"Chosen before each run" is the risk order's rule on what the history knew then: the
tests and durations of the full run before it, its failures first, then the failure and
flip rates of the runs before it, then the fastest. The change each past run saw is not
kept with it, so the first tier holds only the previous run's failures, not the tests the
change reached: the figure is that of the history's part of the rule. A failing test the
previous run did not know (a new test) counts as missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from passcycle.fix.budget import Budget, fit
from passcycle.fix.order import FLIP_WINDOW, Outcomes, evidence, rank
from passcycle.plan import Plan
from passcycle.records import BAD_OUTCOMES, TestResult
from passcycle.store import History

WINDOW = 20  # past full runs the recall is measured over


@dataclass(frozen=True, slots=True)
class Recall:
    runs: int  # past full runs with failures, each with a full run before it
    share: float | None  # mean over those runs of the share of their failing tests held
    caught: int  # failing tests the subsets held, over those runs
    failing: int  # failing tests, over those runs
    whole: int  # runs whose every failing test the subset held


def recall(
    runs: Sequence[tuple[int, Sequence[TestResult]]], outcomes: Outcomes, budget: Budget
) -> Recall:
    """`runs`: (run id, results) of full runs, oldest first; `outcomes`: each test's (run id,
    outcome) over the history's runs of every kind, newest first."""
    shares: list[float] = []
    caught = failing = whole = 0
    for (before_id, before), (run_id, results) in pairwise(runs):
        bad = {r.nodeid for r in results if r.outcome in BAD_OUTCOMES}
        if not bad:
            continue
        durations = {r.nodeid: r.duration for r in before}
        first = [
            (r.nodeid, f"failed in run {before_id}") for r in before if r.outcome in BAD_OUTCOMES
        ]
        order = rank(first, list(durations), evidence(outcomes, before=run_id), durations)
        chosen = fit(order, budget).entries
        held = {n for n in bad if any(holds(c, n) for c in chosen)}
        shares.append(len(held) / len(bad))
        caught, failing, whole = caught + len(held), failing + len(bad), whole + (held == bad)
    share = sum(shares) / len(shares) if shares else None
    return Recall(len(shares), share, caught, failing, whole)


def holds(entry: str, nodeid: str) -> bool:
    """An entry of the subset runs that test: the same id, or a path above it."""
    return entry == nodeid or nodeid.startswith((entry + "::", entry.rstrip("/") + "/"))


def budget_recall(plan: Plan, history: History, budget: Budget, window: int = WINDOW) -> Recall:
    """The budget's recall over the plan's last `window` full runs."""
    from passcycle.fix.retest import FULL_KINDS

    every = history.runs(plan.name, limit=500)
    full = [
        r
        for r in every
        if r.kind in FULL_KINDS and not r.partial and r.status in ("passed", "failed")
    ][: window + 1]
    if len(full) < 2:
        return Recall(0, None, 0, 0, 0)
    oldest = full[-1].id
    # every run since the oldest, and enough before it for its rates
    outcomes = history.test_outcomes(
        None, plan.name, limit_runs=sum(r.id >= oldest for r in every) + FLIP_WINDOW
    )
    runs = [(r.id, history.results(r.id)) for r in reversed(full)]
    return recall(runs, outcomes, budget)
