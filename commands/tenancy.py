"""Tenancy handlers: organisations, projects, environments and SDK keys (load -> decide -> append)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from commands.bus import Context, Handler
from commands.encoding import load_stream
from commands.eventstore import EventStore, Metadata, Usage
from commands.kinds import ENVIRONMENT
from commands.streams import Written, decide_and_append
from domain.errors import EnvironmentNotFound, OrgAlreadyExists, OrgNotFound, ProjectNotFound
from domain.events import Command
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas, exceeded
from domain.tenancy import environments, orgs, projects
from domain.tenancy.commands import CreateEnvironment, CreateOrg, CreateProject, IssueSdkKey, RevokeSdkKey
from domain.tenancy.sdk_keys import display_prefix, hash_sdk_key, raw_sdk_key

Clock = Callable[[], datetime]
S = TypeVar("S")
C = TypeVar("C", bound=Command)

# Fixed so a repeated first start is recognised as the same command (idempotent).
SYSTEM_ORG_NAME = "System"


async def create_org(cmd: CreateOrg, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """A new organisation."""
    meta = Metadata(actor=actor, org_id=cmd.org_id, command_id=cmd.command_id)
    _, written = await decide_and_append(
        store,
        cmd.org_id,
        "org",
        orgs.replay,
        lambda s: orgs.create_org(s, cmd, clock()),
        command_id=cmd.command_id,
        metadata=meta,
    )
    return written


async def ensure_system_org(*, store: EventStore, clock: Clock, command_id: UUID) -> Written | None:
    """Create the system organisation unless it exists (first start); None when it already did."""
    cmd = CreateOrg(command_id=command_id, org_id=orgs.SYSTEM_ORG_ID, name=SYSTEM_ORG_NAME, is_system=True)
    try:
        written = await create_org(cmd, store=store, clock=clock, actor="system")
    except OrgAlreadyExists:
        return None
    return None if written.repeated else written


async def load_org(store: EventStore, org_id: UUID) -> orgs.Org:
    """The organisation's state, or OrgNotFound."""
    org = orgs.replay(await load_stream(store, org_id))  # type: ignore[arg-type]
    if org is None:
        raise OrgNotFound(f"organisation {org_id} not found")
    return org


def created(org_id: UUID, counted: Counted, quotas: Quotas) -> tuple[Usage]:
    """The usage of creating one counted object in the organisation (refused past its quota)."""
    return (Usage(org_id=org_id, counted=counted, delta=1, limit=quotas.limit(counted)),)


async def create_project(
    cmd: CreateProject,
    *,
    store: EventStore,
    clock: Clock,
    actor: str,
    taken_names: frozenset[str],
    quotas: Quotas = DEFAULT_QUOTAS,
) -> Written:
    """A new project in the caller's organisation; `taken_names` come from the read model."""
    await load_org(store, cmd.org_id)
    meta = Metadata(actor=actor, org_id=cmd.org_id, project_id=cmd.project_id, command_id=cmd.command_id)
    _, written = await decide_and_append(
        store,
        cmd.project_id,
        "project",
        projects.replay,
        lambda s: projects.create_project(s, cmd, clock(), taken_names=taken_names),
        command_id=cmd.command_id,
        metadata=meta,
        usage=created(cmd.org_id, Counted.PROJECTS, quotas),
    )
    return written


async def create_environment(
    cmd: CreateEnvironment,
    *,
    store: EventStore,
    clock: Clock,
    actor: str,
    taken_names: frozenset[str],
    quotas: Quotas = DEFAULT_QUOTAS,
) -> Written:
    """A new environment in a project of the caller's organisation (another org's project is not found)."""
    project = projects.replay(await load_stream(store, cmd.project_id))  # type: ignore[arg-type]
    if project is None or project.org_id != cmd.org_id:
        raise ProjectNotFound(f"project {cmd.project_id} not found")
    meta = Metadata(
        actor=actor,
        org_id=cmd.org_id,
        project_id=cmd.project_id,
        environment_id=cmd.environment_id,
        command_id=cmd.command_id,
    )
    _, written = await decide_and_append(
        store,
        cmd.environment_id,
        "environment",
        environments.replay,
        lambda s: environments.create_environment(s, cmd, clock(), taken_names=taken_names),
        command_id=cmd.command_id,
        metadata=meta,
        usage=created(cmd.org_id, Counted.ENVIRONMENTS, quotas),
    )
    return written


async def _environment_of(ctx: Context, environment_id: UUID) -> environments.Environment:
    """The environment of the caller's organisation (another organisation's is not found)."""
    env: environments.Environment | None = await ctx.load(ENVIRONMENT, environment_id)
    org_id = ctx.scope.metadata(ctx.command_id).org_id
    if env is None or env.org_id != org_id:
        raise EnvironmentNotFound(f"environment {environment_id} not found")
    return env


def _env_metadata(ctx: Context, env: environments.Environment) -> Metadata:
    return Metadata(actor=ctx.scope.actor, org_id=env.org_id, project_id=env.project_id,
                    environment_id=env.id, command_id=ctx.command_id)  # fmt: skip


async def issue_key(cmd: IssueSdkKey, ctx: Context, *, quotas: Quotas) -> datetime:
    """Record a key's hash and prefix (the route made the raw key and shows it once); an environment
    holds at most `quotas.sdk_keys_per_environment` active keys (counted in its own stream)."""
    env = await _environment_of(ctx, cmd.environment_id)
    limit = quotas.sdk_keys_per_environment
    if len(env.active_keys()) >= limit:
        raise exceeded("active SDK keys", limit, "environment")
    events = environments.issue_sdk_key(env, cmd, ctx.now)
    ctx.emit(cmd.environment_id, events, metadata=_env_metadata(ctx, env))
    return ctx.now


async def revoke_key(cmd: RevokeSdkKey, ctx: Context) -> None:
    """Revoke a key of an environment in the caller's organisation (never the last active one)."""
    env = await _environment_of(ctx, cmd.environment_id)
    events = environments.revoke_sdk_key(env, cmd, ctx.now)
    ctx.emit(cmd.environment_id, events, metadata=_env_metadata(ctx, env))


def sdk_key_handlers(quotas: Quotas) -> dict[type[Command], Handler]:
    """The SDK-key rows of the bus's handler table."""
    return {IssueSdkKey: functools.partial(issue_key, quotas=quotas), RevokeSdkKey: revoke_key}


def new_sdk_key(
    *, command_id: UUID, environment_id: UUID, key_id: UUID, name: str,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> tuple[IssueSdkKey, str]:  # fmt: skip
    """A fresh raw key and the command recording only its hash and prefix."""
    raw = raw_sdk_key(random_bytes(32))
    cmd = IssueSdkKey(command_id=command_id, environment_id=environment_id, key_id=key_id, name=name,
                      key_hash=hash_sdk_key(raw), prefix=display_prefix(raw))  # fmt: skip
    return cmd, raw
