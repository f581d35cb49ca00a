"""Flakiness: broken, flaky or passed; flip rates; quarantine patterns."""

from __future__ import annotations

import pytest

from passcycle.validate.flaky import classify, flip_rate, is_quarantined


@pytest.mark.parametrize(
    ("first", "reruns", "verdict"),
    [
        ("failed", ("failed", "failed"), "broken"),
        ("error", ("failed",), "broken"),
        ("failed", (), "broken"),  # never re-run: no evidence of flakiness
        ("failed", ("skipped", "skipped"), "broken"),
        ("failed", ("failed", "passed"), "flaky"),
        ("error", ("passed",), "flaky"),
        ("passed", ("failed",), "flaky"),
        ("passed", (), "passed"),
        ("passed", ("passed", "skipped"), "passed"),
        ("xfailed", ("xfailed",), "passed"),
        ("skipped", (), "passed"),
    ],
)
def test_classify(first: str, reruns: tuple[str, ...], verdict: str) -> None:
    assert classify(first, reruns) == verdict


@pytest.mark.parametrize(
    ("outcomes", "rate"),
    [
        ([], 0.0),
        (["failed"], 0.0),
        (["passed"] * 10, 0.0),
        (["failed"] * 10, 0.0),
        (["passed", "failed", "passed", "failed", "passed"], 1.0),
        (["passed", "passed", "failed", "failed", "passed"], 0.5),
        (["passed", "skipped", "failed", "skipped", "skipped", "failed"], 0.5),
        (["passed", "error"], 1.0),
    ],
)
def test_flip_rate(outcomes: list[str], rate: float) -> None:
    assert flip_rate(outcomes) == pytest.approx(rate)


def test_flip_rate_over_recent_history_only() -> None:
    history = ["passed", "failed"] * 10 + ["passed"] * 5
    assert flip_rate(history) == pytest.approx(20 / 24)
    assert flip_rate(history, window=5) == 0.0
    assert flip_rate(history, window=7) == pytest.approx(2 / 6)  # P F P P P P P
    assert flip_rate(history, window=0) == 0.0


@pytest.mark.parametrize(
    ("nodeid", "patterns", "expected"),
    [
        ("tests/test_net.py::test_dns", ["tests/test_net.py::test_dns"], True),
        ("tests/test_net.py::test_dns", ["tests/test_net.py"], True),
        ("tests/net/test_dns.py::TestResolver::test_a", ["tests/net/*.py"], True),
        ("tests/net/test_dns.py::TestResolver::test_a", ["*::TestResolver"], True),
        ("tests/test_net.py::test_dns[ipv6]", ["tests/test_net.py::test_dns"], True),
        ("tests/test_net.py::test_dns[ipv6]", ["*[[]ipv6[]]"], True),
        ("tests/test_net.py::test_dns[ipv4]", ["*[[]ipv6[]]"], False),
        ("tests/test_net.py::test_dns_cache", ["tests/test_net.py::test_dns"], False),
        ("tests/test_net.py::test_dns", ["tests/test_db.py", "*::test_http*"], False),
        ("tests/test_net.py::test_dns", ["Tests/*"], False),  # case-sensitive
        ("tests/test_net.py::test_dns", [], False),
    ],
)
def test_is_quarantined(nodeid: str, patterns: list[str], expected: bool) -> None:
    assert is_quarantined(nodeid, patterns) is expected
