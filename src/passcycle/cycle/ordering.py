"""The suite in risk order, whole or within a time budget (`test --order risk`, `--budget`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passcycle.cycle.constants import ProgressHook
from passcycle.cycle.sharding import Sharding
from passcycle.errors import ExitCode, UsageError
from passcycle.records import TestOutcome

if TYPE_CHECKING:
    from passcycle.fix.budget import Fit
    from passcycle.fix.order import RiskOrder
    from passcycle.fix.recall import Recall
    from passcycle.suite.early import Started

ORDERS = ("default", "risk")


@dataclass(frozen=True, slots=True)
class OrderedTest:
    """A Test phase run in an order of passcycle's: the run, the order, and with a budget
    the tests it ran and left out, and its recall over the history."""

    outcome: TestOutcome
    order: RiskOrder | None  # None: pytest's own order
    fit: Fit | None = None
    recall: Recall | None = None

    @property
    def exit_code(self) -> ExitCode:
        return self.outcome.exit_code


class Ordering(Sharding):
    """Cycle's ordering (cycle/core.py)."""

    def test_in_order(
        self,
        pytest_args: Sequence[str] = (),
        *,
        order: str = "default",
        budget: str | None = None,
        coverage: bool = True,
        on_progress: ProgressHook | None = None,
        started: Started | None = None,
    ) -> OrderedTest:
        """The suite with the riskiest tests first (`order="risk"`, fix/order.py), still a
        full run; or, with a `budget`, the part of that order that fits it, a partial run
        that is never a baseline, a re-test's base or a full pass (#14). `started`: in
        pytest's order, the suite's pytest started ahead (suite/early.py)."""
        from passcycle.fix.budget import fit, parse_budget
        from passcycle.fix.order import risk_order

        if order not in ORDERS:
            raise UsageError(f"--order: no order {order!r}", hint="give --order risk or default")
        wanted = parse_budget(budget) if budget is not None else None  # before anything runs
        if wanted is not None and order == "default":
            raise UsageError(
                "--budget picks tests by the risk order", hint="leave out --order default"
            )
        if order == "default":
            outcome = self.test(
                pytest_args, coverage=coverage, on_progress=on_progress, started=started
            )
            return OrderedTest(outcome, None)
        ranked = risk_order(self.plan, self.history)
        if wanted is None:
            outcome = self.test(
                pytest_args, coverage=coverage, order=ranked.entries, on_progress=on_progress
            )
            return OrderedTest(outcome, ranked)
        if not ranked.tests:
            raise UsageError(
                "--budget needs recorded durations: no full run yet",
                hint="passcycle test records one",
            )
        chosen = fit(ranked.tests, wanted)
        if not chosen.chosen:
            fastest = min(
                chosen.typical if t.duration is None else t.duration for t in ranked.tests
            )
            raise UsageError(
                # in ms with 3 digits: both are often below what "0.00s" can tell apart
                f"--budget {wanted.text} ({chosen.limit * 1000:.3g}ms) fits no test:"
                f" the fastest took {fastest * 1000:.3g}ms",
                hint="give a larger budget",
            )
        return self._budgeted(pytest_args, ranked, chosen, on_progress)

    def _budgeted(
        self,
        pytest_args: Sequence[str],
        ranked: RiskOrder,
        chosen: Fit,
        on_progress: ProgressHook | None,
    ) -> OrderedTest:
        """Run the tests that fit, without coverage (part of a suite measures nothing the
        suite is judged on), and say what they would have caught in the past."""
        from passcycle.fix.recall import budget_recall

        past = budget_recall(self.plan, self.history, chosen.budget)
        left = chosen.left_out
        note = (
            f"budget {chosen.budget.text}: {len(chosen.chosen)} of {len(ranked.tests)} tests;"
            f" {len(left)} left out ({chosen.seconds(left):.1f}s recorded)"
        )
        outcome = self.test(
            pytest_args,
            select=chosen.entries,
            paths=chosen.paths,
            coverage=False,
            on_progress=on_progress,
            run_note=note,
        )
        return OrderedTest(outcome, ranked, chosen, past)
