"""The risk order's tiers, the budget's fit and its recall over a history, on records."""

from __future__ import annotations

from passcycle.fix.budget import fit, parse_budget
from passcycle.fix.order import Evidence, evidence, rank
from passcycle.fix.recall import recall
from passcycle.records import TestResult


def _results(durations: dict[str, float], failing: str = "") -> list[TestResult]:
    bad = set(failing.split())
    return [
        TestResult(f"t.py::{name}", "failed" if name in bad else "passed", duration=seconds)
        for name, seconds in durations.items()
    ]


def test_rank_puts_the_change_first_then_failures_then_the_fastest() -> None:
    durations = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 0.5, "e": 0.1}
    seen = Evidence(failure={"c": 0.1, "a": 0.5}, flips={"b": 0.2})
    ranked = rank([("d", "covers x.py:3 (changed)")], list(durations), seen, durations)
    assert [(t.nodeid, t.tier) for t in ranked] == [
        ("d", "changed"),
        ("a", "failing"),  # fails most
        ("c", "failing"),
        ("b", "failing"),  # flips, never failed in the window: after those that fail
        ("e", "rest"),
    ]
    assert ranked[1].reason == "failed in 50% of its last runs"


def test_evidence_counts_only_the_runs_before() -> None:
    outcomes = {"a": [(3, "failed"), (2, "passed"), (1, "failed")], "b": [(3, "failed")]}
    before = evidence(outcomes, before=3)
    assert before.failure == {"a": 0.5} and before.flips == {"a": 1.0}
    assert evidence(outcomes).failure["b"] == 1.0


def test_fit_leaves_the_time_of_a_slow_test_to_the_faster_ones() -> None:
    durations = {"slow": 6.0, "x": 1.0, "y": 1.0, "z": 2.0}
    ranked = rank([("slow", "changed")], ["x", "y", "z"], Evidence({}, {}), durations)
    chosen = fit(ranked, parse_budget("40%"))  # 4 s of 10
    assert chosen.limit == 4.0 and chosen.total == 10.0
    assert chosen.entries == ["x", "y", "z"]
    assert [t.nodeid for t in chosen.left_out] == ["slow"]
    assert chosen.seconds(chosen.left_out) == 6.0


def test_fit_counts_a_test_with_no_record_as_the_median() -> None:
    ranked = rank([("tests/test_new.py", "test file added")], ["a", "b", "c"], Evidence({}, {}),
                  {"a": 1.0, "b": 2.0, "c": 3.0})  # fmt: skip
    chosen = fit(ranked, parse_budget("3s"))
    assert chosen.typical == 2.0 and chosen.total == 8.0
    assert chosen.entries == ["tests/test_new.py", "a"]


def test_recall_chooses_each_subset_from_what_was_known_before_the_run() -> None:
    times = {"slow": 1.0, "mid": 0.3, "fast": 0.0, "quick": 0.0}
    runs = [
        (1, _results(times)),
        (2, _results(times, failing="slow")),  # not in the fastest half: missed
        (3, _results(times, failing="fast")),  # slow failed in run 2 but does not fit
        (4, _results(times, failing="mid quick")),  # both fit
    ]
    outcomes = {
        f"t.py::{name}": [(run, r.outcome) for run, res in reversed(runs) for r in res
                          if r.nodeid == f"t.py::{name}"]
        for name in times
    }  # fmt: skip
    found = recall(runs, outcomes, parse_budget("50%"))
    assert (found.runs, found.caught, found.failing, found.whole) == (3, 3, 4, 2)
    assert found.share is not None and abs(found.share - 2 / 3) < 1e-9
