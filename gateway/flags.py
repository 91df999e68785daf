"""/v1/environments/{env_id}/flags: the seed's flag routes plus toggle (kill switch) and archive.

`version` in bodies is the environment's config stream version (0 while the flag has no config there:
a project flag is implicitly present, disabled, serving its first variant). Mutations answer the state
after the command, with the store position, once the read models have applied it (bounded wait).
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from commands import flags as handlers
from commands.streams import Scope, Written
from domain.flags import flag as dfn
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    CreateFlag,
    DeleteFlag,
    RestoreFlag,
    UpdateFlagDetails,
)
from domain.flags.model import FlagConfig, Variant
from gateway import flag_views as views
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.flag_answers import answer, flag_deps, row_view
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

replace = msgspec.structs.replace


async def _details_command(
    deps: GatewayDeps, scope: Scope, key: str, data: UpdateFlagBody
) -> UpdateFlagDetails:
    """Project-level name / description change; omitted ones keep the current value."""
    flag = dfn.live_flag(await handlers.load_flag(deps.store, scope.project_id, key), key)
    return UpdateFlagDetails(
        command_id=uuid4(),
        project_id=scope.project_id,
        key=key,
        name=flag.name if data.name is None else data.name,
        description=flag.description if data.description is None else data.description,
    )


async def _patched(
    deps: GatewayDeps, env: EnvironmentScope, key: str, patch: handlers.ConfigPatch, version: int | None
) -> FlagView:
    """Patch this environment's config (at `version` when given); the answer is the flag after it."""
    scope = write_scope(env)
    written = await handlers.patch_config(
        scope, key, patch, expected_version=version, command_id=uuid4(), deps=flag_deps(deps)
    )
    return await answer(deps, scope, key, written)


async def _defined(
    deps: GatewayDeps, env: EnvironmentScope, cmd: handlers.FlagDefinitionCommand, version: int | None
) -> FlagView:
    """A project-level change (this config at `version` when given); the answer is the flag after it."""
    scope = write_scope(env)
    written = await handlers.change_definition(cmd, scope, flag_deps(deps), config_version=version)
    return await answer(deps, scope, cmd.key, written)


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
        written = await handlers.create_flag(cmd, views.initial_config(data), scope, flag_deps(deps))
        return await answer(deps, scope, data.key, written)

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
        """Change enabled, off_variant, fallthrough (this environment) and name/description (project)."""
        scope, fdeps = write_scope(env_scope), flag_deps(deps)
        touches_config = (
            data.enabled is not None or data.off_variant is not None or data.fallthrough is not None
        )
        positions: list[int] = []
        if touches_config:
            patch = views.update_patch(data)
            written = await handlers.patch_config(
                scope, key, patch, expected_version=data.version, command_id=uuid4(), deps=fdeps
            )
            positions.append(written.position)
        if data.name is not None or data.description is not None:
            details = await _details_command(deps, scope, key, data)
            version = None if touches_config else data.version
            positions.append(
                (await handlers.change_definition(details, scope, fdeps, config_version=version)).position
            )
        if not positions:  # nothing to change: still answer ABORTED for a stale version
            await handlers.check_config_version(deps.store, scope, key, data.version)
        flag = await answer(
            deps,
            scope,
            key,
            Written(stream_id=scope.environment_id, position=max(positions, default=0), version=0),
        )
        return flag

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
        written = await handlers.delete_flag(cmd, scope, flag_deps(deps), config_version=version)
        return DeletedView(key=key, deleted=True, position=await deps.settle(written.position))

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
        return await _defined(deps, env_scope, cmd, data.version)

    @put("/{key:str}/rules", guards=[tenant_writer])
    async def replace_rules(
        self,
        key: FromPath[str],
        data: JSONBody[ReplaceRulesBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> FlagView:
        """Replace this environment's ordered targeting rules."""
        new_rules = views.rules(data.rules)
        return await _patched(deps, env_scope, key, lambda c: replace(c, rules=new_rules), data.version)

    @put("/{key:str}/hashing", guards=[tenant_writer])
    async def update_hashing(
        self,
        key: FromPath[str],
        data: JSONBody[UpdateHashingBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> HashingView:
        """Replace which context parameters drive this environment's percentage rollouts."""
        spec = views.hash_spec(data.configs)
        flag = await _patched(deps, env_scope, key, lambda c: replace(c, hashing=spec), data.version)
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

        def patch(c: FlagConfig) -> FlagConfig:
            return replace(c, enabled=(not c.enabled) if data.enabled is None else data.enabled)

        return await _patched(deps, env_scope, key, patch, data.version)

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
        return await _defined(deps, env_scope, cmd, data.version)

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
        return await _defined(deps, env_scope, cmd, data.version)
