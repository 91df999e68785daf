"""/v1/management projects, environments and SDK keys, always inside the caller's organisation."""

from __future__ import annotations

from typing import Literal
from uuid import UUID, uuid4, uuid5

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.streams import OrgScope
from commands.tenancy import create_environment, create_project, new_sdk_key
from domain.tenancy.commands import CreateEnvironment, CreateProject, RevokeSdkKey
from gateway.auth.guards import BEARER, org_admin, tenant_reader
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument, NotFound
from gateway.idempotency import bind_key
from gateway.writes import IdempotencyKey, checked_key
from readmodels import directory, identity
from readmodels.db import ReadDb
from schemas.http_identity import (
    CreatedSdkKeyReply,
    CreateEnvironmentBody,
    CreateProjectBody,
    CreateSdkKeyBody,
    EnvironmentReply,
    EnvironmentsReply,
    ProjectReply,
    ProjectsReply,
    SdkKeyReply,
    SdkKeysReply,
)


async def project_of(deps: GatewayDeps, caller: Caller, project_id: UUID) -> directory.ProjectRow:
    """The project if it is the caller's organisation's, else 404."""
    project = await directory.get_project(deps.db, project_id)
    if project is None or project.org_id != caller.org_id:
        raise NotFound(f"project {project_id} not found")
    return project


async def environment_of(deps: GatewayDeps, caller: Caller, environment_id: UUID) -> directory.EnvironmentRow:
    """The environment if it is the caller's organisation's, else 404."""
    env = await directory.get_environment(deps.db, environment_id)
    if env is None or env.org_id != caller.org_id:
        raise NotFound(f"environment {environment_id} not found")
    return env


def own_org(caller: Caller, org_id: UUID | None) -> None:
    """A body naming an organisation must name the caller's: any other is 404 (never a hint it exists)."""
    if org_id is not None and org_id != caller.org_id:
        raise NotFound(f"organisation {org_id} not found")


def matches_path(field: str, body_id: UUID | None, path_id: UUID) -> None:
    """A body may repeat the path's id (the seed's request messages carry it) but not contradict it."""
    if body_id is not None and body_id != path_id:
        raise InvalidArgument(f"body field `{field}` ({body_id}) contradicts the path ({path_id})")


async def command_ids(
    scope: UUID, kind: str, idempotency_key: str | None, *, body: object, db: ReadDb
) -> tuple[UUID, UUID]:
    """(command id, new object id): derived from the client's Idempotency-Key so a retry repeats the first
    result (scoped by organisation and kind) and bound to `body` (another body answers 422), else fresh."""
    if idempotency_key is None:
        return uuid4(), uuid4()
    command_id = uuid5(scope, f"{kind}:{checked_key(idempotency_key)}")
    await bind_key(db, command_id, body)
    return command_id, uuid5(command_id, kind)


def _key_reply(row: identity.SdkKeyRow) -> SdkKeyReply:
    status: Literal["active", "revoked"] = "active" if row.status == "active" else "revoked"
    return SdkKeyReply(
        sdk_key_id=row.key_id,
        environment_id=row.environment_id,
        name=row.name,
        prefix=row.prefix,
        status=status,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class ProjectController(Controller):
    path = "/v1/management/projects"
    tags = ["management"]
    security = BEARER

    @post("/", guards=[org_admin])
    async def create(
        self,
        data: JSONBody[CreateProjectBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> ProjectReply:
        """A project in the caller's organisation (names unique per organisation, case-insensitive)."""
        own_org(caller, data.org_id)
        taken = frozenset(p.name for p in await directory.list_projects(deps.db, caller.org_id))
        command_id, project_id = await command_ids(
            caller.org_id, "project", idempotency_key, body=data, db=deps.db
        )
        cmd = CreateProject(
            command_id=command_id, project_id=project_id, org_id=caller.org_id, name=data.name
        )
        written = await create_project(
            cmd, store=deps.store, clock=deps.clock, actor=caller.actor, taken_names=taken, quotas=deps.quotas
        )
        position = await deps.settle(written.position)
        row = await directory.get_project(deps.db, cmd.project_id)
        return ProjectReply(
            project_id=cmd.project_id,
            project_name=data.name.strip(),
            org_id=caller.org_id,
            created_at=row.created_at if row is not None else None,
            position=position,
        )

    @get("/", guards=[tenant_reader])
    async def list_projects(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> ProjectsReply:
        """The caller's organisation's projects, oldest first."""
        rows = await directory.list_projects(deps.db, caller.org_id)
        return ProjectsReply(
            projects=[
                ProjectReply(project_id=p.id, project_name=p.name, org_id=p.org_id, created_at=p.created_at)
                for p in rows
            ]
        )

    @post("/{project_id:uuid}/environments", guards=[org_admin])
    async def create_environment(
        self,
        project_id: FromPath[UUID],
        data: JSONBody[CreateEnvironmentBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> EnvironmentReply:
        """An environment in one of the caller's projects (another organisation's project is 404)."""
        await project_of(deps, caller, project_id)
        matches_path("project_id", data.project_id, project_id)
        command_id, environment_id = await command_ids(
            project_id, "environment", idempotency_key, body=data, db=deps.db
        )
        taken = frozenset(e.name for e in await directory.list_environments(deps.db, project_id))
        cmd = CreateEnvironment(
            command_id=command_id, environment_id=environment_id, org_id=caller.org_id,
            project_id=project_id, name=data.name,
        )  # fmt: skip
        written = await create_environment(
            cmd, store=deps.store, clock=deps.clock, actor=caller.actor, taken_names=taken, quotas=deps.quotas
        )
        position = await deps.settle(written.position)
        row = await directory.get_environment(deps.db, environment_id)
        return EnvironmentReply(
            environment_id=environment_id,
            environment_name=data.name.strip(),
            project_id=project_id,
            created_at=row.created_at if row is not None else None,
            position=position,
        )

    @get("/{project_id:uuid}/environments", guards=[tenant_reader])
    async def list_environments(
        self, project_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> EnvironmentsReply:
        """A project's environments, oldest first."""
        await project_of(deps, caller, project_id)
        rows = await directory.list_environments(deps.db, project_id)
        return EnvironmentsReply(
            environments=[
                EnvironmentReply(
                    environment_id=e.id,
                    environment_name=e.name,
                    project_id=e.project_id,
                    created_at=e.created_at,
                )
                for e in rows
            ]
        )


class SdkKeyController(Controller):
    path = "/v1/management/environments/{environment_id:uuid}/sdk-keys"
    tags = ["management"]
    security = BEARER

    @post("/", guards=[org_admin])
    async def create(
        self,
        environment_id: FromPath[UUID],
        data: JSONBody[CreateSdkKeyBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> CreatedSdkKeyReply:
        """Issue a key; the answer is the only time the raw key is shown."""
        env = await environment_of(deps, caller, environment_id)
        matches_path("environment_id", data.environment_id, environment_id)
        name = (data.name or "").strip() or "default"
        cmd, raw = new_sdk_key(command_id=uuid4(), environment_id=env.id, key_id=uuid4(), name=name)
        outcome = await deps.bus.handle(cmd, OrgScope(actor=caller.actor, org_id=caller.org_id))
        return CreatedSdkKeyReply(
            sdk_key_id=cmd.key_id,
            environment_id=env.id,
            name=name,
            prefix=cmd.prefix,
            status="active",
            created_at=outcome.replies[0],
            raw_key=raw,
            position=await deps.settle(outcome.position),
        )

    @get("/", guards=[tenant_reader])
    async def list_keys(
        self,
        environment_id: FromPath[UUID],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> SdkKeysReply:
        """The environment's keys by prefix, name, creation time and status (never the raw key)."""
        env = await environment_of(deps, caller, environment_id)
        return SdkKeysReply(sdk_keys=[_key_reply(r) for r in await identity.sdk_keys(deps.db, env.id)])

    @delete("/{key_id:uuid}", guards=[org_admin], status_code=200)
    async def revoke(
        self,
        environment_id: FromPath[UUID],
        key_id: FromPath[UUID],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> SdkKeyReply:
        """Revoke a key; the environment's last active key cannot be revoked."""
        env = await environment_of(deps, caller, environment_id)
        cmd = RevokeSdkKey(command_id=uuid4(), environment_id=env.id, key_id=key_id)
        outcome = await deps.bus.handle(cmd, OrgScope(actor=caller.actor, org_id=caller.org_id))
        await deps.settle(outcome.position)
        row = next((r for r in await identity.sdk_keys(deps.db, env.id) if r.key_id == key_id), None)
        if row is None:
            raise NotFound(f"SDK key {key_id} not found")
        return _key_reply(row)
