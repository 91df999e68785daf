"""Login throttling: token buckets per account and per address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth.throttle import LoginThrottle, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_account_is_throttled_after_its_capacity_of_failures() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for i in range(5):
        assert throttle.retry_after("a@x.io", f"10.0.0.{i}") == 0
        throttle.failed("a@x.io", f"10.0.0.{i}")
    assert throttle.retry_after("A@X.IO", "10.0.0.99") > 0
    assert throttle.retry_after("b@x.io", "10.0.0.99") == 0


def test_address_is_throttled_across_accounts() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(20):
        throttle.failed(f"user{i}@x.io", "10.1.1.1")
    assert throttle.retry_after("fresh@x.io", "10.1.1.1") > 0
    assert throttle.retry_after("fresh@x.io", "10.1.1.2") == 0


def test_buckets_refill_with_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        throttle.failed("a@x.io", "1.1.1.1")
    wait = throttle.retry_after("a@x.io", "1.1.1.1")
    clock.now += timedelta(seconds=wait + 0.01)
    assert throttle.retry_after("a@x.io", "1.1.1.1") == 0


def test_success_clears_the_account_bucket() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(5):
        throttle.failed("a@x.io", f"{_}")
    throttle.succeeded("a@x.io")
    assert throttle.retry_after("a@x.io", "fresh") == 0


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
