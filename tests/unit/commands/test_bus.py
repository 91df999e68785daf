"""The bus's one step: each stream loaded once, later commands see earlier events, one version rule."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from commands.bus import CommandBus, Context, StreamKind
from commands.encoding import to_new_events
from commands.eventstore import ConcurrencyError, Metadata
from commands.memory_store import InMemoryEventStore
from domain.events import Command, Event
from tests.unit.commands.bus_support import NOW, SCOPE

COUNTER = StreamKind("counter", lambda events: sum(1 for _ in events) or None)


class Bump(Event, frozen=True, kw_only=True, tag="test.bumped"):
    seen: int = 0  # how many bumps the decider saw before this one


class BumpCommand(Command, frozen=True, kw_only=True, tag="test.bump"):
    stream: UUID
    also_read: UUID | None = None


async def bump(cmd: BumpCommand, ctx: Context) -> int:
    seen = await ctx.load(COUNTER, cmd.stream) or 0
    if cmd.also_read is not None:
        await ctx.load(COUNTER, cmd.also_read)
    ctx.emit(
        cmd.stream,
        [Bump(stream_id=cmd.stream, version=ctx.version(cmd.stream) + 1, occurred_at=NOW, seen=seen)],
    )
    return int(seen)


def bus(store: InMemoryEventStore) -> CommandBus:
    return CommandBus(store, {BumpCommand: bump}, [COUNTER], clock=lambda: NOW)


async def test_later_commands_of_a_changeset_see_the_earlier_ones_events() -> None:
    store, stream, cid = InMemoryEventStore(), uuid4(), uuid4()
    cmds = [BumpCommand(command_id=cid, stream=stream) for _ in range(3)]
    outcome = await bus(store).handle_changeset(cmds, SCOPE, command_id=cid)
    assert outcome.replies == (0, 1, 2)
    assert [(w.stream_id, w.version, w.appended) for w in outcome.written] == [(stream, 3, 3)]
    assert outcome.state(stream) == 3


class Racing(InMemoryEventStore):
    """Another writer appends to `victim` right after the bus loaded it."""

    def __init__(self, victim: UUID) -> None:
        super().__init__()
        self.victim = victim

    async def load(self, stream_id: UUID, *, up_to_position: int | None = None) -> list:  # type: ignore[type-arg]
        loaded = await super().load(stream_id, up_to_position=up_to_position)
        if stream_id == self.victim:
            self.victim = uuid4()
            other = Bump(stream_id=stream_id, version=len(loaded) + 1, occurred_at=NOW)
            await self.append(stream_id, "counter", len(loaded), to_new_events([other]), metadata=Metadata())
        return loaded


@pytest.mark.parametrize("written", [True, False])
async def test_a_stream_changed_after_it_was_read_refuses_the_whole_changeset(written: bool) -> None:
    target, read = uuid4(), uuid4()
    store = Racing(target if written else read)
    cid = uuid4()
    with pytest.raises(ConcurrencyError):
        await bus(store).handle_changeset(
            [BumpCommand(command_id=cid, stream=target, also_read=read)], SCOPE, command_id=cid
        )
    assert await store.head_position() == 1  # only the other writer's event
    assert await store.recorded(cid) is None
