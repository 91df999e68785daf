"""Identity and tenancy handlers on the in-memory store: idempotent bootstrap, uniqueness, tenant scope."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from commands.encoding import load_stream, to_new_events
from commands.eventstore import Metadata
from commands.identity import accept_invitation, change_password, register_user, remove_user
from commands.memory_store import InMemoryEventStore
from commands.tenancy import (
    create_environment,
    create_org,
    create_project,
    ensure_system_org,
    issue_sdk_key,
    revoke_sdk_key,
)
from domain.errors import (
    AlreadyMember,
    EmailAlreadyClaimed,
    EnvironmentNotFound,
    LastActiveSdkKey,
    ProjectNotFound,
)
from domain.tenancy import email as emails
from domain.tenancy import user as users
from domain.tenancy.commands import (
    AcceptInvitation,
    ChangePassword,
    ClaimEmail,
    CreateEnvironment,
    CreateOrg,
    CreateProject,
    RegisterUser,
    RemoveUser,
    RevokeSdkKey,
)
from domain.tenancy.sdk_keys import hash_sdk_key
from readmodels.vault import ERASED, MemoryVault

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
    store, vault = InMemoryEventStore(), MemoryVault()
    first = _user("Ann@Example.test")
    await register_user(first, store=store, clock=clock, actor="t", vault=vault)
    with pytest.raises(EmailAlreadyClaimed):  # no organisation to invite the account into
        await register_user(_user("ann@example.TEST"), store=store, clock=clock, actor="t", vault=vault)
    await remove_user(
        RemoveUser(command_id=uuid4(), user_id=first.user_id),
        store=store,
        clock=clock,
        actor="t",
        vault=vault,
    )
    await register_user(_user("ann@example.test"), store=store, clock=clock, actor="t", vault=vault)


async def test_password_change_appends_a_new_token_generation_and_no_hash() -> None:
    store, vault = InMemoryEventStore(), MemoryVault()
    user = _user("bob@example.test")
    await register_user(user, store=store, clock=clock, actor="t", vault=vault)
    cmd = ChangePassword(command_id=uuid4(), user_id=user.user_id, password_hash="$argon2id$y")
    written = await change_password(cmd, store=store, clock=clock, actor="t", vault=vault)
    assert written.version == 2
    assert written.position == await store.head_position()
    assert vault.passwords[user.user_id] == ("$argon2id$y", 1)
    logged = b"".join(r.data for r in await store.read_all(0))
    assert b"argon2" not in logged
    assert b"bob@" not in logged
    assert b"example.test" not in logged


async def test_an_address_of_another_orgs_account_is_invited_not_refused() -> None:
    store, vault = InMemoryEventStore(), MemoryVault()
    mine, theirs = await _org(store), await _org(store)
    first = _user("ann@example.test", theirs)
    await register_user(first, store=store, clock=clock, actor="t", vault=vault)
    written = await register_user(
        _user("ANN@example.test", mine), store=store, clock=clock, actor="t", vault=vault
    )
    assert written.stream_id == first.user_id
    state = users.replay(await load_stream(store, first.user_id))  # type: ignore[arg-type]
    assert state is not None
    assert set(state.memberships) == {theirs}  # invited, not pulled in: its owner decides
    assert set(state.invitations) == {mine}
    assert vault.passwords[first.user_id][0] == "$argon2id$x"  # the inviter's password is not applied
    await accept_invitation(
        AcceptInvitation(command_id=uuid4(), user_id=first.user_id, org_id=mine),
        store=store,
        clock=clock,
        actor="t",
    )
    with pytest.raises(AlreadyMember):  # already a member here: as visible as the member list
        await register_user(_user("ann@example.test", mine), store=store, clock=clock, actor="t", vault=vault)


async def test_a_claim_whose_user_never_registered_is_free_again_once_abandoned() -> None:
    store, vault = InMemoryEventStore(), MemoryVault()
    crashed = _user("cat@example.test")
    claim = ClaimEmail(command_id=uuid4(), email=crashed.email, user_id=crashed.user_id)
    stream = emails.email_stream(claim.email)
    events = emails.claim_email(None, claim, NOW)
    await store.append(stream, "email", 0, to_new_events(events), metadata=Metadata())
    with pytest.raises(EmailAlreadyClaimed):  # maybe still registering: not yet
        await register_user(_user("cat@example.test"), store=store, clock=clock, actor="t", vault=vault)
    later = NOW + emails.ABANDONED_AFTER

    def late() -> datetime:
        return later

    again = _user("cat@example.test")
    await register_user(again, store=store, clock=late, actor="t", vault=vault)
    holder = emails.replay(await load_stream(store, stream))  # type: ignore[arg-type]
    assert holder is not None
    assert holder.user_id == again.user_id
    # the crashed request retried with its own command id is refused now, not a second owner
    with pytest.raises(EmailAlreadyClaimed):
        await register_user(crashed, store=store, clock=late, actor="t", vault=vault)


async def test_shredding_the_key_erases_the_person_but_the_stream_still_replays() -> None:
    store, vault = InMemoryEventStore(), MemoryVault()
    user = _user("dan@example.test")
    await register_user(user, store=store, clock=clock, actor="t", vault=vault)
    state = users.replay(await load_stream(store, user.user_id))  # type: ignore[arg-type]
    assert state is not None
    assert await vault.open(user.user_id, state.email) == "dan@example.test"
    await vault.erase(user.user_id)
    again = users.replay(await load_stream(store, user.user_id))  # type: ignore[arg-type]
    assert again is not None
    assert again.id == user.user_id
    assert await vault.open(user.user_id, again.email) == ERASED
    assert await vault.open(user.user_id, again.display_name) == ERASED


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
