"""The event-store port: append-only streams with optimistic concurrency and a global position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from domain.envelope import Metadata, RecordedEvent
from domain.quotas import Counted, exceeded

# Metadata and RecordedEvent are the stored-event envelope (domain.envelope); the port speaks them.
__all__ = [
    "AppendResult",
    "ConcurrencyError",
    "EventStore",
    "EventTooLarge",
    "Metadata",
    "NewEvent",
    "RecordedEvent",
    "Usage",
    "check_usage",
]


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


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event ready to append: its tag and its msgspec-JSON body."""

    event_id: UUID
    type: str
    data: bytes


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

    async def load(self, stream_id: UUID, *, up_to_position: int | None = None) -> list[RecordedEvent]:
        """A stream's events in version order, optionally only those at or before a global position."""
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


def check_usage(usage: Usage, used: int) -> None:
    """Raise QuotaExceeded when `used`, the count after this append, is past the usage's limit."""
    if usage.delta > 0 and usage.limit is not None and used > usage.limit:
        raise exceeded(usage.counted.value, usage.limit)
