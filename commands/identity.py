"""Identity handlers: users, email claims, memberships and passwords (hashes only, never raw passwords)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar
from uuid import UUID

import msgspec

from commands.encoding import load_stream
from commands.eventstore import EventStore, Metadata
from commands.tenancy import Clock, Written, decide_and_append, load_org
from commands.vault import IdentityVault
from domain.errors import AlreadyMember, EmailAlreadyClaimed, UserNotFound
from domain.events import Event
from domain.ids import check_name, normalize_email, stream_id
from domain.tenancy import email as emails
from domain.tenancy import user as users
from domain.tenancy.commands import (
    AcceptInvitation,
    ChangePassword,
    ClaimEmail,
    InviteToOrg,
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


async def register_user(
    cmd: RegisterUser, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    """Claim the email and register the user (joining `cmd.org_id` when given); `written.stream_id` is
    the account's id.

    When the address belongs to another live account, that account is invited into `cmd.org_id`
    instead (it joins only if its owner accepts; the password in the command is not applied): the
    answer looks the same either way, so creating a user never tells an org admin that the address
    exists elsewhere, and no organisation can pull a stranger's account in. A crash between the
    claim and the registration leaves a claim the same command completes on retry, and which anyone
    may take over once it is abandoned (`emails.ABANDONED_AFTER`).
    """
    if cmd.org_id is not None:
        await load_org(store, cmd.org_id)
    holder, gone = await _holder(store, cmd.email, cmd.user_id, clock())
    if holder is not None:
        return await _invite(holder, cmd, store=store, clock=clock, actor=actor, vault=vault)
    email, name = normalize_email(cmd.email), check_name(cmd.display_name, what="display name")
    sealed = {email: await vault.seal(cmd.user_id, email), name: await vault.seal(cmd.user_id, name)}
    await vault.add_password(cmd.user_id, cmd.password_hash, now=clock())
    claim = ClaimEmail(command_id=_derived(cmd.command_id, "claim"), email=email, user_id=cmd.user_id)
    await _on_email(
        store,
        claim,
        lambda s: _sealed(emails.claim_email(s, claim, clock(), holder_is_gone=gone), sealed),
        actor=actor,
        org_id=cmd.org_id,
    )
    _, written = await _on_user(
        store,
        cmd,
        lambda s: _sealed(users.register_user(s, cmd, clock()), sealed),
        actor=actor,
        org_id=cmd.org_id,
    )
    return written


_PERSONAL_FIELDS = ("email", "display_name")
E = TypeVar("E", bound=Event)


def _sealed(events: Sequence[E], sealed: Mapping[str, str]) -> list[E]:
    """The events with every personal field that holds a plain value from `sealed` replaced by its sealed
    form (other values were copied from stored, already sealed, state)."""
    out = []
    for event in events:
        changes = {
            f: sealed[v]
            for f in _PERSONAL_FIELDS
            if isinstance(v := getattr(event, f, None), str) and v in sealed
        }
        out.append(msgspec.structs.replace(event, **changes) if changes else event)
    return out


async def _holder(
    store: EventStore, email: str, user_id: UUID, now: datetime
) -> tuple[users.User | None, bool]:
    """(the other live account holding the address, whether the claim's holder is gone)."""
    claim = emails.replay(await load_stream(store, emails.email_stream(email)))  # type: ignore[arg-type]
    if claim is None or claim.user_id is None or claim.user_id == user_id:
        return None, False
    user = users.replay(await load_stream(store, claim.user_id))  # type: ignore[arg-type]
    removed = user is not None and user.removed
    if emails.holder_gone(claim, registered=user is not None, removed=removed, now=now):
        return None, True
    if user is None:  # being registered right now by someone else
        raise EmailAlreadyClaimed("email is already in use")
    return user, False


async def _invite(
    holder: users.User,
    cmd: RegisterUser,
    *,
    store: EventStore,
    clock: Clock,
    actor: str,
    vault: IdentityVault,
) -> Written:
    """Invite the holder of the address into `cmd.org_id` under the name the inviter typed (sealed)."""
    if cmd.org_id is None:  # no organisation to invite into (an operator's seeding)
        raise EmailAlreadyClaimed("email is already in use")
    if cmd.org_id in holder.memberships:
        raise AlreadyMember("a user with this email is already a member of this organisation")
    name = await vault.seal(holder.id, check_name(cmd.display_name, what="display name"))
    invite = InviteToOrg(
        command_id=_derived(cmd.command_id, "invite"), user_id=holder.id, org_id=cmd.org_id, role=cmd.role,
        display_name=name,
    )  # fmt: skip
    _, written = await _on_user(
        store, invite, lambda s: users.invite_to_org(s, invite, clock()), actor=actor, org_id=cmd.org_id
    )
    return written


async def accept_invitation(cmd: AcceptInvitation, *, store: EventStore, clock: Clock, actor: str) -> Written:
    """The account's owner accepts: it becomes a member with the invited role."""
    await load_org(store, cmd.org_id)
    _, written = await _on_user(
        store, cmd, lambda s: users.accept_invitation(s, cmd, clock()), actor=actor, org_id=cmd.org_id
    )
    return written


async def load_user(store: EventStore, user_id: UUID) -> users.User:
    """The live user's state, or UserNotFound."""
    user = users.replay(await load_stream(store, user_id))  # type: ignore[arg-type]
    if user is None or user.removed:
        raise UserNotFound(f"user {user_id} not found")
    return user


async def change_password(
    cmd: ChangePassword, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    """Store the new hash and bump the token generation in the vault (every older token is dead from
    then on), then record the change (without the hash) in the log."""
    await load_user(store, cmd.user_id)
    generation = await vault.replace_password(cmd.user_id, cmd.password_hash, now=clock())
    stamped = msgspec.structs.replace(cmd, token_generation=generation)
    _, written = await _on_user(
        store, stamped, lambda s: users.change_password(s, stamped, clock()), actor=actor
    )
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


async def remove_user(
    cmd: RemoveUser, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    """Remove the account, free its email, forget its password and shred its personal data key."""
    user = users.replay(await load_stream(store, cmd.user_id))  # type: ignore[arg-type]
    email = await vault.open(cmd.user_id, user.email) if user is not None else None
    before, written = await _on_user(store, cmd, lambda s: users.remove_user(s, cmd, clock()), actor=actor)
    position = written.position
    if before is not None and email is not None and "@" in email:
        release = ReleaseEmail(
            command_id=_derived(cmd.command_id, "release"), email=email, user_id=cmd.user_id
        )
        released = await _on_email(
            store, release, lambda s: emails.release_email(s, release, clock()), actor=actor
        )
        position = max(position, released.position)
    await vault.drop_password(cmd.user_id)
    await vault.erase(cmd.user_id)
    return Written(stream_id=cmd.user_id, position=position, version=written.version)
