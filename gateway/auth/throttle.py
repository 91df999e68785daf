"""Login throttling: token buckets per account and per client address, refilled over time.

In-memory, so each gateway replica throttles on its own; behind a load balancer the effective limit is
per replica (N replicas allow N times the rate). Scale-out would move the buckets to a shared store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from domain.ids import canonical_email
from telemetry import metrics

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

    def give_back(self, key: str, now: float) -> None:
        """Return one token taken earlier (never above capacity)."""
        bucket = self._refilled(key, now)
        bucket.tokens = min(self.capacity, bucket.tokens + 1)

    def reset(self, key: str) -> None:
        self._buckets.pop(key, None)


@dataclass
class LoginThrottle:
    """Every attempt reserves a token of the account's and of the address's bucket BEFORE the password
    is checked (so concurrent attempts cannot all pass one check); a success gives them back.

    Accounts are keyed by `domain.ids.canonical_email`, the same form the lookup uses, so blank or case
    variants of an address share one bucket.
    """

    clock: Callable[[], datetime]
    per_account: TokenBuckets = field(default_factory=lambda: TokenBuckets(capacity=5, per_second=1 / 60))
    per_address: TokenBuckets = field(default_factory=lambda: TokenBuckets(capacity=20, per_second=1 / 6))

    def reserve(self, email: str, address: str) -> float:
        """Take one token from both buckets and return 0, or take none and return the seconds to wait.

        Synchronous on purpose: no other attempt can run between the check and the take.
        """
        now, account = self.clock().timestamp(), canonical_email(email)
        wait = max(self.per_account.retry_after(account, now), self.per_address.retry_after(address, now))
        if wait > 0:
            metrics.count_login_throttled()
            return wait
        self.per_account.take(account, now)
        self.per_address.take(address, now)
        return 0.0

    def cancel(self, email: str, address: str) -> None:
        """The attempt never reached a password check: both reserved tokens return."""
        now, account = self.clock().timestamp(), canonical_email(email)
        self.per_account.give_back(account, now)
        self.per_address.give_back(address, now)

    def succeeded(self, email: str, address: str) -> None:
        """The password was right: the account's bucket is full again and the address's token returns."""
        self.per_account.reset(canonical_email(email))
        self.per_address.give_back(address, self.clock().timestamp())
