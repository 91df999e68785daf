"""The bus's handler table: every command type the write side handles, and the bus over a store."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from commands.bus import Clock, CommandBus, Handler
from commands.event_definitions import MeasuredBy, event_definition_handlers
from commands.eventstore import EventStore
from commands.experiments import experiment_handlers
from commands.flags import FlagLookups, flag_handlers
from commands.kinds import KINDS
from commands.segments import SegmentLookups, segment_handlers
from commands.tenancy import sdk_key_handlers
from domain.events import Command
from domain.quotas import DEFAULT_QUOTAS, Quotas


async def _measured_by_nothing(environment_id: UUID, key: str) -> frozenset[str]:
    return frozenset()


def handler_table(
    *,
    flags: FlagLookups,
    segments: SegmentLookups,
    quotas: Quotas = DEFAULT_QUOTAS,
    measured_by: MeasuredBy = _measured_by_nothing,
) -> Mapping[type[Command], Handler]:
    """Command type -> handler, with the read-side lookups bound (one row per command type);
    `measured_by`: the running experiments measuring a metric key (event definitions)."""
    return {
        **flag_handlers(flags),
        **segment_handlers(segments),
        **sdk_key_handlers(quotas),
        **experiment_handlers(),
        **event_definition_handlers(measured_by),
    }


def build_bus(
    store: EventStore,
    *,
    clock: Clock,
    flags: FlagLookups,
    segments: SegmentLookups,
    quotas: Quotas = DEFAULT_QUOTAS,
    measured_by: MeasuredBy = _measured_by_nothing,
) -> CommandBus:
    """The command bus over `store` with the full handler table."""
    table = handler_table(flags=flags, segments=segments, quotas=quotas, measured_by=measured_by)
    return CommandBus(store, table, KINDS, clock=clock)
