"""Identity and tenancy handlers on the in-memory store: idempotent bootstrap, uniqueness, tenant scope."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from commands.identity import change_password, register_user, remove_user
from commands.memory_store import InMemoryEventStore
from commands.tenancy import (
    create_environment,
    create_org,
    create_project,
    ensure_system_org,
    issue_sdk_key,
    revoke_sdk_key,
)
from domain.errors import EmailAlreadyClaimed, EnvironmentNotFound, LastActiveSdkKey, ProjectNotFound
from domain.tenancy.commands import (
    ChangePassword,
    CreateEnvironment,
    CreateOrg,
    CreateProject,
    RegisterUser,
    RemoveUser,
    RevokeSdkKey,
)
from domain.tenancy.sdk_keys import hash_sdk_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def clock() -> datetime:
    return NOW


async def _org(store: InMemoryEventStore) -> UUID:
    org_id = uuid4()
    await create_org(
        CreateOrg(command_id=uuid4(), org_id=org_id, name="Acme"), store=store, clock=clock, actor="t"
    )
    return org_id


async def _env(store: InMemoryEventStore, org_id: UUID) -> UUID:
    project, env = uuid4(), uuid4()
    cmd = CreateProject(command_id=uuid4(), project_id=project, org_id=org_id, name="Web")
    await create_project(cmd, store=store, clock=clock, actor="t", taken_names=frozenset())
    create = CreateEnvironment(
        command_id=uuid4(), environment_id=env, org_id=org_id, project_id=project, name="p"
    )
    await create_environment(create, store=store, clock=clock, actor="t", taken_names=frozenset())
    return env


def _user(email: str, org_id: UUID | None = None) -> RegisterUser:
    return RegisterUser(
        command_id=uuid4(),
        user_id=uuid4(),
        email=email,
        display_name="A",
        password_hash="$argon2id$x",
        org_id=org_id,
    )


async def test_system_org_is_created_once() -> None:
    store = InMemoryEventStore()
    command_id = uuid4()
    assert await ensure_system_org(store=store, clock=clock, command_id=command_id) is not None
    assert await ensure_system_org(store=store, clock=clock, command_id=command_id) is None
    assert await store.head_position() == 1


async def test_emails_are_unique_case_insensitively_and_freed_on_removal() -> None:
    store = InMemoryEventStore()
    first = _user("Ann@Example.test")
    await register_user(first, store=store, clock=clock, actor="t")
    with pytest.raises(EmailAlreadyClaimed):
        await register_user(_user("ann@example.TEST"), store=store, clock=clock, actor="t")
    await remove_user(
        RemoveUser(command_id=uuid4(), user_id=first.user_id), store=store, clock=clock, actor="t"
    )
    await register_user(_user("ann@example.test"), store=store, clock=clock, actor="t")


async def test_password_change_appends_a_new_token_generation() -> None:
    store = InMemoryEventStore()
    user = _user("bob@example.test")
    await register_user(user, store=store, clock=clock, actor="t")
    cmd = ChangePassword(command_id=uuid4(), user_id=user.user_id, password_hash="$argon2id$y")
    written = await change_password(cmd, store=store, clock=clock, actor="t")
    assert written.version == 2
    assert written.position == await store.head_position()


async def test_environment_in_another_orgs_project_is_not_found() -> None:
    store = InMemoryEventStore()
    mine, theirs = await _org(store), await _org(store)
    project = uuid4()
    cmd = CreateProject(command_id=uuid4(), project_id=project, org_id=theirs, name="Web")
    await create_project(cmd, store=store, clock=clock, actor="t", taken_names=frozenset())
    sneaky = CreateEnvironment(
        command_id=uuid4(), environment_id=uuid4(), org_id=mine, project_id=project, name="x"
    )
    with pytest.raises(ProjectNotFound):
        await create_environment(sneaky, store=store, clock=clock, actor="t", taken_names=frozenset())


async def test_sdk_keys_store_only_hashes_are_tenant_scoped_and_keep_one_active() -> None:
    store = InMemoryEventStore()
    org, other = await _org(store), await _org(store)
    env = await _env(store, org)
    issued = await issue_sdk_key(
        command_id=uuid4(),
        environment_id=env,
        key_id=uuid4(),
        name="k",
        org_id=org,
        store=store,
        clock=clock,
        actor="t",
    )
    stored = b"".join(r.data for r in await store.load(env))
    assert issued.raw_key.encode() not in stored
    assert hash_sdk_key(issued.raw_key).encode() in stored
    with pytest.raises(EnvironmentNotFound):
        await issue_sdk_key(
            command_id=uuid4(),
            environment_id=env,
            key_id=uuid4(),
            name="k",
            org_id=other,
            store=store,
            clock=clock,
            actor="t",
        )
    revoke = RevokeSdkKey(command_id=uuid4(), environment_id=env, key_id=issued.key_id)
    with pytest.raises(LastActiveSdkKey):
        await revoke_sdk_key(revoke, org_id=org, store=store, clock=clock, actor="t")
    with pytest.raises(EnvironmentNotFound):
        await revoke_sdk_key(revoke, org_id=other, store=store, clock=clock, actor="t")


async def test_metadata_carries_actor_and_tenant() -> None:
    store = InMemoryEventStore()
    org = await _org(store)
    env = await _env(store, org)
    await issue_sdk_key(
        command_id=uuid4(),
        environment_id=env,
        key_id=uuid4(),
        name="k",
        org_id=org,
        store=store,
        clock=clock,
        actor="user-1",
    )
    meta = (await store.load(env))[-1].metadata
    assert (meta.actor, meta.org_id, meta.environment_id) == (
        "user-1",
        org,
        env,
    )
    assert meta.project_id is not None


async def test_a_repeated_command_appends_nothing_and_answers_where_it_landed() -> None:
    store = InMemoryEventStore()
    org = await _org(store)
    cmd = CreateProject(command_id=uuid4(), project_id=uuid4(), org_id=org, name="Web")
    first = await create_project(cmd, store=store, clock=clock, actor="t", taken_names=frozenset())
    again = await create_project(cmd, store=store, clock=clock, actor="t", taken_names=frozenset({"Web"}))
    assert again.repeated
    assert (again.position, again.version) == (first.position, first.version)
    assert await store.head_position() == first.position
