"""The event-store port: append-only streams with optimistic concurrency and a global position."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from domain.quotas import Counted, exceeded


class ConcurrencyError(Exception):
    """The stream's version is not the expected one (surfaced as ABORTED / HTTP 409)."""

    def __init__(self, stream_id: UUID, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class EventTooLarge(ValueError):  # noqa: N818 - named like ConcurrencyError's siblings in the gateway map
    """An event would not fit one bus message once stored (surfaced as RESOURCE_EXHAUSTED / HTTP 413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"an event of this change would be {size} bytes on the bus; the limit is {limit} bytes per event"
            " (max event size): send it in smaller parts"
        )
        self.size = size
        self.limit = limit


class Metadata(msgspec.Struct, frozen=True, kw_only=True):
    """Who and where: stored beside the event, never inside the fact."""

    actor: str = "system"
    org_id: UUID | None = None
    project_id: UUID | None = None
    environment_id: UUID | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    command_id: UUID | None = None


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event ready to append: its tag and its msgspec-JSON body."""

    event_id: UUID
    type: str
    data: bytes


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored, with its global position (strictly increasing in commit order)."""

    position: int
    stream_id: UUID
    stream_type: str
    version: int
    event_id: UUID
    type: str
    data: bytes
    metadata: Metadata
    recorded_at: datetime


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """A change to a counted quota that commits with the append, or refuses it (QuotaExceeded).

    The store adds `delta` to the organisation's count of `counted` in the append's transaction, and
    only when the append writes events; an increase past `limit` raises QuotaExceeded and appends
    nothing. Appends are serialised, so no two creates can both take the last unit of a quota.
    """

    org_id: UUID
    counted: Counted
    delta: int
    limit: int | None = None  # None: no check (deletions)


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """Where the appended events landed; `repeated` means the command id was seen before."""

    stream_id: UUID
    first_position: int
    last_position: int
    version: int
    repeated: bool = False
    response: Any = None
    appended: int = 0  # how many events this append put into the stream


class StreamAppend(msgspec.Struct, frozen=True, kw_only=True):
    """One stream's part of an atomic append: its events at its expected version (0 = new stream).

    An empty `events` only checks the version: a stream the changeset read but did not change."""

    stream_id: UUID
    stream_type: str
    expected_version: int
    events: tuple[NewEvent, ...] = ()
    metadata: Metadata


class ChangesetResult(msgspec.Struct, frozen=True, kw_only=True):
    """Where an atomic append landed, one AppendResult per stream in the order given."""

    command_id: UUID | None
    streams: tuple[AppendResult, ...]
    repeated: bool = False

    @property
    def position(self) -> int:
        """The last position the append wrote (what read-your-writes waits for); 0 when nothing."""
        return max((s.last_position for s in self.streams), default=0)


@runtime_checkable
class EventStore(Protocol):
    """Append-only event streams; implementations pass tests/integration/commands contract suite."""

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
        """Append at `expected_version` (0 = new stream) or raise ConcurrencyError.

        `usage` changes quota counts in the same transaction (see Usage); QuotaExceeded refuses it all.
        An event whose published envelope would exceed the store's event size cap
        (commands.event_size.MAX_EVENT_BYTES) raises EventTooLarge and nothing is written.

        A repeated `command_id` appends nothing and returns the first call's result with `repeated=True`
        and its `response` as JSON builtins (convert with `msgspec.convert`). `response` must be
        msgspec-JSON-encodable. An empty `events` still checks the version and records the command;
        its positions are those of the stream's last event (0 for an empty stream).
        """
        ...

    async def append_many(
        self, appends: Sequence[StreamAppend], *, command_id: UUID | None, usage: Sequence[Usage] = ()
    ) -> ChangesetResult:
        """Append every stream's events in ONE transaction, each at its expected version, or nothing.

        ConcurrencyError (the first stream off its version), QuotaExceeded or EventTooLarge write
        nothing. A stream appears at most once. A repeated `command_id` writes nothing and answers the
        first call's result with `repeated=True`. Positions of a stream without new events are those of
        its last event (0 for an empty stream).
        """
        ...

    async def recorded(self, command_id: UUID) -> ChangesetResult | None:
        """The result of the first append under `command_id`, or None (not yet seen)."""
        ...

    async def load(self, stream_id: UUID, *, up_to_position: int | None = None) -> list[RecordedEvent]:
        """A stream's events in version order, optionally only those at or before a global position."""
        ...

    async def load_command(self, command_id: UUID) -> list[RecordedEvent]:
        """Every event appended under `command_id` (one changeset), in position order."""
        ...

    async def read_all(self, after_position: int, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > after_position, in position order."""
        ...

    async def read_environment(
        self, environment_id: UUID, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Events whose metadata environment_id matches, position > after_position, in position order."""
        ...

    async def head_position(self) -> int:
        """The last committed position, 0 when empty."""
        ...


def duplicate_streams(appends: Sequence[StreamAppend]) -> None:
    """ValueError when a stream appears twice in one atomic append (the bus merges per stream)."""
    ids = [a.stream_id for a in appends]
    if len(set(ids)) != len(ids):
        raise ValueError("a stream appears twice in one append")


def check_usage(usage: Usage, used: int) -> None:
    """Raise QuotaExceeded when `used`, the count after this append, is past the usage's limit."""
    if usage.delta > 0 and usage.limit is not None and used > usage.limit:
        raise exceeded(usage.counted.value, usage.limit)
