"""Identity handlers: users, email claims, memberships and passwords (hashes only, never raw passwords)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from commands.encoding import load_stream
from commands.eventstore import EventStore, Metadata
from commands.tenancy import Clock, Written, decide_and_append, load_org
from domain.errors import UserNotFound
from domain.events import Event
from domain.ids import stream_id
from domain.tenancy import emails, users
from domain.tenancy.commands import (
    ChangePassword,
    ClaimEmail,
    RegisterUser,
    ReleaseEmail,
    RemoveMembership,
    RemoveUser,
    SetMembership,
)


class _UserCommand(Protocol):
    @property
    def command_id(self) -> UUID: ...
    @property
    def user_id(self) -> UUID: ...


class _EmailCommand(Protocol):
    @property
    def command_id(self) -> UUID: ...
    @property
    def email(self) -> str: ...


def _derived(command_id: UUID, step: str) -> UUID:
    """A stable id for one step of a multi-stream command, so a retried command repeats every step."""
    return stream_id("command-step", command_id, step)


async def _on_user(
    store: EventStore,
    cmd: _UserCommand,
    decide: Callable[[users.User | None], Sequence[Event]],
    *,
    actor: str,
    org_id: UUID | None = None,
) -> tuple[users.User | None, Written]:
    """Decide on the command's user stream and append, the command id keying the append."""
    meta = Metadata(actor=actor, org_id=org_id)
    return await decide_and_append(
        store, cmd.user_id, "user", users.replay, decide, command_id=cmd.command_id, metadata=meta
    )


async def _on_email(
    store: EventStore,
    cmd: _EmailCommand,
    decide: Callable[[emails.EmailClaim | None], Sequence[Event]],
    *,
    actor: str,
    org_id: UUID | None = None,
) -> Written:
    """Decide on the command's email-claim stream and append, the command id keying the append."""
    meta = Metadata(actor=actor, org_id=org_id)
    stream = emails.email_stream(cmd.email)
    _, written = await decide_and_append(
        store, stream, "email", emails.replay, decide, command_id=cmd.command_id, metadata=meta
    )
    return written


async def register_user(cmd: RegisterUser, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """Claim the email, then register the user (joining `cmd.org_id` when given).

    A crash between the two leaves a claim for a user id that never registered; retrying the same
    command (same command id) completes it, since the claim by the same user is a no-op.
    """
    if cmd.org_id is not None:
        await load_org(store, cmd.org_id)
    claim = ClaimEmail(command_id=_derived(cmd.command_id, "claim"), email=cmd.email, user_id=cmd.user_id)
    await _on_email(
        store, claim, lambda s: emails.claim_email(s, claim, clock()), actor=actor, org_id=cmd.org_id
    )
    _, written = await _on_user(
        store, cmd, lambda s: users.register_user(s, cmd, clock()), actor=actor, org_id=cmd.org_id
    )
    return written


async def load_user(store: EventStore, user_id: UUID) -> users.User:
    """The live user's state, or UserNotFound."""
    user = users.replay(await load_stream(store, user_id))  # type: ignore[arg-type]
    if user is None or user.removed:
        raise UserNotFound(f"user {user_id} not found")
    return user


async def change_password(cmd: ChangePassword, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """Store a new hash; every token minted before is dead from now on."""
    _, written = await _on_user(store, cmd, lambda s: users.change_password(s, cmd, clock()), actor=actor)
    return written


async def set_membership(cmd: SetMembership, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """Join an organisation or change the role there."""
    await load_org(store, cmd.org_id)
    _, written = await _on_user(
        store, cmd, lambda s: users.set_membership(s, cmd, clock()), actor=actor, org_id=cmd.org_id
    )
    return written


async def remove_membership(cmd: RemoveMembership, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """Leave an organisation; the user's tokens for it stop working."""
    _, written = await _on_user(
        store, cmd, lambda s: users.remove_membership(s, cmd, clock()), actor=actor, org_id=cmd.org_id
    )
    return written


async def remove_user(cmd: RemoveUser, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """Remove the account and free its email."""
    before, written = await _on_user(store, cmd, lambda s: users.remove_user(s, cmd, clock()), actor=actor)
    if before is None:
        return written
    release = ReleaseEmail(
        command_id=_derived(cmd.command_id, "release"), email=before.email, user_id=cmd.user_id
    )
    released = await _on_email(
        store, release, lambda s: emails.release_email(s, release, clock()), actor=actor
    )
    return Written(
        stream_id=cmd.user_id, position=max(written.position, released.position), version=written.version
    )
