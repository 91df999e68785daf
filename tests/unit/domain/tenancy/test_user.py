"""Users, their email claims and memberships (domain.tenancy.user, domain.tenancy.email)."""

from __future__ import annotations

from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import (
    EmailAlreadyClaimed,
    FailedPrecondition,
    MembershipNotFound,
    MissingPasswordHash,
    UserAlreadyExists,
    UserNotFound,
)
from domain.ids import stream_id
from domain.tenancy import email as emails
from domain.tenancy import user as users
from domain.tenancy.commands import (
    ChangePassword,
    ClaimEmail,
    RegisterUser,
    ReleaseEmail,
    RemoveMembership,
    RemoveUser,
    RenameUser,
    SetMembership,
    TenancyCommand,
)
from domain.tenancy.events import (
    EmailClaimed,
    EmailEvent,
    EmailReleased,
    OrgRole,
    UserEvent,
    UserJoinedOrg,
    UserRegistered,
)
from tests.unit.domain.harness import NOW, current, drive, step

ORG, USER = uuid4(), uuid4()


def _cmd() -> UUID:
    return uuid4()


def test_an_email_belongs_to_one_user_until_released() -> None:
    ann, bob = uuid4(), uuid4()
    claimed = emails.claim_email(None, ClaimEmail(command_id=_cmd(), email="Ann@X.io", user_id=ann), NOW)
    assert claimed[0].stream_id == emails.email_stream("ann@x.io") == stream_id("email", "ann@x.io")
    claim = current(claimed, emails.replay)
    assert emails.claim_email(claim, ClaimEmail(command_id=_cmd(), email="ann@x.io", user_id=ann), NOW) == []
    with pytest.raises(EmailAlreadyClaimed):
        emails.claim_email(claim, ClaimEmail(command_id=_cmd(), email="ANN@x.io", user_id=bob), NOW)
    with pytest.raises(FailedPrecondition):
        emails.release_email(claim, ReleaseEmail(command_id=_cmd(), email="ann@x.io", user_id=bob), NOW)
    history = claimed + emails.release_email(
        claim, ReleaseEmail(command_id=_cmd(), email="ann@x.io", user_id=ann), NOW
    )
    reclaimed = emails.claim_email(
        current(history, emails.replay), ClaimEmail(command_id=_cmd(), email="ann@x.io", user_id=bob), NOW
    )
    assert current(history + reclaimed, emails.replay).user_id == bob


def _register(org_id: UUID | None = ORG) -> users.User:
    cmd = RegisterUser(
        command_id=_cmd(),
        user_id=USER,
        email="Ann@Example.com",
        display_name="Ann",
        password_hash="$argon2id$v=19$abc",
        org_id=org_id,
        role=OrgRole.ORG_ADMIN,
    )
    return current(users.register_user(None, cmd, NOW), users.replay)


def test_registering_with_an_org_joins_it_in_the_same_decision() -> None:
    cmd = RegisterUser(
        command_id=_cmd(),
        user_id=USER,
        email="Ann@Example.com",
        display_name="Ann",
        password_hash="h",
        org_id=ORG,
        role=OrgRole.ORG_ADMIN,
    )
    events = users.register_user(None, cmd, NOW)
    assert [type(e) for e in events] == [UserRegistered, UserJoinedOrg]
    user = current(events, users.replay)
    assert user.email == "ann@example.com"
    assert user.memberships == {ORG: OrgRole.ORG_ADMIN}
    with pytest.raises(UserAlreadyExists):
        users.register_user(user, cmd, NOW)


def test_a_user_needs_a_password_hash() -> None:
    cmd = RegisterUser(command_id=_cmd(), user_id=USER, email="a@b.io", display_name="A", password_hash=" ")
    with pytest.raises(MissingPasswordHash):
        users.register_user(None, cmd, NOW)


def test_every_password_change_kills_older_tokens() -> None:
    user = _register()
    change = ChangePassword(command_id=_cmd(), user_id=USER, password_hash="$argon2id$new")
    first = users.change_password(user, change, NOW)
    after = users.evolve(user, first[0])
    second = users.change_password(after, change, NOW)
    assert users.evolve(after, second[0]).token_generation == user.token_generation + 2


def test_memberships_join_change_role_and_leave() -> None:
    user = _register(org_id=None)
    other = uuid4()
    joined = users.set_membership(
        user, SetMembership(command_id=_cmd(), user_id=USER, org_id=other, role=OrgRole.VIEWER), NOW
    )
    user = users.evolve(user, joined[0])
    same = SetMembership(command_id=_cmd(), user_id=USER, org_id=other, role=OrgRole.VIEWER)
    assert users.set_membership(user, same, NOW) == []
    promote = SetMembership(command_id=_cmd(), user_id=USER, org_id=other, role=OrgRole.ORG_MEMBER)
    user = users.evolve(user, users.set_membership(user, promote, NOW)[0])
    assert user.memberships == {other: OrgRole.ORG_MEMBER}
    leave = RemoveMembership(command_id=_cmd(), user_id=USER, org_id=other)
    user = users.evolve(user, users.remove_membership(user, leave, NOW)[0])
    assert user.memberships == {}
    with pytest.raises(MembershipNotFound):
        users.remove_membership(user, leave, NOW)


def test_a_removed_user_is_gone() -> None:
    user = _register()
    user = users.evolve(user, users.remove_user(user, RemoveUser(command_id=_cmd(), user_id=USER), NOW)[0])
    assert user.removed
    assert user.memberships == {}
    assert user.token_generation == 1
    with pytest.raises(UserNotFound):
        users.rename_user(user, RenameUser(command_id=_cmd(), user_id=USER, display_name="X"), NOW)


_USER = {"command_id": st.uuids(), "user_id": st.just(USER)}
org_ids = st.sampled_from([uuid4() for _ in range(3)])
user_commands = st.one_of(
    st.builds(RenameUser, display_name=st.sampled_from(["Ann", "Bo", ""]), **_USER),
    st.builds(ChangePassword, password_hash=st.sampled_from(["h1", "h2", ""]), **_USER),
    st.builds(SetMembership, org_id=org_ids, role=st.sampled_from(OrgRole), **_USER),
    st.builds(RemoveMembership, org_id=org_ids, **_USER),
    st.builds(RemoveUser, **_USER),
)


def _decide(state: users.User | None, cmd: TenancyCommand) -> list[UserEvent]:
    match cmd:
        case RegisterUser():
            return users.register_user(state, cmd, NOW)
        case RenameUser():
            return users.rename_user(state, cmd, NOW)
        case ChangePassword():
            return users.change_password(state, cmd, NOW)
        case SetMembership():
            return users.set_membership(state, cmd, NOW)
        case RemoveMembership():
            return users.remove_membership(state, cmd, NOW)
        case RemoveUser():
            return users.remove_user(state, cmd, NOW)
    raise AssertionError(cmd)


@settings(max_examples=100)
@given(st.lists(user_commands, max_size=12))
def test_user_replay_equals_the_state_the_deciders_saw(commands: list[TenancyCommand]) -> None:
    register = RegisterUser(
        command_id=_cmd(), user_id=USER, email="a@b.io", display_name="A", password_hash="h"
    )
    run = drive([step(_decide, c) for c in [register, *commands]], users.evolve, users.replay)
    generations = [getattr(e, "token_generation", None) for e in run.history]
    changes = [g for g in generations if g is not None]
    assert changes == list(range(1, len(changes) + 1)), "each password change bumps the generation by one"


ANN, BOB = uuid4(), uuid4()
email_commands = st.one_of(
    st.builds(
        ClaimEmail,
        command_id=st.uuids(),
        email=st.sampled_from(["a@b.io", "A@B.io "]),
        user_id=st.sampled_from([ANN, BOB]),
    ),
    st.builds(
        ReleaseEmail, command_id=st.uuids(), email=st.just("a@b.io"), user_id=st.sampled_from([ANN, BOB])
    ),
)


def _decide_email(state: emails.EmailClaim | None, cmd: TenancyCommand) -> list[EmailEvent]:
    match cmd:
        case ClaimEmail():
            return emails.claim_email(state, cmd, NOW)
        case ReleaseEmail():
            return emails.release_email(state, cmd, NOW)
    raise AssertionError(cmd)


@settings(max_examples=100)
@given(st.lists(email_commands, max_size=12))
def test_an_email_has_at_most_one_holder_and_only_the_holder_frees_it(commands: list[TenancyCommand]) -> None:
    run = drive([step(_decide_email, c) for c in commands], emails.evolve, emails.replay)
    holder = None
    for event in run.history:
        if isinstance(event, EmailClaimed):
            assert holder is None, "a claim never overrides another holder"
            holder = event.user_id
        else:
            assert isinstance(event, EmailReleased)
            assert holder == event.user_id, "only the holder releases"
            holder = None
    assert (run.state.user_id if run.state else None) == holder


def test_no_identity_event_carries_a_password_hash() -> None:
    user = _register()
    change = ChangePassword(command_id=_cmd(), user_id=USER, password_hash="$argon2id$new")
    registered = users.register_user(
        None,
        RegisterUser(
            command_id=_cmd(), user_id=USER, email="a@b.io", display_name="A", password_hash="$argon2id$x"
        ),
        NOW,
    )
    for event in [*registered, *users.change_password(user, change, NOW)]:
        assert b"argon2" not in msgspec.json.encode(event)
