"""Failure fingerprints: one bug is one fingerprint, two bugs are two."""

from __future__ import annotations

import pytest

from passcycle.records import Frame, TestResult
from passcycle.validate.fingerprint import fingerprint, key_frame, normalise_message

LIB = Frame("/usr/lib/python3.11/json/decoder.py", 355, "raw_decode", in_project=False)


def failed(
    nodeid: str,
    *frames: Frame,
    exc_type: str = "ValueError",
    message: str = "boom",
    outcome: str = "failed",
    when: str = "call",
) -> TestResult:
    return TestResult(
        nodeid=nodeid,
        outcome=outcome,
        file=nodeid.split("::")[0],
        exc_type=exc_type,
        message=message,
        frames=frames,
        when=when,
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("expected 3 got 4", "expected <n> got <n>"),
        ("expected -2.5e-05, got 17", "expected <n>, got <n>"),
        ("<Order object at 0x7f3a2b1c0d90> is closed", "<Order object at <hex>> is closed"),
        ("no row 123e4567-e89b-12d3-a456-426614174000", "no row <uuid>"),
        ("commit 3f2a9c1d0b is unknown", "commit <hex> is unknown"),
        (
            "/tmp/pytest-of-alice/pytest-12/test_refund_30/orders/7.json missing",
            "<tmp>/orders/<n>.json missing",
        ),
        ("cannot write /tmp/tmpk2j4_8qz/out.db", "cannot write <tmp>/out.db"),
        ("lock held: /private/var/folders/x1/ab2cd/T/tmpq1w2/db.lock", "lock held: <tmp>/db.lock"),
        ("KeyError: 'sess-4f9a1c'", "KeyError: '<id>'"),
        ("at 2024-05-01T12:03:44.120Z (12:03:45)", "at <time> (<time>)"),
        ("[1, 2, 3] != [1, 2]", "[<n>, ...] != [<n>, ...]"),
        ("dtype int64 is not float32", "dtype int64 is not float32"),
        ("KeyError: 'name'", "KeyError: 'name'"),
        ("version 1.2.3 at 127.0.0.1:8000", "version <n> at <n>:<n>"),
    ],
)
def test_normalise_message_masks_what_varies(message: str, expected: str) -> None:
    assert normalise_message(message) == expected


def test_passed_and_skipped_results_have_no_fingerprint() -> None:
    assert fingerprint(TestResult("tests/test_a.py::test_ok", "passed")) is None
    assert fingerprint(TestResult("tests/test_a.py::test_skip", "skipped")) is None
    assert fingerprint(failed("tests/test_a.py::test_bad")) is not None


def test_the_fingerprint_is_short_and_stable() -> None:
    result = failed("tests/test_a.py::test_bad", Frame("src/shop/cart.py", 3, "total"))
    assert fingerprint(result) == fingerprint(result)
    assert len(fingerprint(result) or "") == 16


def test_messages_differing_only_in_data_share_a_fingerprint() -> None:
    helper = Frame("src/shop/pricing.py", 41, "discount")
    one = failed(
        "tests/test_cart.py::test_total",
        Frame("tests/test_cart.py", 12, "test_total"),
        helper,
        message="order 17 (id 'ord-8f3a2c') from /tmp/pytest-of-ci/pytest-3/test_total0/x.json: "
        "expected 3 got 4",
    )
    two = failed(
        "tests/api/test_refunds.py::test_refund[eur]",
        Frame("tests/api/test_refunds.py", 88, "test_refund"),
        helper,
        message="order 9012 (id 'ord-11d0e9') from "
        "/tmp/pytest-of-ci/pytest-3/test_refund_eur_0/x.json: expected 12 got 7",
    )
    assert fingerprint(one) == fingerprint(two)


def test_different_exception_types_with_one_message_differ() -> None:
    frame = Frame("src/shop/pricing.py", 41, "discount")
    value = failed("tests/test_a.py::test_a", frame, exc_type="ValueError", message="bad 3")
    key = failed("tests/test_a.py::test_a", frame, exc_type="KeyError", message="bad 3")
    assert fingerprint(value) != fingerprint(key)


def test_different_messages_or_raise_sites_differ() -> None:
    base = failed("tests/test_a.py::test_a", Frame("src/shop/pricing.py", 41, "discount"))
    other_message = failed(
        "tests/test_a.py::test_a", Frame("src/shop/pricing.py", 41, "discount"), message="bang"
    )
    other_function = failed("tests/test_a.py::test_a", Frame("src/shop/pricing.py", 41, "tax"))
    other_file = failed("tests/test_a.py::test_a", Frame("src/shop/shipping.py", 41, "discount"))
    prints = {fingerprint(r) for r in (base, other_message, other_function, other_file)}
    assert len(prints) == 4


def test_a_moved_line_does_not_split_an_issue() -> None:
    before = failed("tests/test_a.py::test_a", Frame("src/shop/pricing.py", 41, "discount"))
    after = failed("tests/test_a.py::test_a", Frame("src/shop/pricing.py", 57, "discount"))
    assert fingerprint(before) == fingerprint(after)


def test_one_helper_reached_through_different_callers_is_one_fingerprint() -> None:
    helper = Frame("src/shop/pricing.py", 41, "discount")
    via_cart = failed(
        "tests/test_cart.py::test_total",
        Frame("tests/test_cart.py", 12, "test_total"),
        Frame("src/shop/cart.py", 20, "total"),
        helper,
    )
    via_invoice = failed(
        "tests/test_invoice.py::test_render",
        Frame("tests/test_invoice.py", 30, "test_render"),
        Frame("src/shop/invoice.py", 64, "render"),
        Frame("src/shop/cart.py", 20, "total"),
        helper,
    )
    assert key_frame(via_cart) == helper
    assert fingerprint(via_cart) == fingerprint(via_invoice)


def test_library_frames_below_the_project_do_not_split() -> None:
    caller = Frame("src/shop/config.py", 9, "load")
    one = failed("tests/test_a.py::test_a", Frame("tests/test_a.py", 3, "test_a"), caller, LIB)
    two = failed(
        "tests/test_b.py::test_b",
        Frame("tests/test_b.py", 5, "test_b"),
        caller,
        Frame("/usr/lib/python3.11/json/__init__.py", 346, "loads", in_project=False),
        LIB,
    )
    assert key_frame(one) == caller
    assert fingerprint(one) == fingerprint(two)


def test_a_shared_conftest_fixture_is_the_key_frame() -> None:
    fixture = Frame("tests/conftest.py", 14, "db")
    results = [
        failed(
            f"tests/test_{name}.py::test_{name}",
            fixture,
            Frame("src/shop/db.py", 31, "connect"),
            exc_type="OperationalError",
            message="connection refused on port 54321",
            outcome="error",
            when="setup",
        )
        for name in ("users", "orders", "refunds")
    ]
    assert {fingerprint(r) for r in results} == {fingerprint(results[0])}
    assert key_frame(results[0]) == Frame("src/shop/db.py", 31, "connect")


def test_bare_asserts_in_test_bodies_stay_apart_but_parameters_do_not_split() -> None:
    def body(nodeid: str, function: str, line: int, message: str) -> TestResult:
        path = nodeid.split("::")[0]
        return failed(
            nodeid, Frame(path, line, function), exc_type="AssertionError", message=message
        )

    total_1 = body("tests/test_cart.py::test_total[1]", "test_total", 12, "assert 3 == 4")
    total_2 = body("tests/test_cart.py::test_total[2]", "test_total", 12, "assert 5 == 6")
    empty = body("tests/test_cart.py::test_empty", "test_empty", 30, "assert 3 == 4")
    assert fingerprint(total_1) == fingerprint(total_2)
    assert fingerprint(total_1) != fingerprint(empty)


def test_a_helper_in_the_test_file_is_shared_by_its_tests() -> None:
    def through_helper(test: str) -> TestResult:
        return failed(
            f"tests/test_api.py::{test}",
            Frame("tests/test_api.py", 40, test),
            Frame("tests/test_api.py", 8, "check_status"),
            exc_type="AssertionError",
            message="expected 200 got 500",
        )

    assert fingerprint(through_helper("test_list")) == fingerprint(through_helper("test_get"))


def test_one_missing_module_in_many_test_files_is_one_fingerprint() -> None:
    results = [
        failed(
            f"tests/test_{name}.py",
            Frame(f"tests/test_{name}.py", 1, "<module>"),
            exc_type="ModuleNotFoundError",
            message="No module named 'shop.legacy'",
            outcome="error",
            when="collect",
        )
        for name in ("a", "b", "c", "d", "e")
    ]
    assert key_frame(results[0]) is None
    assert len({fingerprint(r) for r in results}) == 1


def test_test_frames_are_recognised_when_pytest_rootdir_is_below_the_project() -> None:
    # pytest ran from tests/: node ids say "test_a.py", frames say "tests/test_a.py"
    helper = Frame("src/shop/pricing.py", 41, "discount")
    one = failed("test_a.py::test_one", Frame("tests/test_a.py", 3, "test_one"), helper)
    two = failed("test_b.py::test_two", Frame("tests/test_b.py", 9, "test_two"), helper)
    assert fingerprint(one) == fingerprint(two)


def test_a_failure_without_an_exception_still_groups() -> None:
    crash = TestResult("tests/test_a.py::test_a", "error", message="worker crashed")
    assert fingerprint(crash) == fingerprint(
        TestResult("tests/test_b.py::test_b", "error", message="worker crashed")
    )
    assert fingerprint(crash) != fingerprint(
        TestResult("tests/test_b.py::test_b", "failed", message="worker crashed")
    )
