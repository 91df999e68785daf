"""Bounded memory for list segments: an environment holds at most `member_budget` membership keys.

A list segment whose membership would push its environment over the budget is dropped from memory and
marked large; its membership is then answered from the read model (`readmodels.segments.list_memberships`)
through `AnswerCache`, a bounded LRU keyed by the segment's generation (the position of its last
membership change), so every membership event makes that segment's old answers unreachable.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from readmodels.db import ReadDb, wait_for_position
from readmodels.segments import list_memberships

DEFAULT_MEMBER_BUDGET = 200_000  # membership keys held in memory per environment
DEFAULT_ANSWER_LIMIT = 50_000  # recent large-segment answers kept (all environments)
SEGMENTS_PROJECTION = "segments"  # projections.segments.NAME: the projection owning rm_segment_members

AnswerKey = tuple[UUID, str, int, str]  # environment, segment key, generation, context key
Pair = tuple[str, str]  # segment key, context key
# (environment, cache position, pairs) -> member per pair, read once the read model reached the position
MemberFetch = Callable[[UUID, int, Sequence[Pair]], Awaitable[dict[Pair, bool]]]


class AnswerCache:
    """A bounded LRU of read-model membership answers for large list segments."""

    __slots__ = ("_entries", "limit")

    def __init__(self, limit: int = DEFAULT_ANSWER_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[AnswerKey, bool] = OrderedDict()

    def get(self, key: AnswerKey) -> bool | None:
        """The remembered answer (refreshing its recency), else None."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: AnswerKey, member: bool) -> None:
        """Remember an answer, evicting the least recently used beyond `limit`."""
        self._entries[key] = member
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


PositionWait = Callable[[int, float], Awaitable[bool]]  # position, within -> reached


def read_model_fetch(
    db: ReadDb, within: float, lagging: Exception, wait: PositionWait | None = None
) -> MemberFetch:
    """A MemberFetch over rm_segment_members that first waits (at most `within` s) for the segments
    projection to reach the cache's position, raising `lagging` when it does not. `wait` is a shared
    waiter (a readmodels.checkpoints.CheckpointWatcher on SEGMENTS_PROJECTION); without one each
    fetch waits on a connection of its own."""

    async def fetch(environment_id: UUID, position: int, pairs: Sequence[Pair]) -> dict[Pair, bool]:
        if wait is not None:
            reached = await wait(position, within)
        else:
            reached = await wait_for_position(db, position, within, names=[SEGMENTS_PROJECTION])
        if not reached:
            raise lagging
        return await list_memberships(db, environment_id=environment_id, checks=pairs)

    return fetch
