"""History by replay (DESIGN section 10): audit pages, as-of reads and revert, all folded from `events`.

GET /v1/environments/{env_id}/audit lists the events made through that environment's routes; the flag
and segment variants list one object's streams (a flag's project definition and this environment's
config). Pages are newest first: pass `next_cursor` back as `before_position`. As-of reads take a store
`position` or a time `at` (the last position recorded at or before it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec.structs import replace

from commands.revert import RestoreFlagConfig
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.segments import segment as seg
from gateway import flag_answers
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.flag_views import flag_view
from gateway.query import PositionQuery
from gateway.segments import state_view
from gateway.writes import write_scope
from readmodels import history
from schemas.http_flags import FlagView, RevertBody
from schemas.http_segments import SegmentView
from schemas.http_types import INT64_MAX

DEFAULT_PAGE = 50


def audit_filter(
    actor: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    before_position: PositionQuery = None,
    limit: Annotated[
        int, QueryParameter(ge=1, le=history.MAX_LIMIT, description="Page size.")
    ] = DEFAULT_PAGE,
) -> history.AuditFilter:
    """The audit routes' shared query parameters, not yet scoped (each route adds its env or streams).

    Pure: `gateway/query.py` has validated every value before any dependency runs, so nothing here can
    fail while the ownership check holds a pooled connection.
    """
    return history.AuditFilter(
        actor=actor, since=since, until=until, before_position=before_position, limit=limit
    )


async def _position(deps: GatewayDeps, position: int | None, at: datetime | None) -> int:
    """The last store position at or before both bounds given (neither: the latest)."""
    bound = INT64_MAX if position is None else position
    if at is None:
        return bound
    return min(bound, await history.position_at(deps.db, at))


async def _object_audit(
    deps: GatewayDeps, query: history.AuditFilter, streams: tuple[UUID, ...], what: str
) -> history.AuditPage:
    """One object's history; an object that never existed here is not found (a deleted one has history)."""
    if not await history.any_events(deps.db, streams):
        raise NotFound(f"{what} not found")
    return await history.audit_page(deps.db, replace(query, stream_ids=streams))


async def flag_as_of(deps: GatewayDeps, env: EnvironmentScope, key: str, position: int) -> FlagView:
    """The flag as this environment saw it after store `position` (404 when it did not exist then)."""
    flag, _, p1 = await history.state_as_of(deps.db, dfn.flag_stream(env.project_id, key), position=position)
    if not isinstance(flag, dfn.Flag) or flag.deleted:
        raise NotFound(f"flag {key!r} did not exist at position {position}")
    stream = cfg.flag_config_stream(env.environment_id, key)
    config, _, p2 = await history.state_as_of(deps.db, stream, position=position)
    definition = cfg.definition_of(flag, config, env.environment_id)
    return flag_view(definition, flag, position=max(p1, p2))


class AuditController(Controller):
    path = "/v1/environments/{env_id:uuid}"
    tags = ["history"]
    security = BEARER
    guards = [tenant_reader]
    dependencies = {"audit_query": Provide(audit_filter, sync_to_thread=False)}

    @get("/audit")
    async def environment_audit(
        self,
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        audit_query: NamedDependency[history.AuditFilter],
    ) -> history.AuditPage:
        """Every event made through this environment, newest first, with actor, time, type and changes."""
        scoped = replace(audit_query, environment_id=env_scope.environment_id)
        return await history.audit_page(deps.db, scoped)

    @get("/flags/{key:str}/audit")
    async def flag_audit(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        audit_query: NamedDependency[history.AuditFilter],
    ) -> history.AuditPage:
        """One flag's history here: its project definition and this environment's config."""
        streams = (
            dfn.flag_stream(env_scope.project_id, key),
            cfg.flag_config_stream(env_scope.environment_id, key),
        )
        return await _object_audit(deps, audit_query, streams, f"flag {key!r}")

    @get("/segments/{key:str}/audit")
    async def segment_audit(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        audit_query: NamedDependency[history.AuditFilter],
    ) -> history.AuditPage:
        """One segment's history (membership batches included)."""
        streams = (seg.segment_stream(env_scope.environment_id, key),)
        return await _object_audit(deps, audit_query, streams, f"segment {key!r}")

    @get("/flags/{key:str}/as-of")
    async def flag_at(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        position: PositionQuery = None,
        at: FromQuery[datetime | None] = None,
    ) -> FlagView:
        """The flag as this environment had it at the last position at or before `position` and `at`."""
        return await flag_as_of(deps, env_scope, key, await _position(deps, position, at))

    @get("/segments/{key:str}/as-of")
    async def segment_at(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        position: PositionQuery = None,
        at: FromQuery[datetime | None] = None,
    ) -> SegmentView:
        """The segment as it was at the last position at or before `position` and `at`."""
        target = await _position(deps, position, at)
        stream = seg.segment_stream(env_scope.environment_id, key)
        state, _, last = await history.state_as_of(deps.db, stream, position=target)
        if not isinstance(state, seg.Segment) or state.deleted:
            raise NotFound(f"segment {key!r} did not exist at position {target}")
        return state_view(state, last)

    @post("/flags/{key:str}/revert", guards=[tenant_writer], status_code=200)
    async def revert(
        self,
        key: FromPath[str],
        data: JSONBody[RevertBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Restore this environment's config (rules, serving, hashing, enabled) as of a position or time,
        by appending compensating events; history itself is never rewritten."""
        target = await _position(deps, data.position, data.at)
        scope = write_scope(env_scope)
        cmd = RestoreFlagConfig(command_id=uuid4(), project_id=scope.project_id,
                                environment_id=scope.environment_id, key=key, position=target)  # fmt: skip
        return await flag_answers.change(deps, scope, key, data.version, [cmd], command_id=cmd.command_id)
