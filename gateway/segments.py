"""/v1/environments/{env_id}/segments: rule and list segments, list membership in batches.

`version` is the segment stream's version. Deleting a segment a flag rule or another segment still
references answers 409 FAILED_PRECONDITION.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.bus import Outcome
from commands.segments import ExpectSegment, PatchSegmentDetails
from commands.streams import Scope
from domain.errors import SegmentInUse
from domain.events import Command
from domain.segments import segment as seg
from domain.segments.events import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    ReplaceSegmentMembers,
    SegmentKind,
)
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import ApiError, NotFound
from gateway.query import VersionQuery
from gateway.writes import IdempotencyKey, command_id, with_stamps, write_scope
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


async def answer(deps: GatewayDeps, scope: Scope, key: str, outcome: Outcome) -> SegmentView:
    """The segment as the changeset left it, once the read models caught up."""
    state = outcome.state(seg.segment_stream(scope.environment_id, key))
    if not isinstance(state, seg.Segment) or state.deleted:
        raise NotFound(f"segment {key!r} not found")
    position = await deps.settle(outcome.position)
    row = await rm.segment_by_key(deps.db, environment_id=scope.environment_id, key=key)
    return with_stamps(state_view(state, position), row, position)


def _expect(scope: Scope, key: str, version: int | None, command_id: UUID) -> ExpectSegment:
    """The first step of a segment route's changeset: the segment is live, at `version`."""
    return ExpectSegment(
        command_id=command_id, environment_id=scope.environment_id, key=key, expected_version=version
    )


async def _segment_row(deps: GatewayDeps, env: EnvironmentScope, key: str) -> rm.SegmentRow:
    """The segment as the read model has it, or 404."""
    row = await rm.segment_by_key(deps.db, environment_id=env.environment_id, key=key)
    if row is None:
        raise NotFound(f"segment {key!r} not found")
    return row


def _update_commands(data: UpdateSegmentBody, scope: Scope, key: str, cid: UUID) -> list[Command]:
    """The commands a PUT amounts to, in order (one changeset: all of it or none of it)."""
    env = scope.environment_id
    cmds: list[Command] = []
    if data.name is not None or data.description is not None or data.context_type is not None:
        cmds.append(PatchSegmentDetails(
            command_id=cid, environment_id=env, key=key, name=data.name,
            description=data.description, context_type=data.context_type,
        ))  # fmt: skip
    if data.condition is not None:
        cmds.append(
            ReplaceSegmentCondition(command_id=cid, environment_id=env, key=key, condition=data.condition)
        )
    if data.included_keys is not None or data.excluded_keys is not None:
        cmds.append(
            ReplaceSegmentMembers(
                command_id=cid, environment_id=env, key=key,
                included=tuple(data.included_keys or ()), excluded=tuple(data.excluded_keys or ()),
            )
        )  # fmt: skip
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
        return await answer(deps, scope, data.key, await deps.bus.handle(cmd, scope))

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
        scope, changeset = write_scope(env_scope), uuid4()
        steps = [_expect(scope, key, data.version, changeset), *_update_commands(data, scope, key, changeset)]
        return await answer(
            deps, scope, key, await deps.bus.handle_changeset(steps, scope, command_id=changeset)
        )

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
            outcome = await deps.bus.handle(cmd, scope)
        except SegmentInUse as e:
            raise SegmentStillUsedError(e.message) from None
        return DeletedSegment(key=key, deleted=True, position=await deps.settle(outcome.position))

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
        scope, changeset = write_scope(env_scope), uuid4()
        steps: list[Command] = [_expect(scope, key, data.version, changeset)]
        if data.add or data.add_excluded:
            steps.append(AddSegmentMembers(
                command_id=changeset, environment_id=scope.environment_id, key=key,
                included=tuple(data.add), excluded=tuple(data.add_excluded),
            ))  # fmt: skip
        if data.remove or data.remove_excluded:
            steps.append(RemoveSegmentMembers(
                command_id=changeset, environment_id=scope.environment_id, key=key,
                included=tuple(data.remove), excluded=tuple(data.remove_excluded),
            ))  # fmt: skip
        outcome = await deps.bus.handle_changeset(steps, scope, command_id=changeset)
        position = await deps.settle(outcome.position)
        members = await rm.segment_members(deps.db, environment_id=scope.environment_id, key=key)
        return MembersView(
            key=key, included_keys=members.included, excluded_keys=members.excluded,
            version=outcome.version(seg.segment_stream(scope.environment_id, key)), position=position,
        )  # fmt: skip
