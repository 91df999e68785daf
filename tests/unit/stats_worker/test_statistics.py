"""Welch, two-proportion and SRM tests over sufficient statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from stats_worker.statistics import Effect, Moments, Proportion, srm, two_proportion, welch

samples = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=0, max_size=40
)
sizes = st.integers(min_value=0, max_value=10_000)


def _moments(xs: list[float]) -> Moments:
    a = np.asarray(xs, dtype=float)
    return Moments(
        n=len(a),
        mean=float(a.mean()) if len(a) else 0.0,
        variance=float(a.var(ddof=1)) if len(a) > 1 else None,
    )


@st.composite
def proportions(draw: st.DrawFn) -> Proportion:
    n = draw(sizes)
    return Proportion(n=n, successes=draw(st.integers(min_value=0, max_value=n)))


def _all_finite_or_none(effect: Effect | None) -> bool:
    if effect is None:
        return True
    values = [
        effect.difference,
        effect.relative,
        effect.ci_low,
        effect.ci_high,
        effect.p_value,
        effect.statistic,
    ]
    return all(v is None or math.isfinite(v) for v in [*values, effect.df])


def test_welch_equals_scipy_from_stats() -> None:
    t, c = Moments(n=40, mean=10.5, variance=4.0), Moments(n=25, mean=9.0, variance=9.0)
    effect = welch(t, c)
    ref = stats.ttest_ind_from_stats(10.5, 2.0, 40, 9.0, 3.0, 25, equal_var=False)
    assert effect is not None
    assert effect.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert effect.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert effect.difference == 1.5
    assert effect.relative == pytest.approx(1.5 / 9.0)


def test_welch_without_variance_gives_only_the_difference() -> None:
    effect = welch(Moments(n=1, mean=3.0, variance=None), Moments(n=5, mean=1.0, variance=2.0))
    assert effect == Effect(
        difference=2.0, relative=2.0, ci_low=None, ci_high=None, p_value=None, statistic=None
    )


def test_welch_needs_two_values_per_arm_whatever_the_variance_says() -> None:
    effect = welch(Moments(n=1, mean=3.0, variance=0.0), Moments(n=5, mean=1.0, variance=2.0))
    assert effect is not None
    assert effect.p_value is None


def test_welch_with_zero_variance_in_both_arms_has_no_test() -> None:
    effect = welch(Moments(n=3, mean=1.0, variance=0.0), Moments(n=3, mean=2.0, variance=0.0))
    assert effect is not None
    assert effect.p_value is None
    assert effect.statistic is None
    assert effect.ci_low is None


def test_an_empty_arm_has_no_effect() -> None:
    assert welch(Moments(n=0, mean=0.0, variance=None), Moments(n=3, mean=1.0, variance=1.0)) is None
    assert two_proportion(Proportion(n=0, successes=0), Proportion(n=10, successes=2)) is None


def test_relative_lift_is_none_against_a_zero_control() -> None:
    effect = two_proportion(Proportion(n=10, successes=2), Proportion(n=10, successes=0))
    assert effect is not None
    assert effect.relative is None
    assert effect.p_value is not None


def test_proportions_at_zero_or_one_have_no_z() -> None:
    effect = two_proportion(Proportion(n=10, successes=0), Proportion(n=20, successes=0))
    assert effect == Effect(
        difference=0.0, relative=None, ci_low=None, ci_high=None, p_value=None, statistic=None
    )


@given(samples, samples)
@settings(max_examples=150)
def test_moments_from_sums_match_numpy(xs: list[float], ys: list[float]) -> None:
    values = [x / 1000 + 7 for x in xs]  # moderate magnitudes: the sum-of-squares form is not for huge means
    m = Moments.from_sums(len(values), sum(values), sum(v * v for v in values))
    ref = _moments(values)
    assert m.n == ref.n
    assert m.mean == pytest.approx(ref.mean, rel=1e-9, abs=1e-9)
    assert (m.variance is None) == (ref.variance is None)
    if m.variance is not None and ref.variance is not None:
        assert m.variance == pytest.approx(ref.variance, rel=1e-6, abs=1e-6)


@given(samples, samples)
@settings(max_examples=150)
def test_swapping_arms_negates_the_welch_effect_and_keeps_p(xs: list[float], ys: list[float]) -> None:
    forward, backward = welch(_moments(xs), _moments(ys)), welch(_moments(ys), _moments(xs))
    assert _all_finite_or_none(forward)
    assert _all_finite_or_none(backward)
    if forward is None or backward is None:
        assert forward is backward is None
        return
    assert backward.difference == -forward.difference
    assert backward.p_value == forward.p_value
    assert backward.df == forward.df
    if forward.statistic is not None and backward.statistic is not None:
        assert backward.statistic == -forward.statistic
    if forward.ci_low is not None and backward.ci_high is not None:
        assert backward.ci_high == pytest.approx(-forward.ci_low, rel=1e-12, abs=1e-9)


@given(proportions(), proportions())
@settings(max_examples=200)
def test_swapping_arms_negates_the_proportion_effect_and_keeps_p(a: Proportion, b: Proportion) -> None:
    forward, backward = two_proportion(a, b), two_proportion(b, a)
    assert _all_finite_or_none(forward)
    assert _all_finite_or_none(backward)
    if forward is None or backward is None:
        assert forward is backward is None
        return
    assert backward.difference == -forward.difference
    assert backward.p_value == forward.p_value
    assert (forward.statistic is None) == (backward.statistic is None)
    if forward.statistic is not None and backward.statistic is not None:
        assert backward.statistic == -forward.statistic


@given(samples, samples)
@settings(max_examples=150)
def test_welch_ci_holds_the_difference_and_excludes_zero_exactly_when_significant(
    xs: list[float], ys: list[float]
) -> None:
    effect = welch(_moments(xs), _moments(ys))
    assume(effect is not None and effect.p_value is not None)
    assert effect is not None
    assert effect.p_value is not None
    assert effect.ci_low is not None
    assert effect.ci_high is not None
    assert 0.0 <= effect.p_value <= 1.0
    assert effect.ci_low <= effect.difference <= effect.ci_high
    assume(abs(effect.p_value - 0.05) > 1e-6)
    assert (effect.p_value < 0.05) == (effect.ci_low > 0 or effect.ci_high < 0)


@given(proportions(), proportions())
@settings(max_examples=150)
def test_squared_z_equals_the_uncorrected_contingency_chi_square(a: Proportion, b: Proportion) -> None:
    effect = two_proportion(a, b)
    assume(effect is not None and effect.statistic is not None and a.n > 0 and b.n > 0)
    assert effect is not None
    assert effect.statistic is not None
    assert effect.p_value is not None
    table = [[a.successes, a.n - a.successes], [b.successes, b.n - b.successes]]
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert effect.statistic**2 == pytest.approx(chi2, rel=1e-9)
    assert effect.p_value == pytest.approx(p, rel=1e-6, abs=1e-300)


@given(
    st.lists(st.integers(min_value=0, max_value=100_000), min_size=2, max_size=6),
    st.lists(st.floats(min_value=0.1, max_value=100.0), min_size=6, max_size=6),
)
@settings(max_examples=150)
def test_srm_equals_scipy_chisquare(observed: list[int], weights: list[float]) -> None:
    w = weights[: len(observed)]
    assume(sum(observed) > 0)
    result = srm(observed, w)
    expected = np.asarray(w) * sum(observed) / sum(w)
    chi, p = stats.chisquare(np.asarray(observed, dtype=float), expected)
    assert result.chi_square == pytest.approx(float(chi), rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(float(p), rel=1e-9, abs=1e-300)
    assert result.mismatch == (float(p) < 0.001)
    assert result.df == len(observed) - 1


@given(st.lists(st.integers(min_value=1, max_value=1000), min_size=2, max_size=5), st.integers(1, 50))
def test_counts_in_the_configured_ratio_are_no_mismatch(weights: list[int], scale: int) -> None:
    result = srm([w * scale for w in weights], [float(w) for w in weights])
    assert result.chi_square == pytest.approx(0.0, abs=1e-9)
    assert result.p_value == pytest.approx(1.0)
    assert not result.mismatch
    assert srm([w * scale for w in weights], [w * 3.5 for w in weights]).p_value == result.p_value


def test_a_deliberate_ratio_mismatch_is_flagged() -> None:
    assert srm([1000, 1200], [50.0, 50.0]).mismatch
    assert not srm([1000, 1040], [50.0, 50.0]).mismatch


def test_participants_in_a_zero_weight_arm_are_a_mismatch() -> None:
    result = srm([10, 10, 1], [1.0, 1.0, 0.0])
    assert result.mismatch
    assert result.p_value == 0.0
    assert result.chi_square is None


def test_srm_without_participants_or_with_one_arm_has_no_test() -> None:
    assert srm([0, 0], [1.0, 1.0]).p_value is None
    assert srm([5], [1.0]).p_value is None
    with pytest.raises(ValueError):
        srm([1, 2], [1.0])


@given(samples, st.integers(min_value=0, max_value=30))
@settings(max_examples=150)
def test_padding_with_zeros_equals_the_moments_of_the_padded_sample(xs: list[float], zeros: int) -> None:
    padded = Moments.padded_with_zeros(len(xs) + zeros, _moments(xs))
    ref = _moments([*xs, *([0.0] * zeros)])
    assert padded.n == ref.n
    assert padded.mean == pytest.approx(ref.mean, rel=1e-9, abs=1e-9)
    assert (padded.variance is None) == (ref.variance is None)
    if padded.variance is not None and ref.variance is not None:
        assert padded.variance == pytest.approx(ref.variance, rel=1e-9, abs=1e-6)


def test_padding_cannot_shrink_a_sample() -> None:
    with pytest.raises(ValueError):
        Moments.padded_with_zeros(1, Moments(n=2, mean=1.0, variance=0.0))
