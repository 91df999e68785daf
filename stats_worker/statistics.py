"""Experiment statistics over sufficient statistics: Welch t-test, two-proportion z-test, SRM chi-square.

Pure functions. Degenerate inputs (too few samples, zero variance, zero weights) give explicit `None`s,
never NaN, infinities or exceptions. The CDFs are scipy.special's, the same ones scipy.stats uses, so
the numbers agree with `scipy.stats.ttest_ind(equal_var=False)` and `scipy.stats.chisquare`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import msgspec
from scipy import special

CONFIDENCE: Final = 0.95
SRM_THRESHOLD: Final = 0.001


class Moments(msgspec.Struct, frozen=True):
    """Sample size, mean and sample variance (ddof=1; None when n < 2) of one arm."""

    n: int
    mean: float
    variance: float | None

    @staticmethod
    def from_sums(n: int, total: float, total_sq: float) -> Moments:
        """Moments from n, sum and sum of squares (mean 0 for an empty arm)."""
        if n <= 0:
            return Moments(n=0, mean=0.0, variance=None)
        mean = total / n
        variance = max((total_sq - total * mean) / (n - 1), 0.0) if n >= 2 else None
        return Moments(n=n, mean=mean, variance=variance)

    @staticmethod
    def padded_with_zeros(n: int, observed: Moments) -> Moments:
        """Moments of `observed` plus n - observed.n zeros, merged stably (Chan et al.'s pairwise update)."""
        k = observed.n
        if k > n:
            raise ValueError("more observed values than the whole sample")
        if n <= 0:
            return Moments(n=0, mean=0.0, variance=None)
        m2 = (observed.variance or 0.0) * (k - 1) if k >= 2 else 0.0
        m2 += observed.mean * observed.mean * k * (n - k) / n
        return Moments(n=n, mean=observed.mean * k / n, variance=m2 / (n - 1) if n >= 2 else None)


class Proportion(msgspec.Struct, frozen=True):
    """Successes out of n trials in one arm."""

    n: int
    successes: int


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    """Treatment minus control: difference, relative lift, CI, two-sided p-value and test statistic."""

    difference: float
    relative: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    statistic: float | None
    df: float | None = None


class SrmResult(msgspec.Struct, frozen=True, kw_only=True):
    """Sample-ratio-mismatch chi-square goodness of fit of observed counts to configured weights."""

    observed: list[int]
    expected: list[float]
    chi_square: float | None
    df: int
    p_value: float | None
    mismatch: bool


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _relative(difference: float, control_mean: float) -> float | None:
    return _finite(difference / control_mean) if control_mean != 0 else None


def welch(treatment: Moments, control: Moments, confidence: float = CONFIDENCE) -> Effect | None:
    """Welch's unequal-variance t-test of treatment.mean - control.mean; None if an arm is empty."""
    if treatment.n < 1 or control.n < 1:
        return None
    diff = treatment.mean - control.mean
    blank = Effect(
        difference=diff,
        relative=_relative(diff, control.mean),
        ci_low=None,
        ci_high=None,
        p_value=None,
        statistic=None,
    )
    if treatment.variance is None or control.variance is None or min(treatment.n, control.n) < 2:
        return blank
    a = treatment.variance / treatment.n
    b = control.variance / control.n
    if a + b <= 0.0:
        return blank
    se = math.sqrt(a + b)
    # Welch-Satterthwaite in shares of a + b, which cannot underflow to 0/0 for tiny variances.
    wa, wb = a / (a + b), b / (a + b)
    df = 1.0 / (wa * wa / (treatment.n - 1) + wb * wb / (control.n - 1))
    t = diff / se
    p = 2.0 * float(special.stdtr(df, -abs(t)))
    q = float(special.stdtrit(df, 0.5 + confidence / 2.0))
    return msgspec.structs.replace(
        blank,
        ci_low=_finite(diff - q * se),
        ci_high=_finite(diff + q * se),
        p_value=_finite(min(p, 1.0)),
        statistic=_finite(t),
        df=_finite(df),
    )


def two_proportion(
    treatment: Proportion, control: Proportion, confidence: float = CONFIDENCE
) -> Effect | None:
    """Two-proportion z-test (pooled variance for p, unpooled for the CI); None if an arm is empty."""
    if treatment.n < 1 or control.n < 1:
        return None
    p1 = treatment.successes / treatment.n
    p0 = control.successes / control.n
    diff = p1 - p0
    pooled = (treatment.successes + control.successes) / (treatment.n + control.n)
    pooled_var = pooled * (1.0 - pooled) * (1.0 / treatment.n + 1.0 / control.n)
    unpooled_var = p1 * (1.0 - p1) / treatment.n + p0 * (1.0 - p0) / control.n
    z: float | None = None
    p: float | None = None
    if pooled_var > 0.0:
        z = diff / math.sqrt(pooled_var)
        p = min(2.0 * float(special.ndtr(-abs(z))), 1.0)
    ci_low: float | None = None
    ci_high: float | None = None
    if unpooled_var > 0.0:
        half = float(special.ndtri(0.5 + confidence / 2.0)) * math.sqrt(unpooled_var)
        ci_low, ci_high = diff - half, diff + half
    return Effect(
        difference=diff,
        relative=_relative(diff, p0),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p,
        statistic=z,
    )


def srm(observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> SrmResult:
    """Chi-square goodness of fit; arms with weight 0 must be empty (otherwise a mismatch, p = 0)."""
    if len(observed) != len(weights):
        raise ValueError("observed counts and weights differ in length")
    obs = list(observed)
    total = sum(obs)
    weight_sum = sum(w for w in weights if w > 0)
    expected = [total * w / weight_sum if w > 0 else 0.0 for w in weights]
    live = [(o, e) for o, e, w in zip(obs, expected, weights, strict=True) if w > 0]
    df = max(len(live) - 1, 0)
    result = SrmResult(observed=obs, expected=expected, chi_square=None, df=df, p_value=None, mismatch=False)
    if any(o > 0 for o, w in zip(obs, weights, strict=True) if w <= 0):
        return msgspec.structs.replace(result, p_value=0.0, mismatch=True)
    if total == 0 or result.df < 1:
        return result
    chi = sum((o - e) ** 2 / e for o, e in live)
    p = float(special.chdtrc(result.df, chi))
    return msgspec.structs.replace(result, chi_square=chi, p_value=p, mismatch=p < threshold)
