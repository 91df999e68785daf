"""Login throttling: token buckets per account and per address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ids import canonical_email
from gateway.auth.throttle import LoginThrottle, TokenBuckets
from tests.metrics_support import metrics_on, scraped


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_account_is_throttled_after_its_capacity_of_failures() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(5):
        assert throttle.reserve("a@x.io", f"10.0.0.{i}") == 0
    assert throttle.reserve("A@X.IO", "10.0.0.99") > 0
    assert throttle.reserve("b@x.io", "10.0.0.99") == 0


def test_address_is_throttled_across_accounts() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(20):
        assert throttle.reserve(f"user{i}@x.io", "10.1.1.1") == 0
    assert throttle.reserve("fresh@x.io", "10.1.1.1") > 0
    assert throttle.reserve("fresh@x.io", "10.1.1.2") == 0


def test_buckets_refill_with_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        throttle.reserve("a@x.io", "1.1.1.1")
    wait = throttle.reserve("a@x.io", "1.1.1.1")
    clock.now += timedelta(seconds=wait + 0.01)
    assert throttle.reserve("a@x.io", "1.1.1.1") == 0


def test_success_clears_the_account_bucket_and_returns_the_address_token() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(5):
        throttle.reserve("a@x.io", f"{i}")
    throttle.succeeded("a@x.io", "0")
    assert throttle.reserve("a@x.io", "fresh") == 0
    for _ in range(19):
        throttle.reserve(f"{_}@x.io", "nat")
    throttle.reserve("ok@x.io", "nat")
    throttle.succeeded("ok@x.io", "nat")  # 20 reserved, one given back
    assert throttle.reserve("next@x.io", "nat") == 0


def test_a_refused_reservation_takes_no_token() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(20):
        throttle.reserve(f"u{i}@x.io", "busy")
    assert throttle.reserve("a@x.io", "busy") > 0
    for i in range(5):
        assert throttle.reserve("a@x.io", f"other{i}") == 0  # the refusal did not spend a@x.io's tokens


BLANKS = st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", "\u2028", "\u200b", "\ufeff", "\x1c"])


@given(st.lists(BLANKS, max_size=4), st.lists(BLANKS, max_size=4), st.booleans())
def test_blank_and_case_variants_of_an_email_share_one_bucket(
    before: list[str], after: list[str], upper: bool
) -> None:
    throttle = LoginThrottle(clock=Clock())
    email = "victim@x.io"
    for i in range(5):
        assert throttle.reserve(email, f"a{i}") == 0
    variant = "".join(before) + (email.upper() if upper else email) + "".join(after)
    assert throttle.reserve(variant, "a-new-address") > 0
    assert canonical_email(variant) == email


@settings(max_examples=100)
@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=600)), max_size=40))
def test_tokens_stay_within_zero_and_capacity(steps: list[tuple[bool, float]]) -> None:
    buckets = TokenBuckets(capacity=3, per_second=0.5)
    now = 0.0
    for spend, advance in steps:
        now += advance
        if spend:
            buckets.take("k", now)
        wait = buckets.retry_after("k", now)
        assert 0 <= wait <= 2.0
        assert 0 <= buckets._buckets["k"].tokens <= 3


def test_each_refused_login_counts_in_the_login_throttled_metric() -> None:
    throttle = LoginThrottle(clock=Clock())
    with metrics_on():
        before = scraped("stitchd_login_throttled_total")
        for _ in range(7):
            throttle.reserve("a@x.io", "10.0.0.1")
        assert scraped("stitchd_login_throttled_total") - before == 2  # 5 allowed, then 2 refused
