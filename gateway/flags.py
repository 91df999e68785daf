"""/v1/environments/{env_id}/flags: the seed's flag routes plus toggle (kill switch) and archive.

`version` in bodies is the environment's config stream version (0 while the flag has no config there:
a project flag is implicitly present, disabled, serving its first variant). Mutations answer the state
after the command, with the store position, once the read models have applied it (bounded wait).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import uuid4

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from commands.flags import ToggleFlag
from domain.events import Command
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    ConfigureFlag,
    CreateFlag,
    DeleteFlag,
    ReplaceFlagRules,
    RestoreFlag,
    SetFlagEnabled,
    SetFlagHashing,
)
from domain.flags.model import Variant
from gateway import flag_answers
from gateway import flag_views as views
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.flag_answers import row_view
from gateway.flag_usage import MAX_STALE_DAYS, stale_keys
from gateway.query import VersionQuery
from gateway.writes import IdempotencyKey, command_id, write_scope
from readmodels import flags as rm
from schemas.http_flags import (
    AddVariantBody,
    ArchiveBody,
    CreateFlagBody,
    DeletedView,
    FlagList,
    FlagView,
    HashingView,
    ReplaceRulesBody,
    ToggleBody,
    UpdateFlagBody,
    UpdateHashingBody,
)


def _ids(env: EnvironmentScope, key: str) -> dict[str, Any]:
    """The fields every config command of this route names."""
    return {"project_id": env.project_id, "environment_id": env.environment_id, "key": key}


async def _send(
    deps: GatewayDeps, env: EnvironmentScope, key: str, version: int | None, *commands: Command
) -> FlagView:
    """One changeset behind the config-version check; the answer is the flag after it."""
    return await flag_answers.change(
        deps, write_scope(env), key, version, commands, command_id=commands[0].command_id
    )


STALE_DAYS = 30


class FlagController(Controller):
    path = "/v1/environments/{env_id:uuid}/flags"
    tags = ["flags"]
    security = BEARER

    @get("/", guards=[tenant_reader])
    async def list_flags(
        self,
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        stale: FromQuery[bool] = False,
        days: Annotated[
            int, QueryParameter(ge=1, le=MAX_STALE_DAYS, description="Stale after this many days.")
        ] = STALE_DAYS,
    ) -> FlagList:
        """Every flag of the environment's project as this environment configures it, by key;
        `stale=true`: only those older than `days` days and not evaluated in them."""
        rows = await rm.flags_in_environment(
            deps.db, project_id=env_scope.project_id, environment_id=env_scope.environment_id
        )
        if stale:  # helper-ops: evaluation analytics
            keep = await stale_keys(deps, env_scope, days, rows)
            rows = [r for r in rows if r.definition.key in keep]
        return FlagList(flags=[row_view(r) for r in rows])

    @post("/", guards=[tenant_writer])
    async def create_flag(
        self,
        data: JSONBody[CreateFlagBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> FlagView:
        """Create the project flag and its config here (Idempotency-Key makes a repeat return the first)."""
        scope = write_scope(env_scope)
        cmd = CreateFlag(
            command_id=await command_id(env_scope, "flag.create", idempotency_key, body=data, db=deps.db),
            project_id=scope.project_id,
            key=data.key,
            value_type=views.value_type(data.value_type),
            variants=tuple(views.variant(v) for v in data.variants),
            name=data.name,
            description=data.description,
        )
        configure = ConfigureFlag(command_id=cmd.command_id, project_id=scope.project_id,
                                  environment_id=scope.environment_id, key=data.key,
                                  config=views.initial_config(data))  # fmt: skip
        outcome = await deps.bus.handle_changeset([cmd, configure], scope, command_id=cmd.command_id)
        return await flag_answers.answer(deps, scope, data.key, outcome)

    @get("/{key:str}", guards=[tenant_reader])
    async def get_flag(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """One flag as this environment configures it."""
        row = await rm.flag_in_environment(
            deps.db, project_id=env_scope.project_id, environment_id=env_scope.environment_id, key=key
        )
        if row is None:
            raise NotFound(f"flag {key!r} not found")
        return row_view(row)

    @put("/{key:str}", guards=[tenant_writer])
    async def update_flag(
        self,
        key: FromPath[str],
        data: JSONBody[UpdateFlagBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Change enabled, off_variant, fallthrough (this environment) and name/description (project),
        in one changeset: all of it or none of it."""
        scope = write_scope(env_scope)
        changeset = uuid4()  # nothing to change: still NOT_FOUND / ABORTED for a stale version
        cmds = views.update_commands(data, scope, key, changeset)
        return await flag_answers.change(deps, scope, key, data.version, cmds, command_id=changeset)

    @delete("/{key:str}", guards=[tenant_writer], status_code=200)
    async def delete_flag(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        version: VersionQuery,
    ) -> DeletedView:
        """Delete the flag from the project, with every environment's config (`version`: this config's)."""
        scope = write_scope(env_scope)
        cmd = DeleteFlag(command_id=uuid4(), project_id=scope.project_id, key=key)
        steps = [flag_answers.expect(scope, key, version, cmd.command_id), cmd]
        outcome = await deps.bus.handle_changeset(steps, scope, command_id=cmd.command_id)
        return DeletedView(key=key, deleted=True, position=await deps.settle(outcome.position))

    @post("/{key:str}/variants", guards=[tenant_writer])
    async def add_variant(
        self,
        key: FromPath[str],
        data: JSONBody[AddVariantBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Add a variant to the project flag (every environment sees it)."""
        variant = Variant(key=data.key, value=data.value, name=data.name, description=data.description)
        cmd = AddVariant(command_id=uuid4(), project_id=env_scope.project_id, key=key, variant=variant)
        return await _send(deps, env_scope, key, data.version, cmd)

    @put("/{key:str}/rules", guards=[tenant_writer])
    async def replace_rules(
        self,
        key: FromPath[str],
        data: JSONBody[ReplaceRulesBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Replace this environment's ordered targeting rules."""
        cmd = ReplaceFlagRules(command_id=uuid4(), **_ids(env_scope, key), rules=views.rules(data.rules))
        return await _send(deps, env_scope, key, data.version, cmd)

    @put("/{key:str}/hashing", guards=[tenant_writer])
    async def update_hashing(
        self,
        key: FromPath[str],
        data: JSONBody[UpdateHashingBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> HashingView:
        """Replace which context parameters drive this environment's percentage rollouts."""
        cmd = SetFlagHashing(
            command_id=uuid4(), **_ids(env_scope, key), hashing=views.hash_spec(data.configs)
        )
        flag = await _send(deps, env_scope, key, data.version, cmd)
        return HashingView(flag=flag, configs=flag.hashing, version=flag.version, position=flag.position)

    @post("/{key:str}/toggle", guards=[tenant_writer], status_code=200)
    async def toggle(
        self,
        key: FromPath[str],
        data: JSONBody[ToggleBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Kill switch: set `enabled` (or flip it when absent) in this environment."""
        ids = _ids(env_scope, key)
        cmd: Command = (
            ToggleFlag(command_id=uuid4(), **ids)
            if data.enabled is None
            else SetFlagEnabled(command_id=uuid4(), **ids, enabled=data.enabled)
        )
        return await _send(deps, env_scope, key, data.version, cmd)

    @post("/{key:str}/archive", guards=[tenant_writer], status_code=200)
    async def archive(
        self,
        key: FromPath[str],
        data: JSONBody[ArchiveBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Archive the project flag: it keeps serving but its definition is frozen until unarchived."""
        cmd = ArchiveFlag(command_id=uuid4(), project_id=env_scope.project_id, key=key)
        return await _send(deps, env_scope, key, data.version, cmd)

    @post("/{key:str}/unarchive", guards=[tenant_writer], status_code=200)
    async def unarchive(
        self,
        key: FromPath[str],
        data: JSONBody[ArchiveBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Restore an archived flag."""
        cmd = RestoreFlag(command_id=uuid4(), project_id=env_scope.project_id, key=key)
        return await _send(deps, env_scope, key, data.version, cmd)
