"""Login throttling: token buckets per account and per client address, refilled over time.

In-memory, so each gateway replica throttles on its own; behind a load balancer the effective limit is
per replica (N replicas allow N times the rate). Scale-out would move the buckets to a shared store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

MAX_TRACKED_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class TokenBuckets:
    """Buckets of `capacity` tokens refilled at `per_second`; least recently used keys are forgotten."""

    capacity: float
    per_second: float
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.pop(key, None) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_TRACKED_KEYS:
            self._buckets.popitem(last=False)
        return bucket

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        bucket = self._refilled(key, now)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.per_second

    def take(self, key: str, now: float) -> None:
        """Spend one token (never below zero)."""
        bucket = self._refilled(key, now)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def reset(self, key: str) -> None:
        self._buckets.pop(key, None)


@dataclass
class LoginThrottle:
    """Failed logins spend tokens of the account's and the address's buckets; empty buckets refuse logins."""

    clock: Callable[[], datetime]
    per_account: TokenBuckets = field(default_factory=lambda: TokenBuckets(capacity=5, per_second=1 / 60))
    per_address: TokenBuckets = field(default_factory=lambda: TokenBuckets(capacity=20, per_second=1 / 6))

    def retry_after(self, email: str, address: str) -> float:
        """Seconds the caller must wait before trying again; 0 means it may try now."""
        now = self.clock().timestamp()
        return max(
            self.per_account.retry_after(email.lower(), now), self.per_address.retry_after(address, now)
        )

    def failed(self, email: str, address: str) -> None:
        now = self.clock().timestamp()
        self.per_account.take(email.lower(), now)
        self.per_address.take(address, now)

    def succeeded(self, email: str) -> None:
        self.per_account.reset(email.lower())
