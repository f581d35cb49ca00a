"""Triage: failures clustered into issues with kind, severity, state and rank."""

from __future__ import annotations

from dataclasses import replace

import pytest

from passcycle.records import Frame, Issue, KpiVerdict, TestResult
from passcycle.validate.fingerprint import fingerprint
from passcycle.validate.triage import SeverityRules, breach_issue, fixed_issues, rank, triage

DISCOUNT = Frame("src/shop/pricing.py", 41, "discount")
CART_TOTAL = Frame("src/shop/cart.py", 20, "total")
INVOICE = Frame("src/shop/invoice.py", 64, "render")
DECIMAL = Frame("/usr/lib/python3.11/_pydecimal.py", 1721, "__truediv__", in_project=False)
TEST_FILES = ("tests/test_cart.py", "tests/test_invoice.py", "tests/api/test_checkout.py")


def passed(nodeid: str) -> TestResult:
    return TestResult(nodeid, "passed", duration=0.01, file=nodeid.split("::")[0])


def result(
    nodeid: str,
    *frames: Frame,
    exc_type: str = "ValueError",
    message: str = "boom",
    outcome: str = "failed",
    when: str | None = "call",
    reruns: tuple[str, ...] = (),
) -> TestResult:
    path = nodeid.split("::")[0]
    test_frame = Frame(path, 10, nodeid.split("::")[-1].split("[")[0])
    return TestResult(
        nodeid=nodeid,
        outcome=outcome,
        file=path,
        exc_type=exc_type,
        message=message,
        frames=(test_frame, *frames) if "::" in nodeid else frames,
        when=when,
        reruns=reruns,
    )


def discount_bug(i: int) -> TestResult:
    """Test i fails through the discount helper, reached from the cart or the invoice."""
    path = TEST_FILES[i % 3]
    callers = (CART_TOTAL,) if i % 2 else (INVOICE, CART_TOTAL)
    return result(
        f"{path}::test_price_{i}",
        *callers,
        replace(DISCOUNT, line=41 + i % 2),  # two raise sites in one function
        DECIMAL,
        exc_type="decimal.InvalidOperation",
        message=(
            f"cannot discount order {1000 + i} (coupon 'cp-{i:04x}9z') read from "
            f"/tmp/pytest-of-ci/pytest-{i % 4}/test_price_{i}0/order.json: rate {i * 0.5} > 1\n"
            f"details for order {i}"
        ),
    )


def lookup_bug(name: str, user: int = 17) -> TestResult:
    return result(
        f"tests/test_users.py::test_{name}",
        Frame("src/shop/users.py", 12, "lookup"),
        exc_type="KeyError",
        message=f"'user-{user}'",
    )


def suite(failures: list[TestResult], passing: int) -> list[TestResult]:
    return failures + [passed(f"tests/test_misc.py::test_ok_{i}") for i in range(passing)]


def by_kind_and_tests(issues: list[Issue]) -> dict[str, int]:
    return {issue.kind: len(issue.tests) for issue in issues}


def test_thirty_failures_through_one_helper_and_one_other_bug_are_two_issues() -> None:
    failures = [discount_bug(i) for i in range(30)] + [lookup_bug("alice"), lookup_bug("bob", 4242)]
    issues = triage(suite(failures, 168), previous=None, run_id=7)

    assert len(issues) == 2
    helper, other = issues
    assert len(helper.tests) == 30
    # the line is the first failure's: the group shares the function, not the line
    assert helper.root_cause == "src/shop/pricing.py:41 in discount"
    assert helper.location == "src/shop/pricing.py:41"
    assert helper.title.startswith("decimal.InvalidOperation in src/shop/pricing.py:discount: ")
    assert "cannot discount order <n> (coupon '<id>') read from <tmp>/order.json" in helper.title
    assert helper.title.endswith(" — 30 tests")
    assert helper.kind == "failure"
    assert helper.severity == "critical"  # 30 of 200 tests: over 10% and at least 5
    assert helper.message is not None and helper.message.startswith("cannot discount order 1000")

    assert other.tests == ("tests/test_users.py::test_alice", "tests/test_users.py::test_bob")
    assert other.root_cause == "src/shop/users.py:12 in lookup"
    assert other.severity == "medium"
    assert other.title == "KeyError in src/shop/users.py:lookup: '<id>' — 2 tests"
    assert {i.state for i in issues} == {"new"}
    assert {(i.first_seen, i.last_seen, i.occurrences) for i in issues} == {(7, 7, 1)}


def test_a_title_is_short_even_for_a_long_message() -> None:
    long = result("tests/test_a.py::test_a", DISCOUNT, message="x" * 500)
    (issue,) = triage([long], previous=None, run_id=1)
    assert len(issue.title) < 160
    assert issue.title.endswith("x…")


def test_root_cause_prefers_code_outside_the_tests() -> None:
    # the test hands a lambda to a runner; the lambda (in the test file) raises
    runner = Frame("src/shop/jobs.py", 30, "run")
    failures = [
        result(
            f"tests/test_jobs.py::test_retry[{n}]",
            runner,
            Frame("tests/test_jobs.py", 14, "<lambda>"),
            exc_type="RuntimeError",
            message=f"attempt {n} failed",
        )
        for n in range(3)
    ]
    (issue,) = triage(failures, previous=None, run_id=1)
    assert issue.root_cause == "src/shop/jobs.py:30 in run"


def test_a_bare_assert_in_a_test_body_points_at_the_test() -> None:
    failure = result(
        "tests/test_cart.py::test_empty", exc_type="AssertionError", message="assert 3 == 0"
    )
    (issue,) = triage([failure, passed("tests/test_cart.py::test_full")], previous=None, run_id=1)
    assert issue.root_cause == "tests/test_cart.py:10 in test_empty"
    assert issue.title == "AssertionError in tests/test_cart.py:test_empty: assert <n> == <n>"
    assert issue.severity == "medium"


@pytest.mark.parametrize(
    ("failure", "kind", "severity"),
    [
        (
            result(
                "tests/test_db.py::test_a",
                Frame("tests/conftest.py", 9, "db"),
                outcome="error",
                when="setup",
            ),
            "error",
            "high",
        ),
        (
            result("tests/test_db.py::test_a", CART_TOTAL, outcome="error", when="teardown"),
            "error",
            "high",
        ),
        (
            result(
                "tests/test_legacy.py",
                Frame("tests/test_legacy.py", 1, "<module>"),
                exc_type="ModuleNotFoundError",
                message="No module named 'shop.legacy'",
                outcome="error",
                when="collect",
            ),
            "error",
            "critical",
        ),
        (
            result(
                "tests/test_native.py::test_a",
                exc_type="Crash",
                message="Fatal Python error: Segmentation fault",
            ),
            "error",
            "critical",
        ),
        (
            result(
                "tests/test_slow.py::test_a", CART_TOTAL, exc_type="Failed", message="Timeout >5.0s"
            ),
            "error",
            "critical",
        ),
        (result("tests/test_cart.py::test_a", CART_TOTAL), "failure", "medium"),
    ],
    ids=["setup", "teardown", "collection", "segfault", "timeout", "call"],
)
def test_kind_and_severity_of_single_failures(
    failure: TestResult, kind: str, severity: str
) -> None:
    (issue,) = triage(suite([failure], 99), previous=None, run_id=1)
    assert (issue.kind, issue.severity) == (kind, severity)


def test_a_test_that_passed_in_the_baseline_is_a_high_regression() -> None:
    failure = result("tests/test_cart.py::test_total", CART_TOTAL)
    (plain,) = triage(suite([failure], 99), previous=None, run_id=2)
    (issue,) = triage(
        suite([failure], 99),
        previous=None,
        run_id=2,
        baseline_passed={"tests/test_cart.py::test_total"},
    )
    assert (plain.kind, plain.severity) == ("failure", "medium")
    assert (issue.kind, issue.severity) == ("regression", "high")


def test_a_failure_that_passed_on_a_rerun_is_flaky_and_low() -> None:
    flaky = result("tests/test_net.py::test_fetch", CART_TOTAL, reruns=("failed", "passed"))
    (issue,) = triage(suite([flaky], 99), previous=None, run_id=3, baseline_passed={flaky.nodeid})
    assert (issue.kind, issue.severity) == ("flaky", "low")


def test_a_group_with_one_broken_test_is_not_flaky() -> None:
    flaky = result("tests/test_net.py::test_a", CART_TOTAL, reruns=("passed",))
    broken = result("tests/test_net.py::test_b", CART_TOTAL, reruns=("failed",))
    (issue,) = triage(suite([flaky, broken], 98), previous=None, run_id=3)
    assert issue.kind == "failure"


def test_quarantined_tests_are_low_even_when_many() -> None:
    failures = [result(f"tests/net/test_dns.py::test_{i}", CART_TOTAL) for i in range(6)]
    (issue,) = triage(failures, previous=None, run_id=3, quarantine=["tests/net/*.py"])
    (loud,) = triage(failures, previous=None, run_id=3, quarantine=["tests/other.py"])
    assert issue.severity == "low"
    assert loud.severity == "critical"


@pytest.mark.parametrize(
    ("failing", "passing", "severity"),
    [
        (1, 99, "medium"),
        (2, 98, "medium"),
        (3, 97, "high"),
        (5, 95, "high"),  # 5%: not a critical share
        (10, 90, "critical"),  # 10% and >= 5 tests
        (4, 6, "high"),  # 40%, but fewer than 5 tests
        (5, 35, "critical"),
    ],
)
def test_severity_by_spread(failing: int, passing: int, severity: str) -> None:
    failures = [result(f"tests/test_cart.py::test_{i}", CART_TOTAL) for i in range(failing)]
    (issue,) = triage(suite(failures, passing), previous=None, run_id=1)
    assert issue.severity == severity


def test_severity_thresholds_are_configurable() -> None:
    failures = [result(f"tests/test_cart.py::test_{i}", CART_TOTAL) for i in range(2)]
    rules = SeverityRules(critical_share=0.01, critical_min_tests=2, high_min_tests=1)
    (issue,) = triage(suite(failures, 98), previous=None, run_id=1, rules=rules)
    assert issue.severity == "critical"
    rules = SeverityRules(critical_min_tests=50, high_min_tests=2)
    (issue,) = triage(suite(failures, 0), previous=None, run_id=1, rules=rules)
    assert issue.severity == "high"


def test_the_share_of_a_partial_run_is_taken_of_the_suite_size() -> None:
    failures = [result(f"tests/test_cart.py::test_{i}", CART_TOTAL) for i in range(5)]
    (retest,) = triage(failures, previous=None, run_id=2, partial=True)
    (sized,) = triage(failures, previous=None, run_id=2, partial=True, suite_size=1000)
    assert (retest.severity, sized.severity) == ("critical", "high")


def stored(failure: TestResult, **changes: object) -> dict[str, Issue]:
    """The history's copy of the issue `failure` makes, as run 5 left it."""
    (issue,) = triage([failure], previous=None, run_id=5)
    return {issue.fingerprint: replace(issue, **changes)}  # type: ignore[arg-type]


def test_states_across_runs() -> None:
    bug = result("tests/test_cart.py::test_total", CART_TOTAL)
    (new,) = triage([bug], previous={}, run_id=6)
    (recurring,) = triage([bug], previous=stored(bug, occurrences=3), run_id=6)
    (reopened,) = triage(
        [bug], previous=stored(bug, state="fixed", first_seen=2, occurrences=3), run_id=6
    )
    assert (new.state, new.first_seen, new.occurrences) == ("new", 6, 1)
    assert (recurring.state, recurring.first_seen, recurring.last_seen) == ("recurring", 5, 6)
    assert recurring.occurrences == 4
    assert (reopened.state, reopened.first_seen, reopened.occurrences) == ("reopened", 2, 4)


def test_judging_one_run_twice_changes_nothing() -> None:
    bug = result("tests/test_cart.py::test_total", CART_TOTAL)
    (first,) = triage([bug], previous={}, run_id=6)
    (again,) = triage([bug], previous={first.fingerprint: first}, run_id=6)
    assert again == first


def test_an_open_issue_whose_test_passes_now_comes_back_fixed() -> None:
    bug = result("tests/test_cart.py::test_total", CART_TOTAL)
    previous = stored(bug, state="recurring")
    issues = triage([passed(bug.nodeid), lookup_bug("carol")], previous=previous, run_id=6)
    assert [(i.state, i.kind) for i in issues] == [("new", "failure"), ("fixed", "failure")]
    fixed = issues[-1]
    assert fixed.fingerprint == fingerprint(bug)
    assert fixed.last_seen == 5
    assert rank(issues) == issues[:1]


def test_a_partial_run_fixes_only_issues_whose_tests_ran() -> None:
    bug = result("tests/test_cart.py::test_total", CART_TOTAL)
    previous = stored(bug)
    elsewhere = [passed("tests/test_users.py::test_alice")]
    assert triage(elsewhere, previous=previous, run_id=6, partial=True) == []
    skipped = [TestResult(bug.nodeid, "skipped")]
    assert fixed_issues(previous, skipped, partial=True) == []
    (fixed,) = fixed_issues(previous, [passed(bug.nodeid)], partial=True)
    assert fixed.state == "fixed"
    # a full run: the failure is gone from the suite, whatever happened to the test
    (gone,) = fixed_issues(previous, elsewhere)
    assert gone.fingerprint == fingerprint(bug)


def test_fixed_and_kpi_issues_are_left_alone() -> None:
    bug = result("tests/test_cart.py::test_total", CART_TOTAL)
    breach = breach_issue(KpiVerdict("coverage", 80.0, "%", ">= 90%", "fail"))
    previous = {**stored(bug, state="fixed"), breach.fingerprint: breach}
    assert fixed_issues(previous, [passed(bug.nodeid)]) == []


def issue(fp: str, severity: str, tests: int, state: str = "new") -> Issue:
    return Issue(
        fp, fp, "failure", severity, tests=tuple(f"t{i}" for i in range(tests)), state=state
    )


def test_rank_by_severity_then_spread_then_novelty() -> None:
    issues = [
        issue("a", "medium", 1),
        issue("b", "high", 3, state="recurring"),
        issue("c", "high", 3, state="reopened"),
        issue("d", "high", 8, state="recurring"),
        issue("e", "critical", 1),
        issue("f", "low", 20),
        issue("g", "critical", 50, state="fixed"),
    ]
    assert [i.fingerprint for i in rank(issues, top=None)] == ["e", "d", "c", "b", "a", "f"]
    assert [i.fingerprint for i in rank(issues)] == ["e", "d", "c", "b", "a"]
    assert [i.fingerprint for i in rank(issues, top=2)] == ["e", "d"]


def test_triage_returns_open_issues_ranked() -> None:
    failures = [lookup_bug("alice")] + [discount_bug(i) for i in range(3)]
    issues = triage(suite(failures, 96), previous=None, run_id=1)
    assert [len(i.tests) for i in issues] == [3, 1]
    assert [i.severity for i in issues] == ["high", "medium"]


def test_breach_issue_for_a_missed_target() -> None:
    verdict = KpiVerdict(
        "p95_response_time", 2.41, "s", "< 2s", "fail", source="scenario:steady-100"
    )
    issue = breach_issue(verdict)
    assert issue.title == "p95_response_time 2.41s misses target < 2s"
    assert (issue.kind, issue.severity, issue.root_cause) == (
        "breach",
        "high",
        "scenario:steady-100",
    )
    assert len(issue.fingerprint) == 16


def test_breach_issue_for_a_regression_keeps_one_fingerprint_per_kpi() -> None:
    regressed = KpiVerdict(
        "suite_duration",
        540.0,
        "s",
        "< 10min",
        "pass",
        baseline=412.0,
        regressed=True,
        detail="median 412s -> 540s (+31%), Mann-Whitney p=0.0004",
    )
    both = replace(regressed, value=660.0, status="fail")
    issue = breach_issue(regressed)
    assert issue.kind == "regression"
    assert issue.title == "suite_duration regressed: 6.9min -> 9.0min (+31%)"
    assert issue.message == regressed.detail
    assert (
        breach_issue(both).title
        == "suite_duration 11.0min misses target < 10min, regressed from 6.9min (+60%)"
    )
    assert breach_issue(both).fingerprint == issue.fingerprint
    assert breach_issue(regressed, kind="slow").kind == "slow"
    with pytest.raises(ValueError, match="neither"):
        breach_issue(replace(regressed, regressed=False))


def test_breach_issue_carries_its_state() -> None:
    verdict = KpiVerdict("memory_rss", 600 * 1024**2, "MB", "< 500MB", "fail")
    first = breach_issue(verdict, run_id=3)
    assert (first.state, first.first_seen) == ("new", 3)
    again = breach_issue(verdict, previous=first, run_id=4)
    assert (again.state, again.first_seen, again.occurrences) == ("recurring", 3, 2)
    assert again.title == "memory_rss 600.0MB misses target < 500MB"
