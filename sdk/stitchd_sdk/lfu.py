"""An O(1) LFU cache for list-segment memberships, invalidated per segment on change markers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

MembershipKey = tuple[str, str, str]  # (segment_key, context_type, context_key)


class LfuCache:
    """Least-frequently-used eviction; ties go to the least recently used. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._values: dict[MembershipKey, bool] = {}
        self._freq: dict[MembershipKey, int] = {}
        self._buckets: dict[int, OrderedDict[MembershipKey, None]] = {}
        self._min_freq = 0
        self._by_segment: dict[str, set[MembershipKey]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: MembershipKey) -> bool | None:
        """The cached membership, counting a use; None on a miss."""
        with self._lock:
            if key not in self._values:
                self.misses += 1
                return None
            self.hits += 1
            self._touch(key)
            return self._values[key]

    def put(self, key: MembershipKey, is_member: bool) -> None:
        """Store a membership, evicting the least frequently used entry when full."""
        with self._lock:
            if key in self._values:
                self._values[key] = is_member
                self._touch(key)
                return
            if len(self._values) >= self._capacity:
                self._evict()
            self._values[key] = is_member
            self._freq[key] = 1
            self._buckets.setdefault(1, OrderedDict())[key] = None
            self._by_segment.setdefault(key[0], set()).add(key)
            self._min_freq = 1

    def prewarm(self, entries: Iterable[tuple[MembershipKey, bool]]) -> None:
        """Load known memberships up front (for hot contexts at start-up)."""
        for key, is_member in entries:
            self.put(key, is_member)

    def invalidate_segment(self, segment_key: str) -> int:
        """Drop every membership of one segment; returns how many were dropped."""
        with self._lock:
            keys = self._by_segment.pop(segment_key, set())
            for key in keys:
                self._remove(key)
            return len(keys)

    def clear(self) -> None:
        """Drop everything (a fresh snapshot may have changed any list)."""
        with self._lock:
            for key in list(self._values):
                self._remove(key)
            self._by_segment.clear()

    def _touch(self, key: MembershipKey) -> None:
        freq = self._freq[key]
        bucket = self._buckets[freq]
        del bucket[key]
        if not bucket:
            del self._buckets[freq]
            if self._min_freq == freq:
                self._min_freq = freq + 1
        self._freq[key] = freq + 1
        self._buckets.setdefault(freq + 1, OrderedDict())[key] = None

    def _evict(self) -> None:
        if not self._buckets:
            return
        if self._min_freq not in self._buckets:  # invalidations may have emptied the lowest bucket
            self._min_freq = min(self._buckets)
        key = next(iter(self._buckets[self._min_freq]))
        self._remove(key)

    def _remove(self, key: MembershipKey) -> None:
        freq = self._freq[key]
        bucket = self._buckets[freq]
        del bucket[key]
        if not bucket:
            del self._buckets[freq]
        self._forget(key)

    def _forget(self, key: MembershipKey) -> None:
        del self._values[key]
        del self._freq[key]
        segment_keys = self._by_segment.get(key[0])
        if segment_keys is not None:
            segment_keys.discard(key)
