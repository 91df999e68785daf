"""POST /v1/environments/{env_id}/changesets: several changes over several objects, one transaction.

The operations become commands (one command id, the changeset id), decided in order by the bus against
the states the earlier ones leave, and appended all at once or not at all (DESIGN section 12).
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID, uuid5

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.bus import Bus, Outcome
from commands.flags import AddFlagRule, ExpectFlagConfig
from commands.revert import RevertChangeset
from commands.streams import Scope
from domain.events import Command
from domain.flags.commands import ReplaceFlagRules, SetFallthrough, SetFlagEnabled
from domain.flags.model import Rule
from domain.segments.commands import CreateSegment, ReplaceSegmentCondition
from domain.segments.events import SegmentKind
from gateway import flag_views as views
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_writer
from gateway.deps import GatewayDeps
from gateway.writes import IdempotencyKey, command_id, write_scope
from schemas.http_changesets import (
    AddRuleOp,
    ChangesetBody,
    ChangesetOperation,
    ChangesetView,
    CreateSegmentOp,
    ReplaceConditionOp,
    ReplaceRulesOp,
    SetEnabledOp,
    SetFallthroughOp,
    StreamWritten,
)


def _flag(scope: Scope, key: str) -> dict[str, Any]:
    return {"project_id": scope.project_id, "environment_id": scope.environment_id, "key": key}


def _segment(op: CreateSegmentOp, scope: Scope, cid: Any) -> CreateSegment:
    return CreateSegment(
        command_id=cid, environment_id=scope.environment_id, key=op.key, kind=SegmentKind(op.kind),
        context_type=op.context_type, name=op.name, description=op.description, condition=op.condition,
        included=tuple(op.included_keys), excluded=tuple(op.excluded_keys),
    )  # fmt: skip


def to_commands(op: ChangesetOperation, scope: Scope, cid: Any) -> list[Command]:
    """The commands one operation amounts to (a flag operation first checks that the flag exists)."""
    match op:
        case CreateSegmentOp():
            return [_segment(op, scope, cid)]
        case ReplaceConditionOp():
            env = scope.environment_id
            return [
                ReplaceSegmentCondition(
                    command_id=cid, environment_id=env, key=op.key, condition=op.condition
                )
            ]
        case AddRuleOp(flag=key, rule=body):
            rule = Rule(
                id=body.id,
                condition=body.condition,
                serve=views.serve(body.serve),
                description=body.description,
            )
            cmd: Command = AddFlagRule(command_id=cid, **_flag(scope, key), rule=rule)
        case ReplaceRulesOp(flag=key):
            cmd = ReplaceFlagRules(command_id=cid, **_flag(scope, key), rules=views.rules(op.rules))
        case SetFallthroughOp(flag=key):
            cmd = SetFallthrough(command_id=cid, **_flag(scope, key), fallthrough=views.serve(op.fallthrough))
        case SetEnabledOp(flag=key):
            cmd = SetFlagEnabled(command_id=cid, **_flag(scope, key), enabled=op.enabled)
    return [ExpectFlagConfig(command_id=cid, **_flag(scope, key)), cmd]


def changeset_view(outcome: Outcome, position: int) -> ChangesetView:
    streams = [
        StreamWritten(
            stream_id=str(w.stream_id),
            first_position=w.first_position,
            last_position=w.last_position,
            version=w.version,
        )
        for w in outcome.written
    ]
    return ChangesetView(changeset_id=str(outcome.command_id), position=position, streams=streams,
                         repeated=outcome.repeated)  # fmt: skip


class Settles(Protocol):
    """The part of GatewayDeps the changeset routes use (a FakeBus stands in for the bus in unit tests)."""

    @property
    def bus(self) -> Bus: ...

    async def settle(self, position: int) -> int: ...


async def apply_changeset(
    deps: Settles, env: EnvironmentScope, data: ChangesetBody, cid: UUID
) -> ChangesetView:
    """The operations as one changeset under `cid`; the answer once the read models caught up."""
    scope = write_scope(env)
    commands = [c for op in data.operations for c in to_commands(op, scope, cid)]
    outcome = await deps.bus.handle_changeset(commands, scope, command_id=cid)
    return changeset_view(outcome, await deps.settle(outcome.position))


async def revert_changeset(deps: Settles, env: EnvironmentScope, changeset_id: UUID) -> ChangesetView:
    """Compensate the changeset; its revert's command id is derived (per environment), so a repeat
    answers the first revert and another environment's request never matches it."""
    scope = write_scope(env)
    cmd = RevertChangeset(
        command_id=uuid5(env.environment_id, f"revert:{changeset_id}"),
        changeset_id=changeset_id,
        project_id=scope.project_id,
        environment_id=scope.environment_id,
    )
    outcome = await deps.bus.handle(cmd, scope)
    return changeset_view(outcome, await deps.settle(outcome.position))


class ChangesetController(Controller):
    path = "/v1/environments/{env_id:uuid}/changesets"
    tags = ["changesets"]
    security = BEARER

    @post("/", guards=[tenant_writer])
    async def apply(
        self,
        data: JSONBody[ChangesetBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> ChangesetView:
        """Apply the operations in order as one transaction; the answer names where each stream landed."""
        cid = await command_id(env_scope, "changeset", idempotency_key, body=data, db=deps.db)
        return await apply_changeset(deps, env_scope, data, cid)

    @post("/{changeset_id:uuid}/revert", guards=[tenant_writer], status_code=200)
    async def revert(
        self,
        changeset_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> ChangesetView:
        """Append compensating changes for every stream the changeset touched (a new changeset); 409
        naming the later changes that conflict. Repeating a revert answers the first one."""
        return await revert_changeset(deps, env_scope, changeset_id)
