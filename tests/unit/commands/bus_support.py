"""A bus over the in-memory store with fixed read-side lookups, for handler unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID, uuid4

from commands.bus import CommandBus, Outcome
from commands.flags import FlagLookups
from commands.handlers import build_bus
from commands.memory_store import InMemoryEventStore
from commands.segments import SegmentLookups
from commands.streams import Scope
from domain.flags import config as cfg
from domain.flags import definition as dfn
from domain.flags.model import FlagDefinition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCOPE = Scope(actor="ann", org_id=uuid4(), project_id=uuid4(), environment_id=uuid4())


def memory_bus(
    store: InMemoryEventStore,
    *,
    configured: Mapping[str, list[UUID]] | None = None,
    used: Mapping[str, frozenset[str]] | None = None,
) -> CommandBus:
    """`configured`: flag key -> environments configuring it; `used`: segment key -> its referrers."""

    async def environments(_: UUID, key: str) -> list[UUID]:
        return list((configured or {}).get(key, []))

    async def graph(_: UUID) -> dict[str, frozenset[str]]:
        return {}

    async def referenced_by(_: UUID, key: str) -> frozenset[str]:
        return (used or {}).get(key, frozenset())

    return build_bus(
        store,
        clock=lambda: NOW,
        flags=FlagLookups(configured_environments=environments),
        segments=SegmentLookups(segment_graph=graph, referenced_by=referenced_by),
    )


def definition(outcome: Outcome, scope: Scope, key: str) -> FlagDefinition:
    """What evaluation sees for the flag after the outcome (its streams must have been read)."""
    flag = dfn.live_flag(outcome.state(dfn.flag_stream(scope.project_id, key)), key)
    config = outcome.state(cfg.flag_config_stream(scope.environment_id, key))
    return cfg.definition_of(flag, config, scope.environment_id)
