"""The circuit breaker: closed -> open -> half-open -> closed or open again."""

import pytest
from conftest import FakeClock

from organism.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


def test_a_new_breaker_is_closed_and_lets_calls_through(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock)
    assert breaker.state == CLOSED
    assert breaker.allow()


def test_it_opens_only_after_the_threshold_of_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(2, 5.0, clock)
    breaker.record_failure()
    breaker.record_success()
    assert breaker.failures == 0
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_after_the_cool_down_it_is_half_open_and_allows_one_trial(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record_failure()
    clock.advance(4.9)
    assert breaker.state == OPEN
    clock.advance(0.1)
    assert breaker.state == HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "a second call while the trial is out must wait"


def test_a_successful_trial_closes_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_reopens_it_for_a_full_cool_down(clock: FakeClock) -> None:
    breaker = CircuitBreaker(3, 5.0, clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_a_trial_that_never_reports_back_is_replaced_after_another_cool_down(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()  # this caller is cancelled and never records a result
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


@pytest.mark.parametrize(("threshold", "timeout"), [(0, 5.0), (1, -1.0)])
def test_nonsense_settings_are_refused(threshold: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, timeout)
