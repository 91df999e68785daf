"""The stored-event envelope: everything that surrounds a domain event in the store and on the bus.

This module is the one owner of
- the envelope itself: `Metadata` (who and where) and `RecordedEvent` (an `events` row);
- the `events` table SQL every reader and the Postgres store run (`SELECT_EVENTS` plus named queries),
  and `recorded_from_row`, the one decoder of its rows;
- the JetStream names of the domain events: `EVENTS_STREAM`, `EVENTS_SUBJECTS`, `event_subject`;
- the wire form the relay publishes: the header names, the JSON body (`encode_envelope` /
  `decode_envelope`), `envelope_headers` and the `reference_message` of an event too large to carry.

It lives in `domain/` because every package that reads events (commands, projections, readmodels, the
composition roots) may import the domain and nothing else in common; it is data and constants only: no
connection, no IO. `tests/unit/test_envelope_owner.py` fails when `events` SQL or a JetStream subject or
stream name is written anywhere else. Ingest and dead-letter names belong to their wire contracts
(`schemas/ingest.py`, `schemas/dead_letters.py`), each the only place that spells them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from domain.codec import decode_event
from domain.events import Event


class Metadata(msgspec.Struct, frozen=True, kw_only=True):
    """Who and where: stored beside the event (the `metadata` column), never inside the fact."""

    actor: str = "system"
    org_id: UUID | None = None
    project_id: UUID | None = None
    environment_id: UUID | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    command_id: UUID | None = None


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

    def event(self) -> Event:
        """The domain event stored in this row (tolerant of unknown fields)."""
        return decode_event(self.type, self.data)


def decode_recorded(recorded: RecordedEvent) -> Event:
    """The domain event stored in a row (tolerant of unknown fields)."""
    return recorded.event()


# --- the `events` table (migration 0001) -------------------------------------------------------------

# jsonb as text: the same bytes whichever loader the connection registered for jsonb.
EVENT_COLUMNS: Final = (
    "position, stream_id, stream_type, version, event_id, type, data::text AS data,"
    " metadata::text AS metadata, recorded_at"
)
SELECT_EVENTS: Final = f"SELECT {EVENT_COLUMNS} FROM events"  # append a trusted WHERE / ORDER tail
READ_AFTER: Final = SELECT_EVENTS + " WHERE position > %s ORDER BY position LIMIT %s"
READ_RANGE: Final = SELECT_EVENTS + " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
HEAD_POSITION: Final = "SELECT coalesce(max(position), 0) FROM events"
COUNT_UP_TO: Final = "SELECT count(*) FROM events WHERE position <= %s"
STREAM_VERSION: Final = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"
RECORDED_AT_OF: Final = "SELECT position, recorded_at FROM events WHERE position = ANY(%s)"
POSITION_AT: Final = "SELECT coalesce(max(position), 0) AS p FROM events WHERE recorded_at <= %s"
ANY_IN_STREAMS: Final = "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = ANY(%s)) AS found"
STORED_SIZES: Final = "SELECT octet_length(data::text) FROM events WHERE position > %s ORDER BY position"
INSERT_EVENT: Final = (
    "INSERT INTO events (position, stream_id, stream_type, version, event_id, type, data, metadata)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# The append's one state read: the stream's last version and position, the store head, and a prior
# result of the same command id (table command_results).
APPEND_STATE: Final = (
    "SELECT s.version, s.position, (SELECT coalesce(max(position), 0) FROM events),"
    " r.stream_id, r.first_position, r.last_position, r.version, r.response"
    " FROM (SELECT 1) AS one"
    " LEFT JOIN LATERAL (SELECT version, position FROM events WHERE stream_id = %(stream)s"
    "  ORDER BY version DESC LIMIT 1) AS s ON true"
    " LEFT JOIN command_results AS r ON r.command_id = %(command)s"
)
# A changeset's read of several streams' last versions and positions in one statement.
STREAM_HEADS: Final = (
    "SELECT DISTINCT ON (stream_id) stream_id, version, position FROM events"
    " WHERE stream_id = ANY(%s) ORDER BY stream_id, version DESC"
)
# What can change an environment's definitions up to a position: its own streams and its project's flags.
READ_DEFINITION_EVENTS: Final = (
    SELECT_EVENTS + " WHERE position <= %(upto)s AND (metadata->>'environment_id' = %(env)s"
    "  OR (stream_type = 'flag' AND metadata->>'project_id' = %(project)s)) ORDER BY position"
)
# Filters over the envelope's metadata, for readers that compose a WHERE clause after SELECT_EVENTS.
ENVIRONMENT_IS: Final = "metadata->>'environment_id' = %s"
ACTOR_IS: Final = "metadata->>'actor' = %s"
COMMAND_IS: Final = "metadata->>'command_id' = %s"
UNIQUE_EVENT_ID: Final = "events_event_id_key"
UNIQUE_STREAM_VERSION: Final = "events_stream_id_version_key"

_METADATA = msgspec.json.Decoder(Metadata)


def _raw(value: str | bytes | memoryview) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def recorded_from_row(row: tuple[Any, ...] | Any) -> RecordedEvent:
    """A RecordedEvent from a row of `SELECT_EVENTS` (the columns in `EVENT_COLUMNS` order)."""
    position, stream_id, stream_type, version, event_id, type_, data, metadata, recorded_at = row
    return RecordedEvent(
        position=position,
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        event_id=event_id,
        type=type_,
        data=_raw(data),
        metadata=_METADATA.decode(_raw(metadata)),
        recorded_at=recorded_at,
    )


# --- JetStream STITCHD_EVENTS (deploy/nats/streams.json) ------------------------------------------------

EVENTS_STREAM: Final = "STITCHD_EVENTS"
EVENTS_SUBJECT_PREFIX: Final = "stitchd.events"
EVENTS_SUBJECTS: Final = EVENTS_SUBJECT_PREFIX + ".>"


def event_subject(stream_type: str, environment_id: str | None) -> str:
    """Subject of a domain event: stitchd.events.<stream_type>.<environment or _>."""
    return f"{EVENTS_SUBJECT_PREFIX}.{stream_type}.{environment_id or '_'}"


# Headers the relay sets on every STITCHD_EVENTS message.
MSG_ID_HEADER: Final = "Nats-Msg-Id"
POSITION_HEADER: Final = "Stitchd-Position"
TYPE_HEADER: Final = "Stitchd-Type"
STREAM_ID_HEADER: Final = "Stitchd-Stream-Id"
STREAM_TYPE_HEADER: Final = "Stitchd-Stream-Type"
VERSION_HEADER: Final = "Stitchd-Version"
ENVIRONMENT_HEADER: Final = "Stitchd-Environment-Id"
BODY_HEADER: Final = "Stitchd-Body"  # "omitted" on a reference: the envelope's data is null, read the store


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


def recorded_subject(recorded: RecordedEvent) -> str:
    """The subject `recorded` is published on."""
    env = recorded.metadata.environment_id
    return event_subject(recorded.stream_type, None if env is None else str(env))


def reference_message(recorded: RecordedEvent) -> tuple[bytes, dict[str, str]]:
    """The body and headers standing for an event too large to publish: `data` null, `Stitchd-Body:
    omitted`; consumers read the event from the store by its position (docs/messaging.md)."""
    return encode_envelope(recorded, omit_data=True), {**envelope_headers(recorded), BODY_HEADER: "omitted"}
