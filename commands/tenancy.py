"""Tenancy handlers: organisations, projects, environments and SDK keys (load -> decide -> append)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from commands.bus import Bus, CommandBus, Context, Handler
from commands.encoding import load_stream
from commands.eventstore import EventStore, Metadata, Usage
from commands.kinds import ENVIRONMENT, KINDS, ORG, PROJECT
from commands.streams import OrgScope, Written
from domain.errors import EnvironmentNotFound, OrgAlreadyExists, OrgNotFound, ProjectNotFound
from domain.events import Command
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas, exceeded
from domain.tenancy import environment as environments
from domain.tenancy import org as orgs
from domain.tenancy import project as projects
from domain.tenancy.commands import CreateEnvironment, CreateOrg, CreateProject, IssueSdkKey, RevokeSdkKey
from domain.tenancy.sdk_keys import display_prefix, hash_sdk_key, raw_sdk_key

Clock = Callable[[], datetime]
S = TypeVar("S")
C = TypeVar("C", bound=Command)

# Fixed so a repeated first start is recognised as the same command (idempotent).
SYSTEM_ORG_NAME = "System"


NameLookup = Callable[[UUID], Awaitable[frozenset[str]]]  # owner (org / project) -> names taken in it


async def _no_names(_: UUID) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class TenancyLookups:
    """Read-side facts the tenancy handlers need: names already taken (uniqueness is per owner)."""

    project_names: NameLookup = _no_names  # org id -> its project names
    environment_names: NameLookup = _no_names  # project id -> its environment names
    quotas: Quotas = DEFAULT_QUOTAS


async def create_org_step(cmd: CreateOrg, ctx: Context) -> None:
    """A new organisation."""
    meta = Metadata(actor=ctx.scope.actor, org_id=cmd.org_id, command_id=ctx.command_id)
    ctx.emit(cmd.org_id, orgs.create_org(await ctx.load(ORG, cmd.org_id), cmd, ctx.now), metadata=meta)


async def live_org(ctx: Context, org_id: UUID) -> orgs.Org:
    """The organisation's state, or OrgNotFound."""
    org: orgs.Org | None = await ctx.load(ORG, org_id)
    if org is None:
        raise OrgNotFound(f"organisation {org_id} not found")
    return org


def created(org_id: UUID, counted: Counted, quotas: Quotas) -> tuple[Usage]:
    """The usage of creating one counted object in the organisation (refused past its quota)."""
    return (Usage(org_id=org_id, counted=counted, delta=1, limit=quotas.limit(counted)),)


async def create_project_step(cmd: CreateProject, ctx: Context, *, lookups: TenancyLookups) -> None:
    """A new project in the caller's organisation (names unique per organisation)."""
    await live_org(ctx, cmd.org_id)
    taken = await lookups.project_names(cmd.org_id)
    events = projects.create_project(await ctx.load(PROJECT, cmd.project_id), cmd, ctx.now, taken_names=taken)
    meta = Metadata(
        actor=ctx.scope.actor, org_id=cmd.org_id, project_id=cmd.project_id, command_id=ctx.command_id
    )
    ctx.emit(
        cmd.project_id, events, metadata=meta, usage=created(cmd.org_id, Counted.PROJECTS, lookups.quotas)
    )


async def create_environment_step(cmd: CreateEnvironment, ctx: Context, *, lookups: TenancyLookups) -> None:
    """A new environment in a project of the caller's organisation (another org's project is not found)."""
    project: projects.Project | None = await ctx.load(PROJECT, cmd.project_id)
    if project is None or project.org_id != cmd.org_id:
        raise ProjectNotFound(f"project {cmd.project_id} not found")
    taken = await lookups.environment_names(cmd.project_id)
    state = await ctx.load(ENVIRONMENT, cmd.environment_id)
    events = environments.create_environment(state, cmd, ctx.now, taken_names=taken)
    meta = Metadata(actor=ctx.scope.actor, org_id=cmd.org_id, project_id=cmd.project_id,
                    environment_id=cmd.environment_id, command_id=ctx.command_id)  # fmt: skip
    usage = created(cmd.org_id, Counted.ENVIRONMENTS, lookups.quotas)
    ctx.emit(cmd.environment_id, events, metadata=meta, usage=usage)


def tenancy_handlers(lookups: TenancyLookups) -> dict[type[Command], Handler]:
    """The organisation, project and environment rows of the bus's handler table."""
    return {
        CreateOrg: create_org_step,
        CreateProject: functools.partial(create_project_step, lookups=lookups),
        CreateEnvironment: functools.partial(create_environment_step, lookups=lookups),
    }


async def _one(store: EventStore, clock: Clock, lookups: TenancyLookups, cmd: Command, scope: OrgScope,
               stream_id: UUID) -> Written:  # fmt: skip
    bus = CommandBus(store, tenancy_handlers(lookups), KINDS, clock=clock)
    return Written.from_outcome(await bus.handle(cmd, scope), stream_id)


async def create_org(cmd: CreateOrg, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """A new organisation, through a bus of the tenancy handlers alone (bootstrap, tests)."""
    return await _one(
        store, clock, TenancyLookups(), cmd, OrgScope(actor=actor, org_id=cmd.org_id), cmd.org_id
    )


async def bootstrap_system_org(bus: Bus, *, command_id: UUID) -> Written | None:
    """Create the system organisation unless it exists (first start); None when it already did."""
    cmd = CreateOrg(command_id=command_id, org_id=orgs.SYSTEM_ORG_ID, name=SYSTEM_ORG_NAME, is_system=True)
    try:
        outcome = await bus.handle(cmd, OrgScope(actor="system", org_id=cmd.org_id))
    except OrgAlreadyExists:
        return None
    return None if outcome.repeated else Written.from_outcome(outcome, cmd.org_id)


async def ensure_system_org(*, store: EventStore, clock: Clock, command_id: UUID) -> Written | None:
    """`bootstrap_system_org` through a bus of the tenancy handlers alone (tests, tools)."""
    bus = CommandBus(store, tenancy_handlers(TenancyLookups()), KINDS, clock=clock)
    return await bootstrap_system_org(bus, command_id=command_id)


async def load_org(store: EventStore, org_id: UUID) -> orgs.Org:
    """The organisation's state, or OrgNotFound."""
    org = orgs.replay(await load_stream(store, org_id))  # type: ignore[arg-type]
    if org is None:
        raise OrgNotFound(f"organisation {org_id} not found")
    return org


async def create_project(
    cmd: CreateProject, *, store: EventStore, clock: Clock, actor: str, taken_names: frozenset[str],
    quotas: Quotas = DEFAULT_QUOTAS,
) -> Written:  # fmt: skip
    """A new project, through a bus of the tenancy handlers alone (tests)."""
    lookups = TenancyLookups(project_names=_names(taken_names), quotas=quotas)
    return await _one(store, clock, lookups, cmd, OrgScope(actor=actor, org_id=cmd.org_id), cmd.project_id)


async def create_environment(
    cmd: CreateEnvironment, *, store: EventStore, clock: Clock, actor: str, taken_names: frozenset[str],
    quotas: Quotas = DEFAULT_QUOTAS,
) -> Written:  # fmt: skip
    """A new environment, through a bus of the tenancy handlers alone (tests)."""
    lookups = TenancyLookups(environment_names=_names(taken_names), quotas=quotas)
    scope = OrgScope(actor=actor, org_id=cmd.org_id)
    return await _one(store, clock, lookups, cmd, scope, cmd.environment_id)


def _names(taken: frozenset[str]) -> NameLookup:
    async def names(_: UUID) -> frozenset[str]:
        return taken

    return names


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
