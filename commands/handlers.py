"""The bus's handler table: every command type the write side handles, and the bus over a store."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from uuid import UUID

from commands.auth_providers import auth_provider_handlers
from commands.bus import Clock, CommandBus, Handler
from commands.event_definitions import MeasuredBy, event_definition_handlers
from commands.eventstore import EventStore
from commands.experiments import experiment_handlers
from commands.flags import FlagLookups, flag_handlers
from commands.identity import MEMBERSHIP_HANDLERS, identity_handlers
from commands.kinds import KINDS
from commands.revert import RestoreFlagConfig, RevertChangeset, restore_config, revert_changeset
from commands.segments import SegmentLookups, segment_handlers
from commands.tenancy import TenancyLookups, sdk_key_handlers, tenancy_handlers
from commands.vault import IdentityVault
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
    tenancy: TenancyLookups | None = None,
    vault: IdentityVault | None = None,
) -> Mapping[type[Command], Handler]:
    """Command type -> handler, with the read-side lookups bound (one row per command type);
    `measured_by`: the running experiments measuring a metric key (event definitions); without a
    `vault`, the identity commands that need one (register, password, removal) have no handler."""
    revert = functools.partial(revert_changeset, flags=flags, segments=segments)
    return {
        **tenancy_handlers(tenancy or TenancyLookups(quotas=quotas)),
        **(MEMBERSHIP_HANDLERS if vault is None else identity_handlers(vault)),
        **flag_handlers(flags),
        **segment_handlers(segments),
        **sdk_key_handlers(quotas),
        **experiment_handlers(),
        **event_definition_handlers(measured_by),
        **auth_provider_handlers(),
        RevertChangeset: revert,
        RestoreFlagConfig: restore_config,
    }


def build_bus(
    store: EventStore,
    *,
    clock: Clock,
    flags: FlagLookups,
    segments: SegmentLookups,
    quotas: Quotas = DEFAULT_QUOTAS,
    measured_by: MeasuredBy = _measured_by_nothing,
    tenancy: TenancyLookups | None = None,
    vault: IdentityVault | None = None,
) -> CommandBus:
    """The command bus over `store` with the full handler table."""
    table = handler_table(
        flags=flags, segments=segments, quotas=quotas, measured_by=measured_by, tenancy=tenancy, vault=vault
    )
    return CommandBus(store, table, KINDS, clock=clock)
