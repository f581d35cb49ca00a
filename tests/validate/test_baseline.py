"""Baseline comparison: a real regression is caught, noise is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from passcycle.validate.baseline import compare_samples, compare_values

TRIALS = 200
N = 30


def lognormal(rng: np.random.Generator, median: float) -> list[float]:
    """Timings: skewed, about 20% spread."""
    return list(rng.lognormal(mean=math.log(median), sigma=0.2, size=N))


def normal(rng: np.random.Generator, mean: float) -> list[float]:
    return list(rng.normal(loc=mean, scale=0.2 * mean, size=N))


@pytest.mark.parametrize("draw", [lognormal, normal])
def test_no_real_change_raises_at_most_five_percent_false_alarms(draw) -> None:
    rng = np.random.default_rng(20240501)
    alarms = sum(
        compare_samples(draw(rng, 0.412), draw(rng, 0.412), higher_is_better=False).regressed
        for _ in range(TRIALS)
    )
    assert alarms <= 0.05 * TRIALS


@pytest.mark.parametrize("draw", [lognormal, normal])
def test_a_real_thirty_percent_slowdown_is_caught_at_least_95_percent_of_the_time(draw) -> None:
    rng = np.random.default_rng(7)
    caught = sum(
        compare_samples(draw(rng, 0.412), draw(rng, 0.412 * 1.3), higher_is_better=False).regressed
        for _ in range(TRIALS)
    )
    assert caught >= 0.95 * TRIALS


def test_a_throughput_drop_is_a_regression_and_a_rise_an_improvement() -> None:
    rng = np.random.default_rng(3)
    before, after = normal(rng, 1000.0), normal(rng, 600.0)
    drop = compare_samples(before, after, higher_is_better=True, unit="/s")
    rise = compare_samples(after, before, higher_is_better=True, unit="/s")
    assert (drop.regressed, drop.improved) == (True, False)
    assert (rise.regressed, rise.improved) == (False, True)
    assert drop.effect < -0.3
    assert drop.p_value is not None and drop.p_value < 0.01


def test_the_detail_says_what_was_compared_and_how() -> None:
    rng = np.random.default_rng(11)
    result = compare_samples(
        lognormal(rng, 0.412), lognormal(rng, 0.540), higher_is_better=False, unit="s"
    )
    assert result.regressed
    assert result.method == "mann-whitney"
    assert (result.n_baseline, result.n_current) == (N, N)
    assert result.detail.startswith("median ")
    assert "ms -> " in result.detail
    assert f"({result.effect:+.0%})" in result.detail
    assert "Mann-Whitney p=" in result.detail
    assert result.effect == pytest.approx(result.current / result.baseline - 1)


def test_a_significant_but_small_change_is_not_a_regression() -> None:
    rng = np.random.default_rng(5)
    before = list(rng.normal(100.0, 1.0, 500))
    after = list(rng.normal(105.0, 1.0, 500))  # certain, but only 5%
    result = compare_samples(before, after, higher_is_better=False, min_effect=0.10)
    assert result.p_value is not None and result.p_value < 1e-6
    assert not result.regressed
    assert compare_samples(before, after, higher_is_better=False, min_effect=0.03).regressed


def test_a_large_change_that_may_be_noise_is_not_a_regression() -> None:
    before = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0]
    after = [1.5, 3.5, 1.0, 3.0, 1.5, 3.0]  # median +12.5%, but indistinguishable
    result = compare_samples(before, after, higher_is_better=False)
    assert result.effect == pytest.approx(0.125)
    assert not result.regressed


def test_identical_samples_are_neither_worse_nor_better() -> None:
    result = compare_samples([2.0] * 10, [2.0] * 10, higher_is_better=False)
    assert (result.regressed, result.improved, result.effect) == (False, False, 0.0)
    assert result.p_value is not None and not math.isnan(result.p_value)


def test_too_few_samples_fall_back_to_the_effect_and_say_so() -> None:
    result = compare_samples([0.40, 0.41, 0.42], [0.60, 0.61], higher_is_better=False, unit="s")
    assert result.regressed
    assert result.p_value is None
    assert result.method.startswith("medians only: n=3 vs 2")
    assert "no significance test" in result.detail
    single = compare_samples([0.40], [0.42], higher_is_better=False)
    assert single.method == "single values"
    assert not single.regressed  # +5% is under the 10% minimum effect


def test_non_finite_samples_are_dropped_and_none_left_is_an_error() -> None:
    result = compare_samples([1.0, math.nan, 1.0], [2.0, math.inf], higher_is_better=False)
    assert (result.n_baseline, result.n_current) == (2, 1)
    with pytest.raises(ValueError, match="baseline"):
        compare_samples([math.nan], [1.0], higher_is_better=False)


def test_compare_values_relative() -> None:
    slower = compare_values(412.0, 540.0, higher_is_better=False, min_effect=0.10)
    assert slower.regressed and not slower.improved
    assert slower.effect == pytest.approx(128 / 412)
    assert slower.method == "single values"
    assert not compare_values(412.0, 440.0, higher_is_better=False, min_effect=0.10).regressed
    faster = compare_values(412.0, 300.0, higher_is_better=False, min_effect=0.10)
    assert faster.improved and not faster.regressed


def test_a_coverage_drop_beyond_a_small_tolerance_is_a_regression() -> None:
    drop = compare_values(
        91.2, 89.0, higher_is_better=True, min_effect=0.5, absolute=True, unit="%"
    )
    assert drop.regressed
    assert drop.detail == "91.20% -> 89.00% (-2.20 points)"
    wobble = compare_values(91.2, 90.9, higher_is_better=True, min_effect=0.5, absolute=True)
    assert not wobble.regressed and not wobble.improved
    assert compare_values(89.0, 91.2, higher_is_better=True, min_effect=0.5, absolute=True).improved


def test_from_zero_any_change_is_infinite() -> None:
    errors = compare_values(0.0, 3.0, higher_is_better=False, min_effect=0.10)
    assert errors.regressed and errors.effect == math.inf
    assert "+∞" in errors.detail
    assert not compare_values(0.0, 0.0, higher_is_better=False, min_effect=0.0).regressed
