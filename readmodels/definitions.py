"""The in-memory definitions cache: every environment's flags, segments, list memberships, event types
and SDK keys, folded from the event log, with a bounded history of deltas for `since_sequence` replay.

Built by folding the event log from the start (`catch_up`) and kept current by a follower
(`readmodels.definitions_log.follow`). Folding the log rather than loading the rm_* tables keeps the
retained deltas identical on every replica and across restarts: an SDK that reconnects to a freshly
started broadcaster still gets exactly the deltas it missed. Nothing here does IO per evaluation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from domain.codec import decode_event
from domain.context import ContextSet
from domain.evaluation import not_found
from domain.event_definitions.events import MetricValueType
from domain.flags.model import EvaluationResult
from domain.tenancy.events import SdkKeyIssued
from domain.tenancy.sdk_keys import hash_sdk_key
from readmodels.definitions_fold import RELEVANT_PREFIXES, Folder
from readmodels.definitions_history import DEFAULT_HISTORY, DEFAULT_HISTORY_BYTES, HistoryBudget
from readmodels.definitions_large import (
    DEFAULT_ANSWER_LIMIT,
    DEFAULT_MEMBER_BUDGET,
    AnswerCache,
    MemberFetch,
    Pair,
)
from readmodels.definitions_state import Delta, EnvDefinitions, Snapshot
from readmodels.misses import MissCache

DEFAULT_REFRESH_INTERVAL = 1.0  # seconds between catch-ups a caller asks for (unknown key or metric)

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_HISTORY_BYTES",
    "DefinitionsCache",
    "Delta",
    "EventLog",
    "EventLogReader",
    "LogRecord",
    "MemberFetch",
    "Snapshot",
]


class LogRecord(Protocol):
    """A stored event as the cache reads it (commands.eventstore.RecordedEvent fits)."""

    @property
    def position(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> bytes: ...


@runtime_checkable
class EventLog(Protocol):
    """Events after a position, in position order (the event store's `read_all` fits)."""

    async def read_all(self, after_position: int, limit: int = 1000) -> Sequence[LogRecord]: ...


@runtime_checkable
class EventLogReader(EventLog, Protocol):
    """The gateway's read-only port on the event log: events after a position and the head position
    (the event store fits; it has no append, so a holder of it can only read)."""

    async def head_position(self) -> int: ...


Listener = Callable[[Delta], None]


@dataclass
class CacheStats:
    """On-demand catch-ups done and refused (rate limit), and SDK key look-ups the miss cache answered."""

    refreshes: int = 0
    refreshes_skipped: int = 0
    key_misses_cached: int = 0


class DefinitionsCache:
    """Every environment's definitions in memory; single-writer (the event loop), many readers."""

    def __init__(
        self,
        *,
        history_limit: int = DEFAULT_HISTORY,
        member_budget: int = DEFAULT_MEMBER_BUDGET,
        answer_limit: int = DEFAULT_ANSWER_LIMIT,
        history_bytes: int = DEFAULT_HISTORY_BYTES,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`history_limit` deltas per environment and `history_bytes` in all are kept for replay."""
        self.answers = AnswerCache(answer_limit)
        self.stats = CacheStats()
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._refreshed_at: float | None = None
        self._key_misses = MissCache(clock=clock)
        self._fold = Folder(history_limit, member_budget, self.answers, history_bytes)
        self.position = 0
        self._lock = asyncio.Lock()
        self._changed: dict[UUID, asyncio.Future[None]] = {}
        self._advanced: asyncio.Future[None] | None = None
        self._listeners: list[Listener] = []

    @property
    def history(self) -> HistoryBudget:
        """The byte budget of every environment's retained deltas (bytes held, deltas dropped)."""
        return self._fold.history_budget

    # Writing
    def apply(self, record: LogRecord) -> list[Delta]:
        """Fold one record (skipped when at or before `position`); the caller keeps position order."""
        if record.position <= self.position:
            return []
        self.position = record.position
        if not record.type.startswith(RELEVANT_PREFIXES):
            return []
        event = decode_event(record.type, bytes(record.data))
        if isinstance(event, SdkKeyIssued):
            self._key_misses.discard(event.key_hash)
        deltas, revoked = self._fold.apply(record.position, event)
        for delta in deltas:
            for listener in self._listeners:
                listener(delta)
        for env_id in {*(d.environment_id for d in deltas), *revoked}:
            _wake(self._changed.pop(env_id, None))
        return deltas

    async def catch_up(self, log: EventLog, *, batch: int = 1000) -> int:
        """Fold every event after `position` from the log; returns the new position."""
        async with self._lock:
            while True:
                records = await log.read_all(self.position, batch)
                for record in records:
                    self.apply(record)
                if len(records) < batch:
                    break
        _wake(self._advanced)
        self._advanced = None
        return self.position

    async def refresh(self, log: EventLog) -> None:
        """A catch-up a caller asks for (it met an unknown SDK key or metric): at most one per
        `refresh_interval`, and none while one is running (the caller waits for that one instead), so
        a flood of unknown keys cannot keep the lock from the follower. Following the log is the
        follower's job; this only shortens the wait for something written a moment ago."""
        if self._lock.locked():
            async with self._lock:
                return
        now = self._clock()
        if self._refreshed_at is not None and now - self._refreshed_at < self._refresh_interval:
            self.stats.refreshes_skipped += 1
            return
        self._refreshed_at = now
        self.stats.refreshes += 1
        await self.catch_up(log)

    async def resolve_key(self, raw_key: str, log: EventLog) -> tuple[UUID, UUID] | None:
        """`key_owner`, after a (rate-limited) refresh for a key not seen before; an unknown key is
        remembered (bounded, expiring, dropped when its issuance is folded) and costs nothing again."""
        key_hash = hash_sdk_key(raw_key)
        owner = self._fold.keys.get(key_hash)
        if owner is not None:
            return owner
        if key_hash in self._key_misses:
            self.stats.key_misses_cached += 1
            return None
        await self.refresh(log)
        owner = self._fold.keys.get(key_hash)
        if owner is None:
            self._key_misses.add(key_hash)
        return owner

    async def reach(self, position: int, log: EventLog) -> None:
        """Make sure everything up to `position` is folded (read-your-writes for a caller that knows it).

        Callers cap `position` at the store's head, and one waiting for a running catch-up checks again
        before reading: concurrent callers share one read, so reads follow writes, not requests.
        """
        if position <= self.position:
            return
        if self._lock.locked():
            async with self._lock:
                pass
            if position <= self.position:
                return
        await self.catch_up(log)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every future delta (synchronously, in order); returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self, environment_id: UUID) -> asyncio.Future[None]:
        """A future resolved at the environment's next delta or SDK-key revocation (shared by waiters)."""
        future = self._changed.get(environment_id)
        if future is None or future.done():
            future = self._changed[environment_id] = asyncio.get_running_loop().create_future()
        return future

    async def wait_for_position(self, position: int, within: float) -> bool:
        """Wait until `position` is folded by whoever follows the log; False after `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while self.position < position:
                    if self._advanced is None:
                        self._advanced = asyncio.get_running_loop().create_future()
                    await asyncio.shield(self._advanced)
        except TimeoutError:
            return False
        return True

    # Reading
    def environment(self, environment_id: UUID) -> EnvDefinitions | None:
        """An environment's live definitions (read-only for callers)."""
        return self._fold.envs.get(environment_id)

    def environments(self) -> list[UUID]:
        """Every known environment."""
        return list(self._fold.envs)

    def key_owner(self, raw_key: str) -> tuple[UUID, UUID] | None:
        """(environment id, key id) of an active SDK key, else None; the raw key is only hashed."""
        return self._fold.keys.get(hash_sdk_key(raw_key))

    def key_hash_active(self, key_hash: str) -> bool:
        """Whether the SDK key with this hash is issued and not revoked."""
        return key_hash in self._fold.keys

    def sequence(self, environment_id: UUID) -> int:
        """The environment's definition sequence (0 when unknown)."""
        env = self.environment(environment_id)
        return 0 if env is None else env.sequence

    def snapshot(self, environment_id: UUID) -> Snapshot | None:
        """Everything the environment's SDKs see now, or None for an unknown environment."""
        env = self.environment(environment_id)
        return None if env is None else env.snapshot()

    def deltas_since(self, environment_id: UUID, since: int) -> list[Delta] | None:
        """Deltas after `since` in order; None when `since` is unknown or no longer retained."""
        env = self.environment(environment_id)
        return None if env is None else env.deltas_since(since)

    def evaluate(self, environment_id: UUID, flag_key: str, contexts: ContextSet) -> EvaluationResult:
        """Evaluate one flag from memory; FLAG_NOT_FOUND for an unknown flag or environment."""
        env = self.environment(environment_id)
        if env is None:
            return not_found(flag_key, 0)
        flag = env.flags.get(flag_key)
        if flag is None:
            return not_found(flag_key, env.sequence)
        return flag.evaluate(contexts, env, env.sequence)

    def evaluate_all(self, environment_id: UUID, contexts: ContextSet) -> list[EvaluationResult]:
        """Every flag of the environment for one context set, sorted by flag key."""
        env = self.environment(environment_id)
        if env is None:
            return []
        return [env.flags[k].evaluate(contexts, env, env.sequence) for k in sorted(env.flags)]

    def is_list_member(
        self, environment_id: UUID, segment_key: str, context_type: str, key: str
    ) -> bool | None:
        """List-segment membership from memory; None when the environment has no such list segment."""
        env = self.environment(environment_id)
        return None if env is None else env.is_list_member(segment_key, context_type, key)

    async def check_members(
        self, environment_id: UUID, checks: Sequence[tuple[str, str, str]], fetch: MemberFetch
    ) -> list[bool | None]:
        """`is_list_member` per (segment, context type, key) check; misses on large segments are read
        with one `fetch` at the cache's current position and remembered under the segment's generation."""
        env = self.environment(environment_id)
        if env is None:
            return [None for _ in checks]
        pending: list[tuple[int, Pair, int]] = []
        for index, (segment_key, context_type, key) in enumerate(checks):
            generation = env.large_miss(segment_key, context_type, key)
            if generation is not None:
                pending.append((index, (segment_key, key), generation))
        answers = [env.is_list_member(s, t, k) for s, t, k in checks]
        if not pending:
            return answers
        pairs = list(dict.fromkeys(pair for _, pair, _ in pending))
        fetched = await fetch(environment_id, self.position, pairs)
        for index, pair, generation in pending:
            # the fetched answer stands even if a membership event made its LRU entry unreachable meanwhile
            answers[index] = member = fetched.get(pair, False)
            self.answers.put((environment_id, pair[0], generation, pair[1]), member)
        return answers

    async def prefetch_large(self, environment_id: UUID, contexts: ContextSet, fetch: MemberFetch) -> None:
        """Load into the LRU what evaluating `contexts` needs from large list segments (no IO later)."""
        env = self.environment(environment_id)
        if env is not None and env.large:
            checks = [(s, c.context_type, c.key) for s in list(env.large) for c in contexts.contexts]
            await self.check_members(environment_id, checks, fetch)

    def event_type(self, environment_id: UUID, metric_key: str) -> MetricValueType | None:
        """The registered value type of a metric key (ingest validation), else None."""
        env = self.environment(environment_id)
        return None if env is None else env.event_types.get(metric_key)


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
