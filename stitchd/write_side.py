"""The write side's composition: the command bus over a store, its read-side lookups bound to the pool."""

from __future__ import annotations

from uuid import UUID

from commands.bus import Clock, CommandBus
from commands.eventstore import EventStore
from commands.flags import FlagLookups
from commands.handlers import build_bus
from commands.segments import SegmentLookups
from domain.quotas import DEFAULT_QUOTAS, Quotas
from readmodels import flags as rm_flags
from readmodels import segments as rm_segments
from readmodels.db import ReadDb


def segment_lookups(db: ReadDb, quotas: Quotas) -> SegmentLookups:
    """The segment handlers' read-side facts over the read pool."""

    async def graph(environment_id: UUID) -> dict[str, frozenset[str]]:
        return await rm_segments.segment_graph(db, environment_id=environment_id)

    async def referenced_by(environment_id: UUID, key: str) -> frozenset[str]:
        flags = await rm_flags.flags_using_segment(db, environment_id=environment_id, segment_key=key)
        others = [k for k, refs in (await graph(environment_id)).items() if key in refs and k != key]
        return frozenset([*(f"flag:{f}" for f in flags), *(f"segment:{s}" for s in others)])

    async def member_count(environment_id: UUID, key: str) -> int:
        return sum(await rm_segments.member_counts(db, environment_id=environment_id, key=key))

    return SegmentLookups(
        segment_graph=graph, referenced_by=referenced_by, member_count=member_count, quotas=quotas
    )


def flag_lookups(db: ReadDb, quotas: Quotas) -> FlagLookups:
    """The flag handlers' read-side facts over the read pool."""

    async def configured(project_id: UUID, key: str) -> list[UUID]:
        return await rm_flags.flag_environments(db, project_id=project_id, key=key)

    return FlagLookups(configured_environments=configured, quotas=quotas)


def write_bus(store: EventStore, db: ReadDb, *, clock: Clock, quotas: Quotas = DEFAULT_QUOTAS) -> CommandBus:
    """The gateway's command bus."""
    return build_bus(
        store,
        clock=clock,
        flags=flag_lookups(db, quotas),
        segments=segment_lookups(db, quotas),
        quotas=quotas,
    )
