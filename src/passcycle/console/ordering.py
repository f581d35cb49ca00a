"""The risk order and the budget of a Test phase run, in the terminal and in JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from passcycle.console import clean, fmt_duration, info, out

SHOWN = 3  # tests of the order named in the terminal
LISTED = 20  # tests of the order listed in --json (all of those left out are)


def _xdist(pytest_args: Sequence[str]) -> bool:
    return any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in pytest_args)


def show_order(ordered: Any, pytest_args: Sequence[str] = ()) -> None:
    """How the run was ordered, what a budget left out, and what it would have caught."""
    order = ordered.order
    if order is None:
        return
    if not order.tests:  # no run knows any test: pytest's order is the only one
        ran = len(ordered.outcome.results)
        out.print(f"order: risk — no run recorded yet: the {ran} tests run in pytest's order")
        return
    tiers = (
        f"{order.count('changed')} the change reaches or that failed in run {order.base}, "
        if order.base is not None
        else ""
    )
    out.print(
        f"order: risk — {tiers}{order.count('failing')} failing or flipping lately,"
        f" {order.count('rest')} fastest first"
    )
    if order.note:
        out.print(f"  [dim]{clean(order.note)}[/]")
    for test in order.tests[:SHOWN]:
        out.print(f"  [dim]{clean(test.nodeid, 80)} — {clean(test.reason, 60)}[/]")
    if _xdist(pytest_args):
        info(
            "under pytest-xdist each worker takes the next tests of the order: the riskiest"
            " start first, on the first worker"
        )
    if ordered.fit is not None:
        _show_budget(ordered.fit, ordered.recall)


def _show_budget(fit: Any, recall: Any) -> None:
    left = fit.left_out
    out.print(
        f"budget {clean(fit.budget.text)} = {fmt_duration(fit.limit)} of"
        f" {fmt_duration(fit.total)} recorded: ran {len(fit.chosen)} tests"
        f" ({fmt_duration(fit.seconds(fit.chosen))} recorded); a partial run, never a baseline"
    )
    if left:
        changed = sum(t.tier == "changed" for t in left)
        failing = sum(t.tier == "failing" for t in left)
        out.print(
            f"left out {len(left)} tests ({fmt_duration(fit.seconds(left))} recorded):"
            f" {changed} the change reaches, {failing} failing lately;"
            " passcycle test --order risk runs them all"
        )
    else:
        out.print("left out no test: the whole suite fits")
    out.print(_recall_line(recall))


def _recall_line(recall: Any) -> str:
    if recall is None or not recall.runs:
        return "recall: no past full run with failures to measure it on"
    runs = "run" if recall.runs == 1 else "runs"
    return (
        f"recall over the history: {recall.share:.0%} — of the failing tests of {recall.runs}"
        f" past full {runs}, this budget would have run {recall.caught} of {recall.failing}"
        f" (every one in {recall.whole}), chosen by this rule on the failures, flips and"
        " durations known before each run (the changes they saw are not kept)"
    )


def order_json(ordered: Any) -> dict[str, Any]:
    """`order` and `budget`, the keys `test --json` adds (docs/json.md)."""
    order = ordered.order
    if order is None:
        return {"order": {"mode": "default"}, "budget": None}
    data: dict[str, Any] = {
        "order": {
            "mode": "risk",
            "base_run": order.base,
            "note": order.note,
            "tiers": {t: order.count(t) for t in ("changed", "failing", "rest")},
            "first": [_test_json(t) for t in order.tests[:LISTED]],
        },
        "budget": None,
    }
    fit, recall = ordered.fit, ordered.recall
    if fit is not None:
        data["budget"] = {
            "text": fit.budget.text,
            "seconds": fit.limit,
            "recorded": fit.total,
            "ran": len(fit.chosen),
            "ran_seconds": fit.seconds(fit.chosen),
            "left_out": [_test_json(t) for t in fit.left_out],
            "left_out_seconds": fit.seconds(fit.left_out),
            "recall": None
            if recall is None
            else {
                "runs": recall.runs,
                "share": recall.share,
                "caught": recall.caught,
                "failing": recall.failing,
                "whole": recall.whole,
            },
        }
    return data


def _test_json(test: Any) -> dict[str, Any]:
    return {
        "nodeid": test.nodeid,
        "tier": test.tier,
        "reason": test.reason,
        "duration": test.duration,
    }
