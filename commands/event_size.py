"""The cap on one event: every stored event must fit one NATS message when the relay publishes it.

The relay publishes the envelope of `domain.envelope.encode_envelope` with the event's data as
PostgreSQL's jsonb gives it back, which is not the text written: jsonb puts a space after every `,`
and `:` and prints numbers without exponents. So the Postgres store measures the stored text inside
the append transaction and the in-memory store estimates it; both refuse through `check_sizes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from commands.eventstore import EventTooLarge, Metadata, NewEvent, RecordedEvent
from domain.envelope import encode_envelope

MAX_EVENT_BYTES = 1_048_576  # one published envelope (body), at most
NATS_MAX_PAYLOAD = 2 * 1_048_576  # what deploy/nats and the embedded nats-server set as max_payload
HEADER_ROOM = 16 * 1024  # the message headers count towards max_payload beside the body

_LARGEST_POSITION = 2**63 - 1
_LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def estimated_stored_size(data: bytes) -> int:
    """An upper bound of jsonb's text for msgspec JSON without exponent numbers: one space per `,`/`:`."""
    return len(data) + data.count(b",") + data.count(b":")


def envelope_size(
    stream_id: UUID, stream_type: str, metadata: Metadata, event: NewEvent, stored_size: int
) -> int:
    """The envelope's length in bytes, at the widest position, version and timestamp, for data of
    `stored_size` bytes as the store returns it."""
    shell = RecordedEvent(
        position=_LARGEST_POSITION,
        stream_id=stream_id,
        stream_type=stream_type,
        version=_LARGEST_POSITION,
        event_id=event.event_id,
        type=event.type,
        data=b"",
        metadata=metadata,
        recorded_at=_LATEST,
    )
    return len(encode_envelope(shell)) + stored_size


def check_sizes(
    stream_id: UUID,
    stream_type: str,
    metadata: Metadata,
    events: Sequence[NewEvent],
    stored_sizes: Sequence[int],
    limit: int = MAX_EVENT_BYTES,
) -> None:
    """Raise EventTooLarge for the first event whose envelope would exceed `limit`."""
    for event, stored in zip(events, stored_sizes, strict=True):
        size = envelope_size(stream_id, stream_type, metadata, event, stored)
        if size > limit:
            raise EventTooLarge(size, limit)


def fits(body_size: int, max_payload: int) -> bool:
    """Whether a body of that size, with its headers, fits a server's max_payload."""
    return body_size + HEADER_ROOM <= max_payload


def max_payload_problem(max_payload: int) -> str | None:
    """What is wrong with a server's max_payload for this event store, or None."""
    if fits(MAX_EVENT_BYTES, max_payload):
        return None
    return (
        f"NATS max_payload is {max_payload} bytes, below the event cap of {MAX_EVENT_BYTES} plus headers:"
        " events that large will be published without their body; set max_payload"
        " (deploy/nats/nats-server.conf)"
    )
