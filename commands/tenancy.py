"""Tenancy handlers: organisations, projects, environments and SDK keys (load -> decide -> append)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from commands.encoding import decode_recorded, load_stream, to_new_events
from commands.eventstore import EventStore, Metadata, Usage
from domain.errors import EnvironmentNotFound, OrgAlreadyExists, OrgNotFound, ProjectNotFound
from domain.events import Command, Event
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas, exceeded
from domain.tenancy import environment as environments
from domain.tenancy import org as orgs
from domain.tenancy import project as projects
from domain.tenancy.commands import CreateEnvironment, CreateOrg, CreateProject, IssueSdkKey, RevokeSdkKey
from domain.tenancy.events import EnvironmentEvent
from domain.tenancy.sdk_keys import display_prefix, hash_sdk_key, raw_sdk_key

Clock = Callable[[], datetime]
S = TypeVar("S")
C = TypeVar("C", bound=Command)

# Fixed so a repeated first start is recognised as the same command (idempotent).
SYSTEM_ORG_NAME = "System"


class Written(msgspec.Struct, frozen=True, kw_only=True):
    """Where a command's events landed: `position` is what read-your-writes waits for."""

    stream_id: UUID
    position: int
    version: int
    repeated: bool = False


class IssuedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A new SDK key: the raw key exists only in this answer."""

    written: Written
    key_id: UUID
    raw_key: str
    prefix: str
    created_at: datetime


async def decide_and_append(
    store: EventStore,
    stream_id: UUID,
    stream_type: str,
    replay: Callable[[list[Any]], S | None],
    decide: Callable[[S | None], Sequence[Event]],
    *,
    command_id: UUID,
    metadata: Metadata,
    usage: Sequence[Usage] = (),
) -> tuple[S | None, Written]:
    """Load the stream, decide on its state, append at its version (with its quota `usage`); returns
    the prior state too.

    A command whose id already appended to this stream is a repeat: nothing is decided or appended, and
    the answer is where its events landed (`repeated=True`), so retried creates are safe.
    """
    recorded = await store.load(stream_id)
    state = replay([decode_recorded(r) for r in recorded])
    mine = [r for r in recorded if r.metadata.command_id == command_id]
    if mine:
        return state, Written(
            stream_id=stream_id, position=mine[-1].position, version=mine[-1].version, repeated=True
        )
    version = int(getattr(state, "version", 0)) if state is not None else 0
    new = decide(state)
    result = await store.append(
        stream_id,
        stream_type,
        version,
        to_new_events(new),
        metadata=msgspec.structs.replace(metadata, command_id=command_id),
        command_id=command_id,
        usage=usage,
    )
    written = Written(
        stream_id=result.stream_id,
        position=result.last_position,
        version=result.version,
        repeated=result.repeated,
    )
    return state, written


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


def _scoped(org_id: UUID, environment_id: UUID) -> Callable[[environments.Environment | None], None]:
    def check(env: environments.Environment | None) -> None:
        if env is None or env.org_id != org_id:
            raise EnvironmentNotFound(f"environment {environment_id} not found")

    return check


async def issue_sdk_key(
    *,
    command_id: UUID,
    environment_id: UUID,
    key_id: UUID,
    name: str,
    org_id: UUID,
    store: EventStore,
    clock: Clock,
    actor: str,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    quotas: Quotas = DEFAULT_QUOTAS,
) -> IssuedKey:
    """Generate a key, append only its hash and prefix, and return the raw key once; an environment
    holds at most `quotas.sdk_keys_per_environment` active keys (counted in its own stream)."""
    raw = raw_sdk_key(random_bytes(32))
    cmd = IssueSdkKey(
        command_id=command_id,
        environment_id=environment_id,
        key_id=key_id,
        name=name,
        key_hash=hash_sdk_key(raw),
        prefix=display_prefix(raw),
    )
    check, now = _scoped(org_id, environment_id), clock()

    def decide(env: environments.Environment | None) -> list[EnvironmentEvent]:
        check(env)
        limit = quotas.sdk_keys_per_environment
        if env is not None and len(env.active_keys()) >= limit:
            raise exceeded("active SDK keys", limit, "environment")
        return environments.issue_sdk_key(env, cmd, now)

    written = await _on_environment(store, environment_id, decide, command_id=command_id, actor=actor)
    return IssuedKey(written=written, key_id=key_id, raw_key=raw, prefix=cmd.prefix, created_at=now)


async def revoke_sdk_key(
    cmd: RevokeSdkKey, *, org_id: UUID, store: EventStore, clock: Clock, actor: str
) -> Written:
    """Revoke a key of an environment in the caller's organisation (never the last active one)."""
    check = _scoped(org_id, cmd.environment_id)

    def decide(env: environments.Environment | None) -> list[EnvironmentEvent]:
        check(env)
        return environments.revoke_sdk_key(env, cmd, clock())

    return await _on_environment(store, cmd.environment_id, decide, command_id=cmd.command_id, actor=actor)


async def _on_environment(
    store: EventStore,
    environment_id: UUID,
    decide: Callable[[environments.Environment | None], Sequence[Event]],
    *,
    command_id: UUID,
    actor: str,
) -> Written:
    state = environments.replay(await load_stream(store, environment_id))  # type: ignore[arg-type]
    events = decide(state)  # raises for a missing environment, so `state` is set below
    assert state is not None
    meta = Metadata(
        actor=actor,
        org_id=state.org_id,
        project_id=state.project_id,
        environment_id=environment_id,
        command_id=command_id,
    )
    result = await store.append(
        environment_id,
        "environment",
        state.version,
        to_new_events(events),
        metadata=meta,
        command_id=command_id,
    )
    return Written(
        stream_id=environment_id,
        position=result.last_position,
        version=result.version,
        repeated=result.repeated,
    )
