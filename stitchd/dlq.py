"""STITCHD_DLQ for operators and the projector: read dead letters back, replay them, and the projector's
`DeadLetters` (projections may not import schemas, so the composition root wires it).

Replaying a dead letter of a JetStream consumer republishes its body and original headers on its
original subject (with a fresh `Nats-Msg-Id`), so the consumer sees it again; replaying a projection's
dead event applies the stored event at that position to that projection in one transaction, under its
checkpoint lock (out of order: the projection has moved on, which is what the operator asks for after
fixing the cause). A replayed letter is deleted from STITCHD_DLQ; one that fails again stays.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

import psycopg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.envelope import RecordedEvent, envelope_headers, recorded_subject
from projections.recorded import Projection
from projections.registry import by_name
from projections.store import apply_events, checkpoint_name, ensure_checkpoint, lock_checkpoint, read_range
from schemas.dead_letters import (
    DLQ_STREAM,
    DLQ_SUBJECTS,
    DeadLetter,
    Original,
    dead_letter,
    from_stored,
    original_of,
    replay_headers,
)

STORE: Final = "postgres:events"  # the `stream` of a projection's dead event: the events table
PROJECTION_PREFIX: Final = "proj_"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JetStreamDeadLetters:
    """projections.poison.DeadLetters over STITCHD_DLQ."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def event(self, consumer: str, recorded: RecordedEvent, reason: str, attempts: int) -> None:
        original = Original(  # headers and subject as the relay publishes the event
            subject=recorded_subject(recorded),
            headers=envelope_headers(recorded),
            stream=STORE,
            sequence=recorded.position,
            deliveries=attempts,
        )
        await dead_letter(self._js, original, recorded.data, consumer=consumer, reason=reason, at_ms=now_ms())

    async def message(self, consumer: str, msg: Msg, reason: str) -> None:
        await dead_letter(
            self._js, original_of(msg), msg.data, consumer=consumer, reason=reason, at_ms=now_ms()
        )


async def dead_letters(js: JetStreamContext, consumer: str | None = None) -> list[tuple[DeadLetter, bytes]]:
    """Every stored dead letter (of one consumer, if given), oldest first, with its body."""
    try:
        state = (await js.stream_info(DLQ_STREAM)).state
    except NotFoundError:
        return []
    out: list[tuple[DeadLetter, bytes]] = []
    seq = state.first_seq
    while state.messages and seq <= state.last_seq:
        try:
            raw = await js.get_msg(DLQ_STREAM, seq=seq, subject=DLQ_SUBJECTS, next=True)
        except NotFoundError:
            break
        assert raw.seq is not None
        letter = from_stored(raw.seq, raw.data or b"", raw.headers)
        if consumer is None or letter.consumer == consumer:
            out.append((letter, raw.data or b""))
        seq = raw.seq + 1
    return out


async def replay_event(database_url: str, projection: Projection, position: int) -> None:
    """Apply the stored event at `position` to `projection` (its checkpoint is left where it is)."""
    name = checkpoint_name(projection)
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, prepare_threshold=None
    ) as conn:
        await ensure_checkpoint(conn, name)
        async with conn.transaction():
            await lock_checkpoint(conn, name)  # one writer at a time with the live runner
            events = await read_range(conn, position - 1, position, 1)
            if not events:
                raise LookupError(f"position {position} is not in the events table")
            await apply_events(conn, projection, events)


async def replay(js: JetStreamContext, letter: DeadLetter, data: bytes, database_url: str | None) -> None:
    """Replay one dead letter, then delete it from STITCHD_DLQ; raises (and keeps it) on failure."""
    if letter.stream == STORE:
        if database_url is None:
            raise ValueError("replaying a projection's event needs the database")
        projection = by_name(letter.consumer.removeprefix(PROJECTION_PREFIX))
        await replay_event(database_url, projection, letter.sequence)
    else:
        await js.publish(letter.subject, data, headers=replay_headers(letter))
    await js.delete_msg(DLQ_STREAM, letter.id)


def describe(letter: DeadLetter) -> str:
    """One line of `stitchd dlq list`."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(letter.at_ms / 1000))
    where = f"{letter.stream}#{letter.sequence}"
    return (
        f"{letter.id}\t{at}\t{letter.consumer}\t{letter.subject}\t{where}\t"
        f"deliveries={letter.deliveries}\t{letter.reason}"
    )


def chosen(
    letters: Sequence[tuple[DeadLetter, bytes]], ids: Sequence[int] | None
) -> list[tuple[DeadLetter, bytes]]:
    """The letters named by id (all when `ids` is None), in the order stored."""
    if ids is None:
        return list(letters)
    wanted = set(ids)
    return [(letter, data) for letter, data in letters if letter.id in wanted]
