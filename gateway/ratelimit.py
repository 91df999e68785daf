"""Seed 004's token buckets: per source address and per credential, each on/off, sized, or log-only.

In-memory per gateway replica (N replicas behind a balancer allow N times the rate). Buckets idle long
enough to be full again are the same as no bucket: `sweep` drops them (at most every SWEEP_EVERY
seconds, from the request path, so an idle gateway holds nothing and runs no timer), and at most
MAX_BUCKETS are kept per limiter (least recently used first out) whatever the traffic.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

SWEEP_EVERY = 60.0
MAX_BUCKETS = 200_000


@dataclass(frozen=True, kw_only=True)
class LimitSettings:
    """The gateway's limits (stitchd.settings.RateLimitSettings, which reads them, has the same fields).

    The defaults are all off: an app built without settings (tests, tools) is never limited."""

    credential_enabled: bool = False
    credential_capacity: float = 500
    credential_per_second: float = 10.0
    ip_enabled: bool = False
    ip_capacity: float = 1000
    ip_per_second: float = 50.0
    log_only: bool = False
    max_concurrency: int = 0  # 0: no cap


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Buckets:
    """Token buckets of `capacity` refilled at `per_second`, keyed by any string."""

    capacity: float
    per_second: float
    max_buckets: int = MAX_BUCKETS
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)
    _swept: float = 0.0

    def take(self, key: str, now: float) -> float:
        """Spend one token: 0.0 when it was there, else the seconds until one will be (nothing spent)."""
        self._maybe_sweep(now)
        bucket = self._buckets.pop(key, None) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + max(0.0, now - bucket.updated) * self.per_second)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second

    def sweep(self, now: float) -> int:
        """Forget buckets that have refilled completely by `now`; returns how many were dropped."""
        full_after = self.capacity / self.per_second
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
        self._swept = now
        return len(stale)

    def _maybe_sweep(self, now: float) -> None:
        if now - self._swept >= SWEEP_EVERY:
            self.sweep(now)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 (Retry-After has no fractions)."""
    return str(max(1, math.ceil(seconds)))
