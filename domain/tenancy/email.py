"""The email-claim aggregate: one stream per lower-cased address makes emails unique."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from domain.errors import EmailAlreadyClaimed, FailedPrecondition
from domain.ids import normalize_email, stream_id
from domain.tenancy.commands import ClaimEmail, ReleaseEmail
from domain.tenancy.events import EmailClaimed, EmailEvent, EmailReleased

# A claim whose user never registered is abandoned (a crash between the two appends) once it is older
# than this; then anyone may claim the address again.
ABANDONED_AFTER = timedelta(minutes=10)


class EmailClaim(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    email: str  # as stored: sealed with the holder's key
    user_id: UUID | None  # None once released
    claimed_at: datetime | None = None


def holder_gone(claim: EmailClaim, *, registered: bool, removed: bool, now: datetime) -> bool:
    """The holder can no longer use the claim: its account was removed, or it never registered in time."""
    if removed:
        return True
    return not registered and claim.claimed_at is not None and now - claim.claimed_at >= ABANDONED_AFTER


def email_stream(email: str) -> UUID:
    """The claim stream of an address (normalised first)."""
    return stream_id("email", normalize_email(email))


def claim_email(
    claim: EmailClaim | None, cmd: ClaimEmail, now: datetime, *, holder_is_gone: bool = False
) -> list[EmailEvent]:
    """Give the address to `user_id`; a repeat by the same user is a no-op, anyone else is refused
    unless the holder is gone (`holder_gone`), whose claim then passes to the new user."""
    email = normalize_email(cmd.email)
    if claim is not None and claim.user_id is not None and not holder_is_gone:
        if claim.user_id == cmd.user_id:
            return []
        raise EmailAlreadyClaimed("email is already in use")
    version = 0 if claim is None else claim.version
    return [
        EmailClaimed(
            stream_id=stream_id("email", email),
            version=version + 1,
            occurred_at=now,
            email=email,
            user_id=cmd.user_id,
        )
    ]


def release_email(claim: EmailClaim | None, cmd: ReleaseEmail, now: datetime) -> list[EmailEvent]:
    """Free the address; only its holder can release it, and releasing a free address is a no-op."""
    if claim is None or claim.user_id is None:
        return []
    if claim.user_id != cmd.user_id:
        raise FailedPrecondition("email is held by another user")
    return [
        EmailReleased(stream_id=claim.id, version=claim.version + 1, occurred_at=now, user_id=cmd.user_id)
    ]


def evolve(state: EmailClaim | None, event: EmailEvent) -> EmailClaim:
    """Fold one fact; never refuses."""
    match event:
        case EmailClaimed(stream_id=id_, version=v, email=email, user_id=user_id, occurred_at=at):
            return EmailClaim(id=id_, version=v, email=email, user_id=user_id, claimed_at=at)
        case EmailReleased(stream_id=id_, version=v):
            return EmailClaim(id=id_, version=v, email=state.email if state else "", user_id=None)


def replay(events: Iterable[EmailEvent]) -> EmailClaim | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
