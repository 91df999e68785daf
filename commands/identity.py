"""Identity handlers for the bus: users, email claims, memberships and passwords (hashes only, never raw
passwords). Registering claims the email and registers the account in ONE changeset (both or neither).

The vault (password hashes, personal-data keys) is written before the append, as the events refer to
what it holds; removing an account forgets its vault entries after the append (`forget_account`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from commands.bus import CommandBus, Context, Handler, Outcome
from commands.eventstore import EventStore, Metadata
from commands.kinds import EMAIL, KINDS, ORG
from commands.kinds import USER as USER_KIND
from commands.streams import Clock, OrgScope, Written
from commands.vault import IdentityVault
from domain.errors import AlreadyMember, EmailAlreadyClaimed, OrgNotFound, UserNotFound
from domain.events import Command, Event
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

E = TypeVar("E", bound=Event)
_PERSONAL_FIELDS = ("email", "display_name")


def _derived(command_id: UUID, step: str) -> UUID:
    """A stable id for one step of a multi-stream command (the id its domain command carries)."""
    return stream_id("command-step", command_id, step)


def _meta(ctx: Context, org_id: UUID | None) -> Metadata:
    return Metadata(actor=ctx.scope.actor, org_id=org_id, command_id=ctx.command_id)


async def _org_exists(ctx: Context, org_id: UUID | None) -> None:
    if org_id is not None and await ctx.load(ORG, org_id) is None:
        raise OrgNotFound(f"organisation {org_id} not found")


async def live_user(ctx: Context, user_id: UUID) -> users.User:
    """The live user's state, or UserNotFound."""
    user: users.User | None = await ctx.load(USER_KIND, user_id)
    if user is None or user.removed:
        raise UserNotFound(f"user {user_id} not found")
    return user


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


async def _holder(ctx: Context, email: str, user_id: UUID, now: datetime) -> tuple[users.User | None, bool]:
    """(the other live account holding the address, whether the claim's holder is gone)."""
    claim: emails.EmailClaim | None = await ctx.load(EMAIL, emails.email_stream(email))
    if claim is None or claim.user_id is None or claim.user_id == user_id:
        return None, False
    user: users.User | None = await ctx.load(USER_KIND, claim.user_id)
    removed = user is not None and user.removed
    if emails.holder_gone(claim, registered=user is not None, removed=removed, now=now):
        return None, True
    if user is None:  # being registered right now by someone else
        raise EmailAlreadyClaimed("email is already in use")
    return user, False


async def register_user_step(cmd: RegisterUser, ctx: Context, *, vault: IdentityVault) -> UUID:
    """Claim the email and register the user (joining `cmd.org_id` when given); the reply is the
    account's id.

    When the address belongs to another live account, that account is invited into `cmd.org_id`
    instead (it joins only if its owner accepts; the password in the command is not applied): the
    answer looks the same either way, so creating a user never tells an org admin that the address
    exists elsewhere, and no organisation can pull a stranger's account in. A claim left by an older
    release's crash between the two appends is completed by the same command, and taken over by anyone
    once abandoned (`emails.ABANDONED_AFTER`).
    """
    await _org_exists(ctx, cmd.org_id)
    holder, gone = await _holder(ctx, cmd.email, cmd.user_id, ctx.now)
    if holder is not None:
        return await _invite(holder, cmd, ctx, vault)
    email, name = normalize_email(cmd.email), check_name(cmd.display_name, what="display name")
    claim = ClaimEmail(command_id=_derived(cmd.command_id, "claim"), email=email, user_id=cmd.user_id)
    stream = emails.email_stream(email)
    claimed = emails.claim_email(await ctx.load(EMAIL, stream), claim, ctx.now, holder_is_gone=gone)
    registered = users.register_user(await ctx.load(USER_KIND, cmd.user_id), cmd, ctx.now)
    # Decided (refusals raised) before the vault is written: a refused command leaves it untouched.
    sealed = {email: await vault.seal(cmd.user_id, email), name: await vault.seal(cmd.user_id, name)}
    await vault.add_password(cmd.user_id, cmd.password_hash, now=ctx.now)
    ctx.emit(stream, _sealed(claimed, sealed), metadata=_meta(ctx, cmd.org_id))
    ctx.emit(cmd.user_id, _sealed(registered, sealed), metadata=_meta(ctx, cmd.org_id))
    return cmd.user_id


async def _invite(holder: users.User, cmd: RegisterUser, ctx: Context, vault: IdentityVault) -> UUID:
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
    ctx.emit(holder.id, users.invite_to_org(holder, invite, ctx.now), metadata=_meta(ctx, cmd.org_id))
    return holder.id


def account_of(outcome: Outcome, cmd: RegisterUser) -> UUID:
    """The account a RegisterUser answered with (an invited account's on a repeat too)."""
    if outcome.replies:
        return UUID(str(outcome.replies[0]))
    email_stream = emails.email_stream(normalize_email(cmd.email))
    return next((w.stream_id for w in outcome.written if w.stream_id != email_stream), cmd.user_id)


async def accept_invitation_step(cmd: AcceptInvitation, ctx: Context) -> None:
    """The account's owner accepts: it becomes a member with the invited role."""
    await _org_exists(ctx, cmd.org_id)
    user = await ctx.load(USER_KIND, cmd.user_id)
    ctx.emit(cmd.user_id, users.accept_invitation(user, cmd, ctx.now), metadata=_meta(ctx, cmd.org_id))


async def set_membership_step(cmd: SetMembership, ctx: Context) -> None:
    """Join an organisation or change the role there."""
    await _org_exists(ctx, cmd.org_id)
    user = await ctx.load(USER_KIND, cmd.user_id)
    ctx.emit(cmd.user_id, users.set_membership(user, cmd, ctx.now), metadata=_meta(ctx, cmd.org_id))


async def remove_membership_step(cmd: RemoveMembership, ctx: Context) -> None:
    """Leave an organisation (or decline / withdraw an invitation); its tokens there stop working."""
    user = await ctx.load(USER_KIND, cmd.user_id)
    ctx.emit(cmd.user_id, users.remove_membership(user, cmd, ctx.now), metadata=_meta(ctx, cmd.org_id))


async def change_password_step(cmd: ChangePassword, ctx: Context, *, vault: IdentityVault) -> None:
    """Store the new hash and bump the token generation in the vault (every older token is dead from
    then on), then record the change (without the hash) in the log."""
    user = await live_user(ctx, cmd.user_id)
    generation = await vault.replace_password(cmd.user_id, cmd.password_hash, now=ctx.now)
    stamped = msgspec.structs.replace(cmd, token_generation=generation)
    ctx.emit(cmd.user_id, users.change_password(user, stamped, ctx.now), metadata=_meta(ctx, None))


async def remove_user_step(cmd: RemoveUser, ctx: Context, *, vault: IdentityVault) -> None:
    """Remove the account and free its email in one changeset (`forget_account` then drops its vault
    entries)."""
    user: users.User | None = await ctx.load(USER_KIND, cmd.user_id)
    email = await vault.open(cmd.user_id, user.email) if user is not None else None
    ctx.emit(cmd.user_id, users.remove_user(user, cmd, ctx.now), metadata=_meta(ctx, None))
    if user is not None and email is not None and "@" in email:
        release = ReleaseEmail(
            command_id=_derived(cmd.command_id, "release"), email=email, user_id=cmd.user_id
        )
        stream = emails.email_stream(email)
        released = emails.release_email(await ctx.load(EMAIL, stream), release, ctx.now)
        ctx.emit(stream, released, metadata=_meta(ctx, None))


async def forget_account(vault: IdentityVault, user_id: UUID) -> None:
    """After the account's removal is appended: forget its password and shred its personal data key."""
    await vault.drop_password(user_id)
    await vault.erase(user_id)


MEMBERSHIP_HANDLERS: Mapping[type[Command], Handler] = {
    AcceptInvitation: accept_invitation_step,
    SetMembership: set_membership_step,
    RemoveMembership: remove_membership_step,
}


def identity_handlers(vault: IdentityVault) -> dict[type[Command], Handler]:
    """The identity rows of the bus's handler table."""
    return {
        **MEMBERSHIP_HANDLERS,
        RegisterUser: functools.partial(register_user_step, vault=vault),
        ChangePassword: functools.partial(change_password_step, vault=vault),
        RemoveUser: functools.partial(remove_user_step, vault=vault),
    }


# --- one command through a bus of these handlers alone (the CLI, tests) ---------------------------


async def _one(store: EventStore, clock: Clock, vault: IdentityVault | None, cmd: Command, actor: str,
               org_id: UUID | None, stream: UUID) -> tuple[Outcome, Written]:  # fmt: skip
    table = MEMBERSHIP_HANDLERS if vault is None else identity_handlers(vault)
    bus = CommandBus(store, table, KINDS, clock=clock)
    outcome = await bus.handle(cmd, OrgScope(actor=actor, org_id=org_id))
    return outcome, Written.from_outcome(outcome, stream)


async def register_user(
    cmd: RegisterUser, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    """Register (or invite, see `register_user_step`); `written.stream_id` is the account's id."""
    outcome, _ = await _one(store, clock, vault, cmd, actor, cmd.org_id, cmd.user_id)
    return Written.from_outcome(outcome, account_of(outcome, cmd))


async def accept_invitation(cmd: AcceptInvitation, *, store: EventStore, clock: Clock, actor: str) -> Written:
    return (await _one(store, clock, None, cmd, actor, cmd.org_id, cmd.user_id))[1]


async def set_membership(cmd: SetMembership, *, store: EventStore, clock: Clock, actor: str) -> Written:
    return (await _one(store, clock, None, cmd, actor, cmd.org_id, cmd.user_id))[1]


async def change_password(
    cmd: ChangePassword, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    return (await _one(store, clock, vault, cmd, actor, None, cmd.user_id))[1]


async def remove_user(
    cmd: RemoveUser, *, store: EventStore, clock: Clock, actor: str, vault: IdentityVault
) -> Written:
    written = (await _one(store, clock, vault, cmd, actor, None, cmd.user_id))[1]
    await forget_account(vault, cmd.user_id)
    return written
