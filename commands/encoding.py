"""Domain events to and from the store's rows (the envelope itself is domain.envelope)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID, uuid4

from commands.eventstore import EventStore, NewEvent
from domain.codec import encode_event, type_of
from domain.envelope import decode_recorded
from domain.events import Event

__all__ = ["decode_recorded", "load_stream", "to_new_events"]  # decode_recorded: domain.envelope's


def to_new_events(events: Sequence[Event], new_id: Callable[[], UUID] = uuid4) -> list[NewEvent]:
    """Events ready to append, each with a fresh event id from `new_id`."""
    return [NewEvent(event_id=new_id(), type=type_of(e), data=encode_event(e)) for e in events]


async def load_stream(
    store: EventStore, stream_id: UUID, *, up_to_position: int | None = None
) -> list[Event]:
    """A stream's domain events in version order."""
    return [decode_recorded(r) for r in await store.load(stream_id, up_to_position=up_to_position)]
