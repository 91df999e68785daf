"""A bounded, expiring set of keys recently found unknown: a repeat costs no catch-up read."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MISS_LIMIT = 10_000
DEFAULT_MISS_TTL = 30.0  # seconds; a folded issuance removes its key at once anyway


class MissCache:
    """Keys (e.g. SDK key hashes) known to be unknown, at most `limit` (oldest dropped), each for `ttl`."""

    def __init__(
        self,
        limit: int = DEFAULT_MISS_LIMIT,
        ttl: float = DEFAULT_MISS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._ttl = ttl
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        until = self._until.get(key) if isinstance(key, str) else None
        if until is None:
            return False
        if until <= self._clock():
            del self._until[key]  # type: ignore[arg-type]
            return False
        return True

    def __len__(self) -> int:
        return len(self._until)

    def add(self, key: str) -> None:
        """Remember `key` as unknown for the TTL (the oldest entry goes when full)."""
        self._until.pop(key, None)
        self._until[key] = self._clock() + self._ttl
        while len(self._until) > self._limit:
            self._until.popitem(last=False)

    def discard(self, key: str) -> None:
        """Forget `key` (it became known)."""
        self._until.pop(key, None)
