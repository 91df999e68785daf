"""What the flag routes share: handler collaborators and the state answered after a write."""

from __future__ import annotations

from uuid import UUID

from commands import flags as handlers
from commands.streams import Scope, Written
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from gateway import flag_views as views
from gateway.deps import GatewayDeps
from gateway.writes import with_stamps
from readmodels import flags as rm
from readmodels import segments as rm_segments
from schemas.http_flags import FlagView


def flag_deps(deps: GatewayDeps) -> handlers.FlagDeps:
    """The flag handlers' collaborators, with their read-side lookups bound to the read pool."""

    async def segment_keys(environment_id: UUID, wanted: frozenset[str]) -> frozenset[str]:
        return await rm_segments.existing_segment_keys(
            deps.db, environment_id=environment_id, keys=sorted(wanted)
        )

    async def configured(project_id: UUID, key: str) -> list[UUID]:
        return await rm.flag_environments(deps.db, project_id=project_id, key=key)

    return handlers.FlagDeps(
        store=deps.store,
        clock=deps.clock,
        segment_keys=segment_keys,
        configured_environments=configured,
        quotas=deps.quotas,
    )


async def answer(deps: GatewayDeps, scope: Scope, key: str, written: Written) -> FlagView:
    """The flag after a write, folded from its streams; waits for the read models to catch up."""
    flag = dfn.live_flag(await handlers.load_flag(deps.store, scope.project_id, key), key)
    config = await handlers.load_config(deps.store, scope.environment_id, key)
    definition = cfg.definition_of(flag, config, scope.environment_id)
    await deps.settle(written.position)
    position = written.position or await _last_position(
        deps, flag.id, cfg.flag_config_stream(scope.environment_id, key)
    )
    view = views.flag_view(
        definition,
        name=flag.name,
        description=flag.description,
        definition_version=flag.version,
        position=position,
    )
    row = await rm.flag_in_environment(
        deps.db, project_id=scope.project_id, environment_id=scope.environment_id, key=key
    )
    return with_stamps(view, row, position)


async def _last_position(deps: GatewayDeps, *stream_ids: UUID) -> int:
    """The position of the latest event among the streams (a no-op write answers with it)."""
    return max([r.position for sid in stream_ids for r in (await deps.store.load(sid))[-1:]], default=0)


def row_view(row: rm.FlagRow) -> FlagView:
    return views.flag_view(
        row.definition,
        name=row.name,
        description=row.description,
        definition_version=row.definition_version,
        position=row.position,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
