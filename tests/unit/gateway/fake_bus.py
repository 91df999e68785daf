"""A small real FakeBus: records every changeset a route sends and answers a fixed outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from commands.bus import HasMetadata, Outcome
from commands.eventstore import AppendResult
from domain.events import Command


@dataclass
class FakeBus:
    """`sent` holds (commands, scope, command id) per call; each answer lands at `position`."""

    position: int = 7
    sent: list[tuple[list[Command], HasMetadata, UUID]] = field(default_factory=list)

    async def handle(self, command: Command, scope: HasMetadata) -> Outcome:
        return await self.handle_changeset([command], scope, command_id=command.command_id)

    async def handle_changeset(
        self, commands: Sequence[Command], scope: HasMetadata, *, command_id: UUID
    ) -> Outcome:
        self.sent.append((list(commands), scope, command_id))
        at = self.position
        written = AppendResult(
            stream_id=command_id, first_position=at, last_position=at, version=1, appended=1
        )
        return Outcome(command_id=command_id, written=(written,), position=self.position, states={})


@dataclass
class FakeDeps:
    """The bus and read-your-writes of GatewayDeps; `settled` lists the positions waited for."""

    bus: FakeBus = field(default_factory=FakeBus)
    settled: list[int] = field(default_factory=list)

    async def settle(self, position: int) -> int:
        self.settled.append(position)
        return position
