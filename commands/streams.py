"""The load -> decide -> append step shared by the flag, segment, event-definition and experiment handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid5

import msgspec

from commands.encoding import decode_recorded, to_new_events
from commands.eventstore import EventStore, Metadata, Usage
from domain.events import Event

Clock = Callable[[], datetime]
S = TypeVar("S")


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts where: copied into every appended event's metadata."""

    actor: str
    org_id: UUID
    project_id: UUID
    environment_id: UUID

    def metadata(self, command_id: UUID) -> Metadata:
        return Metadata(
            actor=self.actor,
            org_id=self.org_id,
            project_id=self.project_id,
            environment_id=self.environment_id,
            command_id=command_id,
        )


class Written(msgspec.Struct, frozen=True, kw_only=True):
    """Where a command's events landed: `position` is what read-your-writes waits for."""

    stream_id: UUID
    position: int
    version: int
    repeated: bool = False


def sub_command_id(command_id: UUID, part: str) -> UUID:
    """A derived command id for the n-th stream one request touches (repeats stay repeats)."""
    return uuid5(command_id, part)


async def load_state(
    store: EventStore,
    stream_id: UUID,
    replay: Callable[[Iterable[Any]], S | None],
    *,
    stream_type: str | None = None,
) -> tuple[S | None, int]:
    """A stream's folded state and version; a stream of another type (a caller-chosen id) is absent."""
    records = await store.load(stream_id)
    if records and stream_type is not None and records[0].stream_type != stream_type:
        return None, 0
    return replay(decode_recorded(r) for r in records), (records[-1].version if records else 0)


async def decide_and_append(
    store: EventStore,
    stream_id: UUID,
    stream_type: str,
    replay: Callable[[Iterable[Any]], S | None],
    decide: Callable[[S | None], Sequence[Event]],
    *,
    command_id: UUID,
    metadata: Metadata,
    usage: Sequence[Usage] = (),
) -> tuple[S | None, Written]:
    """Load, decide, append at the loaded version (with its quota `usage`). A command id already
    recorded in the stream is a repeat: nothing is decided again and the first outcome is returned (the
    store covers racing repeats)."""
    records = await store.load(stream_id)
    earlier = [r for r in records if r.metadata.command_id == command_id]
    state = replay(decode_recorded(r) for r in records)
    if earlier:
        last = earlier[-1]
        return state, Written(
            stream_id=stream_id, position=last.position, version=last.version, repeated=True
        )
    version = records[-1].version if records else 0
    new = decide(state)
    result = await store.append(
        stream_id,
        stream_type,
        version,
        to_new_events(new),
        metadata=metadata,
        command_id=command_id,
        usage=usage,
    )
    written = Written(
        stream_id=stream_id, position=result.last_position, version=result.version, repeated=result.repeated
    )
    return state, written
