"""/v1/environments/{env_id}/segments: rule and list segments, list membership in batches.

`version` is the segment stream's version. Deleting a segment a flag rule or another segment still
references answers 409 FAILED_PRECONDITION.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands import segments as handlers
from commands.streams import Scope, Written
from domain.errors import SegmentInUse, SegmentNotFound, check_version
from domain.segments import segment as seg
from domain.segments.commands import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    ReplaceSegmentMembers,
    UpdateSegment,
)
from domain.segments.events import SegmentKind
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import ApiError, NotFound
from gateway.query import VersionQuery
from gateway.writes import IdempotencyKey, command_id, with_stamps, write_scope
from readmodels import flags as rm_flags
from readmodels import segments as rm
from schemas.http_segments import (
    CreateSegmentBody,
    DeletedSegment,
    MembersBody,
    MembersView,
    SegmentList,
    SegmentView,
    UpdateSegmentBody,
)


class SegmentStillUsedError(ApiError, code="FAILED_PRECONDITION", status=409):
    """A referenced segment cannot be deleted (the seed's FAILED_PRECONDITION, as a conflict)."""


def segment_deps(deps: GatewayDeps) -> handlers.SegmentDeps:
    """The segment handlers' collaborators, with read-side lookups bound to the read pool."""

    async def graph(environment_id: UUID) -> dict[str, frozenset[str]]:
        return await rm.segment_graph(deps.db, environment_id=environment_id)

    async def referenced_by(environment_id: UUID, key: str) -> frozenset[str]:
        flags = await rm_flags.flags_using_segment(deps.db, environment_id=environment_id, segment_key=key)
        others = [k for k, refs in (await graph(environment_id)).items() if key in refs and k != key]
        return frozenset([*(f"flag:{f}" for f in flags), *(f"segment:{s}" for s in others)])

    async def member_count(environment_id: UUID, key: str) -> int:
        return sum(await rm.member_counts(deps.db, environment_id=environment_id, key=key))

    return handlers.SegmentDeps(
        store=deps.store,
        clock=deps.clock,
        segment_graph=graph,
        referenced_by=referenced_by,
        member_count=member_count,
        quotas=deps.quotas,
    )


def state_view(s: seg.Segment, position: int) -> SegmentView:
    return SegmentView(
        id=s.id,
        environment_id=s.environment_id,
        key=s.key,
        kind=s.kind.value,
        context_type=s.context_type,
        name=s.name,
        description=s.description,
        condition=s.condition,
        version=s.version,
        position=position,
    )


def row_view(r: rm.SegmentRow, counts: tuple[int, int] | None = None) -> SegmentView:
    return SegmentView(
        id=r.id,
        environment_id=r.environment_id,
        key=r.key,
        kind=r.kind,
        context_type=r.context_type,
        name=r.name,
        description=r.description,
        condition=r.rule.condition if r.rule is not None else None,
        included_count=counts[0] if counts else None,
        excluded_count=counts[1] if counts else None,
        version=r.version,
        position=r.position,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


async def answer(deps: GatewayDeps, scope: Scope, key: str, written: Written) -> SegmentView:
    """The segment after a write, folded from its stream, once the read models caught up."""
    state = await handlers.load_segment(deps.store, scope.environment_id, key)
    if state is None or state.deleted:
        raise NotFound(f"segment {key!r} not found")
    await deps.settle(written.position)
    row = await rm.segment_by_key(deps.db, environment_id=scope.environment_id, key=key)
    return with_stamps(state_view(state, written.position), row, written.position)


async def _live_segment(deps: GatewayDeps, scope: Scope, key: str, version: int | None) -> seg.Segment:
    """The segment's state before a write: 404 when missing or deleted, 409 when not at `version`."""
    current = await handlers.load_segment(deps.store, scope.environment_id, key)
    if current is None or current.deleted:
        raise SegmentNotFound(f"segment {key!r} not found")
    check_version(current.version, version)
    return current


async def _segment_row(deps: GatewayDeps, env: EnvironmentScope, key: str) -> rm.SegmentRow:
    """The segment as the read model has it, or 404."""
    row = await rm.segment_by_key(deps.db, environment_id=env.environment_id, key=key)
    if row is None:
        raise NotFound(f"segment {key!r} not found")
    return row


PutCommand = UpdateSegment | ReplaceSegmentCondition | ReplaceSegmentMembers


def _update_commands(data: UpdateSegmentBody, current: seg.Segment) -> list[PutCommand]:
    """The commands a PUT amounts to, in order; only the first carries the caller's version."""
    env, key = current.environment_id, current.key
    cmds: list[PutCommand] = []
    if data.name is not None or data.description is not None or data.context_type is not None:
        cmds.append(
            UpdateSegment(
                command_id=uuid4(), environment_id=env, key=key,
                name=current.name if data.name is None else data.name,
                description=current.description if data.description is None else data.description,
                context_type=data.context_type or current.context_type,
            )
        )  # fmt: skip
    if data.condition is not None:
        cmds.append(
            ReplaceSegmentCondition(command_id=uuid4(), environment_id=env, key=key, condition=data.condition)
        )
    if data.included_keys is not None or data.excluded_keys is not None:
        cmds.append(
            ReplaceSegmentMembers(
                command_id=uuid4(), environment_id=env, key=key,
                included=tuple(data.included_keys or ()), excluded=tuple(data.excluded_keys or ()),
            )
        )  # fmt: skip
    if cmds:
        cmds[0] = msgspec.structs.replace(cmds[0], expected_version=data.version)
    return cmds


class SegmentController(Controller):
    path = "/v1/environments/{env_id:uuid}/segments"
    tags = ["segments"]
    security = BEARER

    @get("/", guards=[tenant_reader])
    async def list_segments(
        self, env_scope: NamedDependency[EnvironmentScope], deps: NamedDependency[GatewayDeps]
    ) -> SegmentList:
        """Every segment of the environment, by key."""
        rows = await rm.segments_in_environment(deps.db, environment_id=env_scope.environment_id)
        return SegmentList(segments=[row_view(r) for r in rows])

    @post("/", guards=[tenant_writer])
    async def create_segment(
        self,
        data: JSONBody[CreateSegmentBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> SegmentView:
        """A rule segment (condition) or a list segment (optional initial members)."""
        scope = write_scope(env_scope)
        cmd = CreateSegment(
            command_id=await command_id(env_scope, "segment.create", idempotency_key, body=data, db=deps.db),
            environment_id=scope.environment_id,
            key=data.key,
            kind=SegmentKind(data.kind),
            context_type=data.context_type,
            name=data.name,
            description=data.description,
            condition=data.condition,
            included=tuple(data.included_keys),
            excluded=tuple(data.excluded_keys),
        )
        written = await handlers.create_segment(cmd, scope, segment_deps(deps))
        return await answer(deps, scope, data.key, written)

    @get("/{key:str}", guards=[tenant_reader])
    async def get_segment(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> SegmentView:
        """One segment; list segments carry their list sizes."""
        row = await _segment_row(deps, env_scope, key)
        counts = await rm.member_counts(deps.db, environment_id=row.environment_id, key=key)
        return row_view(row, counts if row.kind == "list" else None)

    @put("/{key:str}", guards=[tenant_writer])
    async def update_segment(
        self,
        key: FromPath[str],
        data: JSONBody[UpdateSegmentBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> SegmentView:
        """Change details, a rule segment's condition or a list segment's lists, at `version`."""
        scope, sdeps = write_scope(env_scope), segment_deps(deps)
        current = await _live_segment(deps, scope, key, data.version)
        position, cmds = 0, _update_commands(data, current)
        for cmd in cmds:  # a refused quota appends nothing at all
            await handlers.check_member_quota(cmd, sdeps)
        for cmd in cmds:
            position = max(position, (await handlers.change_segment(cmd, scope, sdeps)).position)
        written = Written(stream_id=current.id, position=position, version=0)
        return await answer(deps, scope, key, written)

    @delete("/{key:str}", guards=[tenant_writer], status_code=200)
    async def delete_segment(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        version: VersionQuery,
    ) -> DeletedSegment:
        """Delete; 409 FAILED_PRECONDITION while referenced by a flag rule or another segment."""
        scope = write_scope(env_scope)
        cmd = DeleteSegment(
            command_id=uuid4(), environment_id=scope.environment_id, key=key, expected_version=version
        )
        try:
            written = await handlers.delete_segment(cmd, scope, segment_deps(deps))
        except SegmentInUse as e:
            raise SegmentStillUsedError(e.message) from None
        return DeletedSegment(key=key, deleted=True, position=await deps.settle(written.position))

    @get("/{key:str}/members", guards=[tenant_reader])
    async def get_members(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> MembersView:
        """A list segment's included and excluded context keys."""
        row = await _segment_row(deps, env_scope, key)
        members = await rm.segment_members(deps.db, environment_id=row.environment_id, key=key)
        return MembersView(
            key=key, included_keys=members.included, excluded_keys=members.excluded,
            version=row.version, position=row.position,
        )  # fmt: skip

    @post("/{key:str}/members", guards=[tenant_writer], status_code=200)
    async def change_members(
        self,
        key: FromPath[str],
        data: JSONBody[MembersBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> MembersView:
        """Add and remove context keys on the included and excluded lists, in one batch."""
        scope, sdeps = write_scope(env_scope), segment_deps(deps)
        await _live_segment(deps, scope, key, data.version)
        position = 0
        if data.add or data.add_excluded:
            add = AddSegmentMembers(
                command_id=uuid4(), environment_id=scope.environment_id, key=key,
                included=tuple(data.add), excluded=tuple(data.add_excluded),
            )  # fmt: skip
            position = (await handlers.change_segment(add, scope, sdeps)).position
        if data.remove or data.remove_excluded:
            remove = RemoveSegmentMembers(
                command_id=uuid4(), environment_id=scope.environment_id, key=key,
                included=tuple(data.remove), excluded=tuple(data.remove_excluded),
            )  # fmt: skip
            position = max(position, (await handlers.change_segment(remove, scope, sdeps)).position)
        await deps.settle(position)
        members = await rm.segment_members(deps.db, environment_id=scope.environment_id, key=key)
        after = await handlers.load_segment(deps.store, scope.environment_id, key)
        return MembersView(
            key=key, included_keys=members.included, excluded_keys=members.excluded,
            version=after.version if after else 0, position=position,
        )  # fmt: skip
