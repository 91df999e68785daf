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
    ChangesetResult,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    Usage,
    check_usage,
    duplicate_streams,
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
        self._results: dict[UUID, tuple[ChangesetResult, bytes]] = {}
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
        part = StreamAppend(stream_id=stream_id, stream_type=stream_type, expected_version=expected_version,
                            events=tuple(events), metadata=metadata)  # fmt: skip
        result = await self._append([part], command_id, usage, msgspec.json.encode(response))
        first = result.streams[0]
        return first if result.repeated else msgspec.structs.replace(first, response=response)

    async def append_many(
        self, appends: Sequence[StreamAppend], *, command_id: UUID | None, usage: Sequence[Usage] = ()
    ) -> ChangesetResult:
        """Every stream at its expected version, or nothing; see EventStore."""
        duplicate_streams(appends)
        return await self._append(appends, command_id, usage, b"null")

    async def recorded(self, command_id: UUID) -> ChangesetResult | None:
        """The result of the first append under `command_id`, or None."""
        return self._prior(command_id)

    async def load_command(self, command_id: UUID) -> list[RecordedEvent]:
        """Every event appended under `command_id`, in position order."""
        return [r for r in self._events if r.metadata.command_id == command_id]

    def _prior(self, command_id: UUID | None) -> ChangesetResult | None:
        if command_id is None or command_id not in self._results:
            return None
        stored, body = self._results[command_id]
        again = msgspec.json.decode(body)
        streams = tuple(msgspec.structs.replace(s, repeated=True, response=again) for s in stored.streams)
        return ChangesetResult(command_id=command_id, streams=streams, repeated=True)

    async def _append(
        self, appends: Sequence[StreamAppend], command_id: UUID | None, usage: Sequence[Usage], body: bytes
    ) -> ChangesetResult:
        async with self._lock:
            prior = self._prior(command_id)
            if prior is not None:
                return prior
            for a in appends:
                actual = len(self._streams.get(a.stream_id, []))
                if actual != a.expected_version:
                    raise ConcurrencyError(a.stream_id, a.expected_version, actual)
            self._check_unique_ids([e for a in appends for e in a.events])
            for a in appends:
                sizes = [estimated_stored_size(e.data) for e in a.events]
                check_sizes(a.stream_id, a.stream_type, a.metadata, a.events, sizes, self._max_event_bytes)
            if any(a.events for a in appends):
                self._count(usage)
            results = [self._result(a, self._record(a)) for a in appends]
            result = ChangesetResult(command_id=command_id, streams=tuple(results))
            if command_id is not None and results:
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

    def _record(self, a: StreamAppend) -> list[RecordedEvent]:
        now = self._clock()
        recorded = [
            RecordedEvent(
                position=len(self._events) + i + 1,
                stream_id=a.stream_id,
                stream_type=a.stream_type,
                version=a.expected_version + i + 1,
                event_id=e.event_id,
                type=e.type,
                data=e.data,
                metadata=a.metadata,
                recorded_at=now,
            )
            for i, e in enumerate(a.events)
        ]
        self._events.extend(recorded)
        self._streams.setdefault(a.stream_id, []).extend(recorded)
        self._event_ids.update(e.event_id for e in a.events)
        return recorded

    def _result(self, a: StreamAppend, recorded: list[RecordedEvent]) -> AppendResult:
        if recorded:
            first, last = recorded[0].position, recorded[-1].position
        else:
            stream = self._streams.get(a.stream_id)
            first = last = stream[-1].position if stream else 0
        return AppendResult(
            stream_id=a.stream_id,
            first_position=first,
            last_position=last,
            version=a.expected_version + len(recorded),
            appended=len(recorded),
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
