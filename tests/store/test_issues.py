"""Issues in the history: one per fingerprint per project, and how their states move."""

from __future__ import annotations

from dataclasses import replace

from passcycle.records import Issue
from passcycle.store import History

DIVISION = Issue(
    fingerprint="fp-div",
    title="ZeroDivisionError in calc.divide",
    kind="failure",
    severity="high",
    root_cause="src/calc/ops.py:12 in divide",
    tests=("tests/test_calc.py::test_div[0]", "tests/test_calc.py::test_div[1]"),
    exc_type="ZeroDivisionError",
    message="division by zero",
    location="src/calc/ops.py:12",
)
SLOW = Issue(
    fingerprint="fp-slow", title="test_big is slow", kind="slow", severity="low", tests=("t",)
)
CRASH = Issue(
    fingerprint="fp-crash", title="worker crashes", kind="error", severity="critical", tests=("c",)
)


def by_fingerprint(issues: list[Issue]) -> dict[str, Issue]:
    return {issue.fingerprint: issue for issue in issues}


def test_issues_move_from_new_to_fixed_to_reopened_and_recurring(history: History):
    first = history.start_run("calc", "run")
    saved = by_fingerprint(history.save_issues("calc", first.id, [DIVISION, SLOW]))
    assert saved["fp-div"] == replace(DIVISION, first_seen=first.id, last_seen=first.id)
    assert saved["fp-slow"].state == "new"
    # Saving the same run again refreshes, it does not count a second sighting.
    again = history.save_issues("calc", first.id, [replace(DIVISION, title="renamed")])
    assert (again[0].state, again[0].occurrences, again[0].title) == ("new", 1, "renamed")

    retest = history.start_run("calc", "retest", parent_id=first.id)
    fixed = history.save_issues("calc", retest.id, [replace(DIVISION, state="fixed", tests=())])
    assert fixed[0].state == "fixed"
    assert fixed[0].last_seen == first.id  # declared fixed is not seen

    third = history.start_run("calc", "run")
    saved = by_fingerprint(history.save_issues("calc", third.id, [DIVISION, SLOW]))
    assert saved["fp-div"].state == "reopened"
    assert saved["fp-slow"].state == "recurring"
    assert (saved["fp-div"].first_seen, saved["fp-div"].last_seen) == (first.id, third.id)
    assert saved["fp-div"].occurrences == saved["fp-slow"].occurrences == 2

    fourth = history.start_run("calc", "run")
    assert history.save_issues("calc", fourth.id, [DIVISION])[0].state == "recurring"


def test_issues_of_a_run_show_their_state_and_tests_in_that_run(history: History):
    first = history.start_run("calc", "run")
    history.save_issues("calc", first.id, [DIVISION])
    second = history.start_run("calc", "run")
    history.save_issues("calc", second.id, [replace(DIVISION, tests=DIVISION.tests[:1]), SLOW])

    in_first = history.issues("calc", first.id)
    assert [(issue.fingerprint, issue.state, issue.tests) for issue in in_first] == [
        ("fp-div", "new", DIVISION.tests)
    ]
    now = by_fingerprint(history.issues("calc"))
    assert now["fp-div"].state == "recurring"
    assert now["fp-div"].tests == DIVISION.tests[:1]  # from its last sighting
    assert [issue.fingerprint for issue in history.issues("calc", states=["new"])] == ["fp-slow"]
    assert history.issues("other") == []


def test_issues_are_ranked_most_severe_first(history: History):
    run = history.start_run("calc", "run")
    history.save_issues("calc", run.id, [SLOW, DIVISION, CRASH])
    assert [issue.severity for issue in history.issues("calc", run.id)] == [
        "critical",
        "high",
        "low",
    ]


def test_the_same_fingerprint_in_two_projects_is_two_issues(history: History):
    calc, other = history.start_run("calc", "run"), history.start_run("other", "run")
    history.save_issues("calc", calc.id, [DIVISION])
    saved = history.save_issues("other", other.id, [DIVISION])
    assert (saved[0].state, saved[0].first_seen) == ("new", other.id)
    assert [issue.first_seen for issue in history.issues("calc")] == [calc.id]


def test_fixing_an_unknown_issue_stores_nothing(history: History):
    run = history.start_run("calc", "retest")
    history.save_issues("calc", run.id, [replace(SLOW, state="fixed")])
    assert history.issues("calc") == []


def test_open_issues_are_those_of_the_latest_full_run_not_fixed_since(history: History):
    assert history.open_issues("calc") == []
    full = history.start_run("calc", "run")
    history.save_issues("calc", full.id, [DIVISION, SLOW])
    history.finish_run(full.id, "failed")
    assert {issue.fingerprint for issue in history.open_issues("calc")} == {"fp-div", "fp-slow"}

    retest = history.start_run("calc", "retest", parent_id=full.id)
    history.save_issues("calc", retest.id, [replace(DIVISION, state="fixed")])
    history.finish_run(retest.id, "passed")
    assert [issue.fingerprint for issue in history.open_issues("calc")] == ["fp-slow"]

    # A full run still going (or killed) does not define what is open yet.
    running = history.start_run("calc", "ci")
    history.save_issues("calc", running.id, [CRASH])
    assert [issue.fingerprint for issue in history.open_issues("calc")] == ["fp-slow"]
    history.finish_run(running.id, "failed")
    assert [issue.fingerprint for issue in history.open_issues("calc")] == ["fp-crash"]


def test_an_issue_counts_the_times_it_came_back_after_a_fix(history: History):
    # "reopened" alone does not say whether a fix keeps failing: the count does
    def fix_then_see(count: int) -> Issue:
        fixing = history.start_run("calc", "run")
        history.save_issues("calc", fixing.id, [replace(DIVISION, state="fixed", tests=())])
        back = history.start_run("calc", "run")
        saved = history.save_issues("calc", back.id, [DIVISION])[0]
        assert (saved.state, saved.reopened) == ("reopened", count)
        return saved

    first = history.start_run("calc", "run")
    assert history.save_issues("calc", first.id, [DIVISION])[0].reopened == 0
    once = fix_then_see(1)
    fix_then_see(2)
    assert by_fingerprint(history.issues("calc"))["fp-div"].reopened == 2
    assert history.issues("calc", run_id=once.last_seen)[0].reopened == 1  # as it stood then
    again = history.start_run("calc", "run")
    assert history.save_issues("calc", again.id, [DIVISION])[0].reopened == 2  # recurring
