"""The SegmentLookup evaluation uses: synced segments plus list memberships from the LFU cache.

A cache miss goes to a `MissPolicy`: the synchronous client fetches the membership right away
(a blocking list-check); the asyncio client records the miss, fetches every recorded miss with one
awaited batch call, then evaluates again (see `docs/sdk.md`). Either way evaluation stays pure.
"""

from __future__ import annotations

from typing import Protocol

from domain.flags.model import ListSegmentMeta, RuleSegment
from stitchd_sdk.lfu import LfuCache, MembershipKey
from stitchd_sdk.store import Definitions


class MissPolicy(Protocol):
    """What to do when a list membership is not cached."""

    def on_miss(self, key: MembershipKey) -> bool | None:
        """The membership, or None when unknown for now (treated as not a member)."""
        ...


class RecordMisses:
    """Answers unknown and remembers what was asked, for a later awaited batch fetch."""

    __slots__ = ("missed",)

    def __init__(self) -> None:
        self.missed: list[MembershipKey] = []

    def on_miss(self, key: MembershipKey) -> bool | None:
        """Unknown for now; remembered."""
        self.missed.append(key)
        return None


class SdkSegments:
    """A per-evaluation SegmentLookup over one Definitions view; never raises."""

    __slots__ = ("_cache", "_definitions", "_policy")

    def __init__(self, definitions: Definitions, cache: LfuCache, policy: MissPolicy) -> None:
        self._definitions = definitions
        self._cache = cache
        self._policy = policy

    def rule_segment(self, key: str) -> RuleSegment | None:
        """The synced rule segment with that key."""
        return self._definitions.rule_segments.get(key)

    def list_segment(self, key: str) -> ListSegmentMeta | None:
        """The synced list segment metadata with that key."""
        return self._definitions.list_segments.get(key)

    def is_list_member(self, segment_key: str, context_type: str, context_key: str) -> bool | None:
        """From the cache, else from the miss policy."""
        key = (segment_key, context_type, context_key)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return self._policy.on_miss(key)
