"""The user aggregate with its organisation memberships: state, fold and deciders.

Memberships live in the user's stream so registering a user and joining the first organisation is one
atomic decision. Emails are made unique by the separate claim stream (`domain.tenancy.email`), which the
handler claims first.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import (
    AlreadyMember,
    MembershipNotFound,
    MissingPasswordHash,
    UserAlreadyExists,
    UserNotFound,
)
from domain.ids import check_name, normalize_email
from domain.tenancy.commands import (
    AcceptInvitation,
    ChangePassword,
    InviteToOrg,
    RegisterUser,
    RemoveMembership,
    RemoveUser,
    RenameUser,
    SetMembership,
)
from domain.tenancy.events import (
    OrgRole,
    UserDisplayNameChanged,
    UserEvent,
    UserInvitedToOrg,
    UserJoinedOrg,
    UserLeftOrg,
    UserOrgRoleChanged,
    UserPasswordChanged,
    UserRegistered,
    UserRemoved,
)


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A user; a token is valid only while its generation equals `token_generation` and not removed."""

    id: UUID
    version: int
    email: str  # as stored: sealed
    display_name: str  # as stored: sealed
    token_generation: int = 0
    memberships: dict[UUID, OrgRole] = msgspec.field(default_factory=dict)
    invitations: dict[UUID, OrgRole] = msgspec.field(default_factory=dict)  # pending, not memberships
    removed: bool = False


def _live(user: User | None, user_id: UUID) -> User:
    if user is None or user.removed:
        raise UserNotFound(f"user {user_id} not found")
    return user


def _hash(password_hash: str) -> str:
    if not password_hash.strip():
        raise MissingPasswordHash("a password hash is required")
    return password_hash


def register_user(user: User | None, cmd: RegisterUser, now: datetime) -> list[UserEvent]:
    """A new account, joining `cmd.org_id` too when given; the id must be fresh.

    The events carry the plain email and name: the handler seals them before they are appended.
    """
    if user is not None:
        raise UserAlreadyExists(f"user {cmd.user_id} already exists")
    _hash(cmd.password_hash)
    registered = UserRegistered(
        stream_id=cmd.user_id,
        version=1,
        occurred_at=now,
        email=normalize_email(cmd.email),
        display_name=check_name(cmd.display_name, what="display name"),
    )
    if cmd.org_id is None:
        return [registered]
    joined = UserJoinedOrg(
        stream_id=cmd.user_id, version=2, occurred_at=now, org_id=cmd.org_id, role=cmd.role
    )
    return [registered, joined]


def change_password(user: User | None, cmd: ChangePassword, now: datetime) -> list[UserEvent]:
    """Record the change and the new token generation (always: a reset must kill old tokens)."""
    current = _live(user, cmd.user_id)
    _hash(cmd.password_hash)
    return [
        UserPasswordChanged(
            stream_id=current.id,
            version=current.version + 1,
            occurred_at=now,
            token_generation=max(cmd.token_generation, current.token_generation + 1),
        )
    ]


def rename_user(user: User | None, cmd: RenameUser, now: datetime) -> list[UserEvent]:
    """Change the display name; the same name is a no-op."""
    current = _live(user, cmd.user_id)
    name = check_name(cmd.display_name, what="display name")
    if name == current.display_name:
        return []
    return [
        UserDisplayNameChanged(
            stream_id=current.id, version=current.version + 1, occurred_at=now, display_name=name
        )
    ]


def set_membership(user: User | None, cmd: SetMembership, now: datetime) -> list[UserEvent]:
    """Join the organisation, or change the role there; the same role is a no-op."""
    current = _live(user, cmd.user_id)
    role = current.memberships.get(cmd.org_id)
    version = current.version + 1
    if role is None:
        return [
            UserJoinedOrg(
                stream_id=current.id, version=version, occurred_at=now, org_id=cmd.org_id, role=cmd.role
            )
        ]
    if role == cmd.role:
        return []
    return [
        UserOrgRoleChanged(
            stream_id=current.id, version=version, occurred_at=now, org_id=cmd.org_id, role=cmd.role
        )
    ]


def invite_to_org(user: User | None, cmd: InviteToOrg, now: datetime) -> list[UserEvent]:
    """Invite the account into an organisation; a repeat is a no-op, a member is refused."""
    current = _live(user, cmd.user_id)
    if cmd.org_id in current.memberships:
        raise AlreadyMember("a user with this email is already a member of this organisation")
    if cmd.org_id in current.invitations:
        return []
    return [
        UserInvitedToOrg(
            stream_id=current.id, version=current.version + 1, occurred_at=now, org_id=cmd.org_id,
            role=cmd.role, display_name=cmd.display_name,
        )
    ]  # fmt: skip


def accept_invitation(user: User | None, cmd: AcceptInvitation, now: datetime) -> list[UserEvent]:
    """Join the organisation that invited the account, with the invited role."""
    current = _live(user, cmd.user_id)
    role = current.invitations.get(cmd.org_id)
    if role is None:
        raise MembershipNotFound(f"no invitation from organisation {cmd.org_id}")
    return [
        UserJoinedOrg(
            stream_id=current.id, version=current.version + 1, occurred_at=now, org_id=cmd.org_id, role=role
        )
    ]


def remove_membership(user: User | None, cmd: RemoveMembership, now: datetime) -> list[UserEvent]:
    """Leave the organisation (or withdraw its invitation); refused when neither."""
    current = _live(user, cmd.user_id)
    if cmd.org_id not in current.memberships and cmd.org_id not in current.invitations:
        raise MembershipNotFound(f"user {cmd.user_id} is not a member of organisation {cmd.org_id}")
    return [
        UserLeftOrg(stream_id=current.id, version=current.version + 1, occurred_at=now, org_id=cmd.org_id)
    ]


def remove_user(user: User | None, cmd: RemoveUser, now: datetime) -> list[UserEvent]:
    """Remove the account (the handler then releases the email claim and shreds the person's key)."""
    current = _live(user, cmd.user_id)
    return [UserRemoved(stream_id=current.id, version=current.version + 1, occurred_at=now)]


def _with_role(state: User, version: int, org_id: UUID, role: OrgRole | None) -> User:
    """Joining or leaving ends a pending invitation of that organisation too."""
    memberships = dict(state.memberships)
    if role is None:
        memberships.pop(org_id, None)
    else:
        memberships[org_id] = role
    invitations = {o: r for o, r in state.invitations.items() if o != org_id}
    return msgspec.structs.replace(state, version=version, memberships=memberships, invitations=invitations)


def evolve(state: User | None, event: UserEvent) -> User:
    """Fold one fact; never refuses."""
    match event:
        case UserRegistered(stream_id=id_, version=v, email=email, display_name=name):
            return User(id=id_, version=v, email=email, display_name=name)
        case UserPasswordChanged(version=v, token_generation=gen):
            assert state is not None
            return msgspec.structs.replace(state, version=v, token_generation=gen)
        case UserDisplayNameChanged(version=v, display_name=name):
            assert state is not None
            return msgspec.structs.replace(state, version=v, display_name=name)
        case (
            UserJoinedOrg(version=v, org_id=org_id, role=role)
            | UserOrgRoleChanged(version=v, org_id=org_id, role=role)
        ):
            assert state is not None
            return _with_role(state, v, org_id, role)
        case UserInvitedToOrg(version=v, org_id=org_id, role=role):
            assert state is not None
            invited = {**state.invitations, org_id: role}
            return msgspec.structs.replace(state, version=v, invitations=invited)
        case UserLeftOrg(version=v, org_id=org_id):
            assert state is not None
            return _with_role(state, v, org_id, None)
        case UserRemoved(version=v):
            assert state is not None
            return msgspec.structs.replace(
                state,
                version=v,
                removed=True,
                memberships={},
                invitations={},
                token_generation=state.token_generation + 1,
            )


def replay(events: Iterable[UserEvent]) -> User | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
