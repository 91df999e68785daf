"""The projector's poison policy: which failures are the event's fault, and where such events go.

An event row that keeps failing to decode or apply (after `max_attempts`, counted only for failures the
event can cause) is handed to `DeadLetters` with its position and the reason, and the checkpoint moves
past it in the same transaction, so the projection goes on. Failures of the world (PostgreSQL
unreachable) are retried forever with back-off and never dead-letter anything. A pushed message that is
not a store event (no or a malformed `Stitchd-Position`, or a position the store does not have) is
dead-lettered at once: the runner reads bodies from PostgreSQL, so such a message can only be forged.
The composition root wires `DeadLetters` to STITCHD_DLQ (`stitchd.dlq`); projections may not import it.
"""

from __future__ import annotations

from typing import Protocol

import psycopg
from nats.aio.msg import Msg

from domain.envelope import RecordedEvent


class DeadLetters(Protocol):
    """Where the projector puts what it cannot apply; each call returns once the dead letter is stored."""

    async def event(self, consumer: str, recorded: RecordedEvent, reason: str, attempts: int) -> None:
        """A stored event that kept failing to decode or apply."""
        ...

    async def message(self, consumer: str, msg: Msg, reason: str) -> None:
        """A pushed message that is not a store event."""
        ...


def caused_by_the_world(exc: BaseException) -> bool:
    """PostgreSQL could not be reached or the connection broke: retry, never blame the event."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | OSError)
