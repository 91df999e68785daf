"""The bus's handler table: every command type the write side handles, and the bus over a store."""

from __future__ import annotations

from collections.abc import Mapping

from commands.auth_providers import auth_provider_handlers
from commands.bus import Clock, CommandBus, Handler
from commands.eventstore import EventStore
from commands.flags import FlagLookups, flag_handlers
from commands.kinds import KINDS
from commands.segments import SegmentLookups, segment_handlers
from commands.tenancy import sdk_key_handlers
from domain.events import Command
from domain.quotas import DEFAULT_QUOTAS, Quotas


def handler_table(
    *, flags: FlagLookups, segments: SegmentLookups, quotas: Quotas = DEFAULT_QUOTAS
) -> Mapping[type[Command], Handler]:
    """Command type -> handler, with the read-side lookups bound (one row per command type)."""
    return {
        **flag_handlers(flags),
        **segment_handlers(segments),
        **sdk_key_handlers(quotas),
        **auth_provider_handlers(),
    }


def build_bus(
    store: EventStore,
    *,
    clock: Clock,
    flags: FlagLookups,
    segments: SegmentLookups,
    quotas: Quotas = DEFAULT_QUOTAS,
) -> CommandBus:
    """The command bus over `store` with the full handler table."""
    table = handler_table(flags=flags, segments=segments, quotas=quotas)
    return CommandBus(store, table, KINDS, clock=clock)
