"""Benchmark: time to the first failure with `passcycle test --order risk` against pytest's
own order, and the recall of `--budget` over a history of failures (#14).

Run: python bench/bench_order.py [--mutations 24] [--seed 1]
     python bench/bench_order.py --project PATH --source src/pkg --tests tests --pythonpath src

On bench_retest.py's generated project (400 tests) or a copy of a real one, with the
mutations of bench_retest.py (single-line changes in the package):

1. one full run on the clean tree (`passcycle test`: coverage and the per-test map);
2. per mutation, with that clean run as the last full run: the risk order (fix/order.py,
   as `test --order risk` computes it; its time counts) and the suite in that order with
   `-x`, as `passcycle test --order risk -x` runs it; that run is then dropped from the
   history, so every mutation starts from the same history;
3. then per mutation, a full run in pytest's order (`passcycle test`), recorded: its time to
   the first failure, the tests that fail, and the history of failures for step 4;
4. `--budget` 10%, 20%, 50%: the recall `passcycle test --budget` prints (fix/recall.py,
   over the runs of step 3), and the recall of the live rule (the risk order of step 2,
   with the change, cut at the budget) against the same failures.

Time to the first failure is from the start of pytest to the first failed result the
runner receives (pytest's start-up and collection included, in both); the risk side adds
the time to compute its order. pytest runs with plugin autoload off in both.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_retest import QUICK, apply, git, pick_mutations, run_experiment

from passcycle.cycle import Cycle, open_history
from passcycle.fix.budget import fit, parse_budget
from passcycle.fix.order import RiskOrder, risk_order
from passcycle.fix.recall import budget_recall, holds
from passcycle.plan import load_plan
from passcycle.records import BAD_OUTCOMES, TestResult
from passcycle.suite.spec import Progress

BUDGETS = ("10%", "20%", "50%")


class FirstFailure:
    """A progress hook that keeps when the first failure arrived and how many had run."""

    def __init__(self) -> None:
        self.elapsed: float | None = None
        self.done = 0

    def __call__(self, progress: Progress) -> None:
        if self.elapsed is None and progress.failures:
            self.elapsed, self.done = progress.elapsed, progress.done


@dataclass
class Row:
    label: str
    failing: set[str]
    default: float | None  # seconds to the first failure, pytest's order
    default_done: int
    risk: float | None  # the same with the risk order, its computation included
    risk_done: int
    order_seconds: float
    live: dict[str, float | None]  # budget -> share of `failing` the live subset held
    # the tests' own seconds until the first failure, without pytest's start-up: what the
    # order decides, and what the machine's load moves least
    default_spent: float | None = None
    risk_spent: float | None = None


def _until_first(results: list[TestResult]) -> float | None:
    """The recorded seconds of the tests that finished up to the first failure, included."""
    spent = 0.0
    for result in results:
        spent += result.duration
        if result.outcome in BAD_OUTCOMES:
            return spent
    return None


def _held(entries: list[str], failing: set[str]) -> float | None:
    if not failing:
        return None
    held = {n for n in failing if any(holds(entry, n) for entry in entries)}
    return len(held) / len(failing)


def experiment(root: Path, source: list[str], tests: list[str], count: int, seed: int) -> None:
    (root / "passcycle.toml").write_text(
        f"[project]\nsource = {source!r}\ntests = {tests!r}\n".replace("'", '"')
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench baseline", "--allow-empty")
    os.environ.update(QUICK)
    plan = load_plan(root)
    cycle = Cycle(plan, open_history(plan))
    started = time.perf_counter()
    clean = cycle.test()
    print(
        f"project: {len(clean.results)} tests; clean full run {time.perf_counter() - started:.1f}s"
        f" ({clean.run.status})",
        flush=True,
    )
    mutations = pick_mutations(root, source, count, seed)
    # every risk-ordered run first, each from the clean run alone: a full run of a
    # mutation would become the next one's last full run, its failures first in the order
    risky = {}
    for mutation in mutations:
        apply(root, mutation)
        try:
            risky[mutation.label] = _risk_first(cycle)
        finally:
            apply(root, mutation, undo=True)
    rows: list[Row] = []
    for mutation in mutations:
        apply(root, mutation)
        try:
            plain = FirstFailure()
            full = cycle.test(on_progress=plain)
        finally:
            apply(root, mutation, undo=True)
        order, order_seconds, first, risk_spent = risky[mutation.label]
        failing = {r.nodeid for r in full.results if r.outcome in BAD_OUTCOMES}
        live = {b: _held(fit(order.tests, parse_budget(b)).entries, failing) for b in BUDGETS}
        risk = None if first.elapsed is None else first.elapsed + order_seconds
        row = Row(mutation.label, failing, plain.elapsed, plain.done, risk, first.done,
                  order_seconds, live, _until_first(full.results), risk_spent)  # fmt: skip
        rows.append(row)
        print(
            f"  {row.label}: {len(row.failing)} failing; first failure default"
            f" {_s(row.default)} ({row.default_done} tests), risk {_s(row.risk)}"
            f" ({row.risk_done} tests)",
            flush=True,
        )
    report(rows, cycle, len(clean.results), window=len(mutations))


def _risk_first(cycle: Cycle) -> tuple[RiskOrder, float, FirstFailure, float | None]:
    """The risk order (timed) and the suite in it with -x, as `test --order risk -x` runs
    it; the run is dropped, so that every mutation starts from the same history."""
    t0 = time.perf_counter()
    order = risk_order(cycle.plan, cycle.history)
    order_seconds = time.perf_counter() - t0
    first = FirstFailure()
    quick = cycle.test(["-x"], order=order.entries, on_progress=first)
    cycle.history.discard_run(quick.run.id)
    shutil.rmtree(cycle.plan.root / (quick.run.artifacts or "missing"), ignore_errors=True)
    return order, order_seconds, first, _until_first(quick.results)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}s"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def report(rows: list[Row], cycle: Cycle, suite: int, window: int) -> None:
    caught = [r for r in rows if r.failing and r.default is not None and r.risk is not None]
    print(
        "\n| mutation | failing | first failure, pytest order | risk order "
        "| test seconds until it, pytest order | risk order |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| `{r.label}` | {len(r.failing)} | {_s(r.default)} ({r.default_done} tests) "
            f"| {_s(r.risk)} ({r.risk_done} tests) | {_s(r.default_spent)} | {_s(r.risk_spent)} |"
        )
    if caught:
        _summary(caught, len(rows), suite)
    print("\n| budget | recall `--budget` prints (history rule) | runs | live rule (with change) |")
    print("|---|---:|---:|---:|")
    for text in BUDGETS:
        past = budget_recall(cycle.plan, cycle.history, parse_budget(text), window=window)
        live = [r.live[text] for r in rows if r.live[text] is not None]
        print(
            f"| {text} | {_pct(past.share)} ({past.caught} of {past.failing} failing tests) "
            f"| {past.runs} | {_pct(statistics.mean(live) if live else None)} |"
        )


def _summary(caught: list[Row], count: int, suite: int) -> None:
    def median(values: list[float | None]) -> float:
        return statistics.median(v for v in values if v is not None)

    ratios = [r.risk / r.default for r in caught if r.risk is not None and r.default]
    print(
        f"\n{count} mutations, {len(caught)} caught by the suite of {suite}: median time to the"
        f" first failure {median([r.default for r in caught]):.2f}s in pytest's order,"
        f" {median([r.risk for r in caught]):.2f}s in risk order (median per-mutation ratio"
        f" {statistics.median(ratios):.2f}x); median test seconds until it"
        f" {median([r.default_spent for r in caught]):.3f}s vs"
        f" {median([r.risk_spent for r in caught]):.3f}s; median tests run until it"
        f" {statistics.median(r.default_done for r in caught):g} vs"
        f" {statistics.median(r.risk_done for r in caught):g}; median order computation"
        f" {median([r.order_seconds for r in caught]) * 1000:.0f} ms"
    )


def main() -> None:
    run_experiment(__doc__ or "", experiment)


if __name__ == "__main__":
    main()
