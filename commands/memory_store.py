"""An in-memory EventStore with the Postgres store's semantics, for handler unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from commands.event_size import MAX_EVENT_BYTES, check_sizes, estimated_stored_size
from commands.eventstore import (
    AppendResult,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    Usage,
    check_usage,
)
from domain.quotas import Counted


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InMemoryEventStore:
    """Appends are serialised by one asyncio.Lock, so positions follow commit order as in Postgres."""

    def __init__(
        self, clock: Callable[[], datetime] = _utc_now, *, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        self._clock = clock
        self._max_event_bytes = max_event_bytes
        self._lock = asyncio.Lock()
        self._events: list[RecordedEvent] = []
        self._streams: dict[UUID, list[RecordedEvent]] = {}
        self._event_ids: set[UUID] = set()
        self._results: dict[UUID, tuple[AppendResult, bytes]] = {}
        self.usage: dict[tuple[UUID, Counted], int] = {}

    async def append(
        self,
        stream_id: UUID,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        metadata: Metadata,
        command_id: UUID | None = None,
        response: Any = None,
        usage: Sequence[Usage] = (),
    ) -> AppendResult:
        """Append at `expected_version` (0 = new stream) or raise ConcurrencyError; see EventStore."""
        async with self._lock:
            if command_id is not None and command_id in self._results:
                stored, body = self._results[command_id]
                return msgspec.structs.replace(stored, repeated=True, response=msgspec.json.decode(body))
            stream = self._streams.get(stream_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            self._check_unique_ids(events)
            sizes = [estimated_stored_size(e.data) for e in events]
            check_sizes(stream_id, stream_type, metadata, events, sizes, self._max_event_bytes)
            if events:
                self._count(usage)
            body = msgspec.json.encode(response)
            recorded = self._record(stream_id, stream_type, expected_version, events, metadata)
            result = self._result(stream_id, expected_version, recorded, response)
            if command_id is not None:
                self._results[command_id] = (result, body)
            return result

    def _count(self, usage: Sequence[Usage]) -> None:
        after = dict(self.usage)
        for u in usage:
            key = (u.org_id, u.counted)
            after[key] = max(after.get(key, 0) + u.delta, 0)
            check_usage(u, after[key])
        self.usage = after

    def _check_unique_ids(self, events: Sequence[NewEvent]) -> None:
        ids = [e.event_id for e in events]
        if len(set(ids)) != len(ids) or self._event_ids.intersection(ids):
            raise ValueError("duplicate event id")

    def _record(
        self,
        stream_id: UUID,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
    ) -> list[RecordedEvent]:
        now = self._clock()
        recorded = [
            RecordedEvent(
                position=len(self._events) + i + 1,
                stream_id=stream_id,
                stream_type=stream_type,
                version=expected_version + i + 1,
                event_id=e.event_id,
                type=e.type,
                data=e.data,
                metadata=metadata,
                recorded_at=now,
            )
            for i, e in enumerate(events)
        ]
        self._events.extend(recorded)
        self._streams.setdefault(stream_id, []).extend(recorded)
        self._event_ids.update(e.event_id for e in events)
        return recorded

    def _result(
        self, stream_id: UUID, expected: int, recorded: list[RecordedEvent], response: Any
    ) -> AppendResult:
        if recorded:
            first, last = recorded[0].position, recorded[-1].position
        else:
            stream = self._streams.get(stream_id)
            first = last = stream[-1].position if stream else 0
        return AppendResult(
            stream_id=stream_id,
            first_position=first,
            last_position=last,
            version=expected + len(recorded),
            response=response,
        )

    async def load(self, stream_id: UUID, *, up_to_position: int | None = None) -> list[RecordedEvent]:
        """A stream's events in version order, optionally only those at or before a global position."""
        stream = self._streams.get(stream_id, [])
        if up_to_position is None:
            return list(stream)
        return [r for r in stream if r.position <= up_to_position]

    async def read_all(self, after_position: int, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > after_position, in position order."""
        start = max(after_position, 0)
        return self._events[start : start + max(limit, 0)]

    async def read_environment(
        self, environment_id: UUID, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Events whose metadata environment_id matches, position > after_position, in position order."""
        start = max(after_position, 0)
        found = (r for r in self._events[start:] if r.metadata.environment_id == environment_id)
        return [r for _, r in zip(range(max(limit, 0)), found, strict=False)]

    async def head_position(self) -> int:
        """The last committed position, 0 when empty."""
        return len(self._events)
