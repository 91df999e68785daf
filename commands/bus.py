"""The command bus: one handler table, one load -> decide -> append step, one result type.

A handler is `async (command, ctx) -> reply`: it reads stream states through `ctx.load` (each stream is
loaded once per changeset, and a later command sees the events earlier commands emitted), decides with
the domain's pure deciders and hands the events to `ctx.emit`. The bus then appends every stream the
changeset read or wrote in ONE transaction (`EventStore.append_many`), each at the version it was loaded
at (the one version rule: a stream changed since it was read is a ConcurrencyError, HTTP 409), under one
command id (a repeat answers the first result and appends nothing). A caller's `expected_version` is the
domain's rule, checked by the deciders against the loaded state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec

from commands.encoding import decode_recorded, to_new_events
from commands.eventstore import AppendResult, ChangesetResult, EventStore, Metadata, StreamAppend, Usage
from domain.events import Command, Event

Clock = Callable[[], datetime]
Replay = Callable[[Iterable[Any]], Any]


@dataclass(frozen=True)
class StreamKind:
    """A stream type's permanent name and the fold of its events into state."""

    name: str
    replay: Replay


class HasMetadata(Protocol):
    """Who acts where (commands.streams.Scope, OrgScope): copied into every appended event's metadata."""

    @property
    def actor(self) -> str: ...

    def metadata(self, command_id: UUID) -> Metadata: ...


@dataclass
class _Stream:
    kind: StreamKind
    loaded_version: int  # the expected version of the append
    history: list[Event]
    new: list[Event] = field(default_factory=list)
    metadata: Metadata | None = None


class Context:
    """What a handler reads and emits within one changeset; `now` is read once per changeset."""

    def __init__(self, store: EventStore, scope: HasMetadata, command_id: UUID, now: datetime) -> None:
        self.store, self.scope, self.command_id, self.now = store, scope, command_id, now
        self._streams: dict[UUID, _Stream] = {}
        self._order: list[UUID] = []
        self.usage: list[Usage] = []

    async def load(self, kind: StreamKind, stream_id: UUID) -> Any:
        """The stream's state with this changeset's events so far (None when empty or of another type:
        a caller-chosen id naming another stream's kind appends at version 0, hence a conflict)."""
        if stream_id not in self._streams:
            records = await self.store.load(stream_id)
            foreign = bool(records) and records[0].stream_type != kind.name
            history = [] if foreign else [decode_recorded(r) for r in records]
            self._streams[stream_id] = _Stream(kind, 0 if foreign else len(records), history)
        s = self._streams[stream_id]
        return s.kind.replay([*s.history, *s.new])

    async def history(self, stream_id: UUID, *, up_to_position: int) -> list[Event]:
        """A stream's committed events at or before a store position (time travel; not a read the
        changeset's version check covers)."""
        return [decode_recorded(r) for r in await self.store.load(stream_id, up_to_position=up_to_position)]

    def version(self, stream_id: UUID) -> int:
        """The loaded stream's version including this changeset's events so far."""
        s = self._streams[stream_id]
        return s.loaded_version + len(s.new)

    def emit(
        self,
        stream_id: UUID,
        events: Sequence[Event],
        *,
        metadata: Metadata | None = None,
        usage: Sequence[Usage] = (),
    ) -> None:
        """Record decided events for a loaded stream (`metadata` defaults to the scope's)."""
        s = self._streams[stream_id]
        if events and not s.new and stream_id not in self._order:
            self._order.append(stream_id)
        s.new.extend(events)
        if metadata is not None:
            s.metadata = metadata
        if events:
            self.usage.extend(usage)

    def appends(self) -> list[StreamAppend]:
        """Streams with events (first emitted first), then the streams only read (version checks)."""
        order = [*self._order, *(sid for sid in self._streams if sid not in self._order)]
        base = self.scope.metadata(self.command_id)
        return [
            StreamAppend(
                stream_id=sid,
                stream_type=self._streams[sid].kind.name,
                expected_version=self._streams[sid].loaded_version,
                events=tuple(to_new_events(self._streams[sid].new)),
                metadata=msgspec.structs.replace(
                    self._streams[sid].metadata or base, command_id=self.command_id
                ),
            )
            for sid in order
        ]

    def loaded(self, kind: StreamKind) -> list[Any]:
        """The states of every stream of `kind` this changeset has loaded so far (None for empty ones)."""
        return [s.kind.replay([*s.history, *s.new]) for s in self._streams.values() if s.kind == kind]

    def states(self) -> dict[UUID, Any]:
        """Every stream's state after the changeset."""
        return {sid: s.kind.replay([*s.history, *s.new]) for sid, s in self._streams.items()}


Handler = Callable[[Any, Context], Awaitable[Any]]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a command or changeset did: the streams it wrote, positions, and the resulting states.

    `position` is the last position of every stream the changeset read or wrote: the store holds the
    answered `states` at that position, and read-your-writes waits for it.
    """

    command_id: UUID
    written: tuple[AppendResult, ...]  # streams that got events, in append order
    position: int
    states: dict[UUID, Any]
    replies: tuple[Any, ...] = ()  # one per command, what its handler returned (empty on a repeat)
    repeated: bool = False

    def state(self, stream_id: UUID) -> Any:
        """The state of a stream the changeset read or wrote (None when it has none)."""
        return self.states.get(stream_id)

    def version(self, stream_id: UUID) -> int:
        """The version of a stream after the changeset (0 when it has no events)."""
        return int(getattr(self.states.get(stream_id), "version", 0) or 0)


class CommandBus:
    """Routes each command to its handler (one table) and appends a changeset atomically."""

    def __init__(
        self,
        store: EventStore,
        handlers: Mapping[type[Command], Handler],
        kinds: Iterable[StreamKind],
        *,
        clock: Clock,
    ) -> None:
        self.store, self.handlers, self.clock = store, dict(handlers), clock
        self.kinds = {k.name: k for k in kinds}

    async def handle(self, command: Command, scope: HasMetadata) -> Outcome:
        """One command as a changeset of one, keyed by its own command id."""
        return await self.handle_changeset([command], scope, command_id=command.command_id)

    async def handle_changeset(
        self, commands: Sequence[Command], scope: HasMetadata, *, command_id: UUID
    ) -> Outcome:
        """Decide every command in order against the states it reads, then append all streams in one
        transaction under `command_id`: all of it or none of it."""
        prior = await self.store.recorded(command_id)
        if prior is not None:
            return await self._repeat(prior)
        ctx = Context(self.store, scope, command_id, self.clock())
        replies = tuple([await self._handler(c)(c, ctx) for c in commands])
        result = await self.store.append_many(ctx.appends(), command_id=command_id, usage=ctx.usage)
        if result.repeated:  # a racing twin appended first
            return await self._repeat(result)
        return _outcome(command_id, result, ctx.states(), replies)

    def _handler(self, command: Command) -> Handler:
        handler = self.handlers.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return handler

    async def _repeat(self, prior: ChangesetResult) -> Outcome:
        """The first result, with the streams' current states."""
        states: dict[UUID, Any] = {}
        for part in prior.streams:
            records = await self.store.load(part.stream_id)
            kind = self.kinds.get(records[0].stream_type) if records else None
            states[part.stream_id] = kind.replay(map(decode_recorded, records)) if kind else None
        assert prior.command_id is not None
        return _outcome(prior.command_id, prior, states, (), repeated=True)


def _outcome(
    command_id: UUID,
    result: ChangesetResult,
    states: dict[UUID, Any],
    replies: tuple[Any, ...],
    *,
    repeated: bool = False,
) -> Outcome:
    written = tuple(s for s in result.streams if s.appended)
    return Outcome(
        command_id=command_id,
        written=written,
        position=result.position,
        states=states,
        replies=replies,
        repeated=repeated,
    )
