"""Domain events to and from the store's rows, and the JetStream wire envelope (docs/messaging.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from commands.eventstore import EventStore, Metadata, NewEvent, RecordedEvent
from domain.codec import decode_event, encode_event, type_of
from domain.events import Event

# JetStream headers set by the relay on every STITCHD_EVENTS message.
MSG_ID_HEADER = "Nats-Msg-Id"
POSITION_HEADER = "Stitchd-Position"
TYPE_HEADER = "Stitchd-Type"
STREAM_ID_HEADER = "Stitchd-Stream-Id"
STREAM_TYPE_HEADER = "Stitchd-Stream-Type"
VERSION_HEADER = "Stitchd-Version"
ENVIRONMENT_HEADER = "Stitchd-Environment-Id"
BODY_HEADER = "Stitchd-Body"  # "omitted" on a reference: the envelope's data is null, read the store


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """The body of a STITCHD_EVENTS message: a RecordedEvent with `data` embedded as JSON, not base64."""

    position: int
    stream_id: UUID
    stream_type: str
    version: int
    event_id: UUID
    type: str
    recorded_at: datetime
    metadata: Metadata
    data: msgspec.Raw


_ENVELOPE = msgspec.json.Decoder(Envelope)
_ENCODER = msgspec.json.Encoder()


def to_new_events(events: Sequence[Event], new_id: Callable[[], UUID] = uuid4) -> list[NewEvent]:
    """Events ready to append, each with a fresh event id from `new_id`."""
    return [NewEvent(event_id=new_id(), type=type_of(e), data=encode_event(e)) for e in events]


def decode_recorded(recorded: RecordedEvent) -> Event:
    """The domain event stored in a row (tolerant of unknown fields)."""
    return decode_event(recorded.type, recorded.data)


async def load_stream(
    store: EventStore, stream_id: UUID, *, up_to_position: int | None = None
) -> list[Event]:
    """A stream's domain events in version order."""
    return [decode_recorded(r) for r in await store.load(stream_id, up_to_position=up_to_position)]


def encode_envelope(recorded: RecordedEvent, *, omit_data: bool = False) -> bytes:
    """The JSON message body the relay publishes for `recorded` (`data` null when `omit_data`)."""
    envelope = Envelope(
        position=recorded.position,
        stream_id=recorded.stream_id,
        stream_type=recorded.stream_type,
        version=recorded.version,
        event_id=recorded.event_id,
        type=recorded.type,
        recorded_at=recorded.recorded_at,
        metadata=recorded.metadata,
        data=msgspec.Raw(b"null" if omit_data else recorded.data),
    )
    return _ENCODER.encode(envelope)


def decode_envelope(body: bytes) -> RecordedEvent:
    """A RecordedEvent from a STITCHD_EVENTS message body."""
    e = _ENVELOPE.decode(body)
    return RecordedEvent(
        position=e.position,
        stream_id=e.stream_id,
        stream_type=e.stream_type,
        version=e.version,
        event_id=e.event_id,
        type=e.type,
        data=bytes(e.data),
        metadata=e.metadata,
        recorded_at=e.recorded_at,
    )


def envelope_headers(recorded: RecordedEvent) -> dict[str, str]:
    """The headers of a STITCHD_EVENTS message (de-duplication id and routing facts)."""
    headers = {
        MSG_ID_HEADER: str(recorded.event_id),
        POSITION_HEADER: str(recorded.position),
        TYPE_HEADER: recorded.type,
        STREAM_ID_HEADER: str(recorded.stream_id),
        STREAM_TYPE_HEADER: recorded.stream_type,
        VERSION_HEADER: str(recorded.version),
    }
    if recorded.metadata.environment_id is not None:
        headers[ENVIRONMENT_HEADER] = str(recorded.metadata.environment_id)
    return headers


def reference_message(recorded: RecordedEvent) -> tuple[bytes, dict[str, str]]:
    """The body and headers standing for an event too large to publish: `data` null, `Stitchd-Body:
    omitted`; consumers read the event from the store by its position (docs/messaging.md)."""
    return encode_envelope(recorded, omit_data=True), {**envelope_headers(recorded), BODY_HEADER: "omitted"}
