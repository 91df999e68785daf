"""Scopes, the one-stream result `Written`, and `decide_and_append`: the bus's step for one stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid5

import msgspec

from commands.bus import Context, Outcome, StreamKind
from commands.encoding import decode_recorded
from commands.eventstore import AppendResult, EventStore, Metadata, Usage
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


class OrgScope(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts in which organisation (tenancy and identity commands above any environment)."""

    actor: str
    org_id: UUID | None = None

    def metadata(self, command_id: UUID) -> Metadata:
        return Metadata(actor=self.actor, org_id=self.org_id, command_id=command_id)


class Written(msgspec.Struct, frozen=True, kw_only=True):
    """Where a command's events landed in one stream: `position` is what read-your-writes waits for."""

    stream_id: UUID
    position: int
    version: int
    repeated: bool = False

    @classmethod
    def of(cls, result: AppendResult, *, repeated: bool = False) -> Written:
        return cls(
            stream_id=result.stream_id, position=result.last_position, version=result.version,
            repeated=repeated,
        )  # fmt: skip

    @classmethod
    def from_outcome(cls, outcome: Outcome, stream_id: UUID) -> Written:
        """One stream's view of a bus outcome (its position is the whole changeset's)."""
        return cls(stream_id=stream_id, position=outcome.position, version=outcome.version(stream_id),
                   repeated=outcome.repeated)  # fmt: skip


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
    """One stream through the bus's load -> decide -> append step (commands.bus.Context), for handlers
    not yet in the handler table; returns the prior state too. A command id seen before is a repeat:
    nothing is decided again and the first outcome is returned."""
    prior = await store.recorded(command_id)
    if prior is not None:
        state, _ = await load_state(store, stream_id, replay)
        return state, Written.of(prior.streams[0], repeated=True)
    ctx = Context(store, _Fixed(metadata), command_id, datetime.now(UTC))  # deciders bring their own
    state = await ctx.load(StreamKind(stream_type, replay), stream_id)
    ctx.emit(stream_id, decide(state), usage=usage)
    result = await store.append_many(ctx.appends(), command_id=command_id, usage=ctx.usage)
    return state, Written.of(result.streams[0], repeated=result.repeated)


class _Fixed(msgspec.Struct, frozen=True):
    meta: Metadata

    @property
    def actor(self) -> str:
        return self.meta.actor

    def metadata(self, command_id: UUID) -> Metadata:
        return msgspec.structs.replace(self.meta, command_id=command_id)
