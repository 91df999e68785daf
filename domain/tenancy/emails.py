"""The email-claim aggregate: one stream per lower-cased address makes emails unique."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import EmailAlreadyClaimed, FailedPrecondition
from domain.ids import normalize_email, stream_id
from domain.tenancy.commands import ClaimEmail, ReleaseEmail
from domain.tenancy.events import EmailClaimed, EmailEvent, EmailReleased


class EmailClaim(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    email: str
    user_id: UUID | None  # None once released


def email_stream(email: str) -> UUID:
    """The claim stream of an address (normalised first)."""
    return stream_id("email", normalize_email(email))


def claim_email(claim: EmailClaim | None, cmd: ClaimEmail, now: datetime) -> list[EmailEvent]:
    """Give the address to `user_id`; a repeat by the same user is a no-op, anyone else is refused."""
    email = normalize_email(cmd.email)
    if claim is not None and claim.user_id is not None:
        if claim.user_id == cmd.user_id:
            return []
        raise EmailAlreadyClaimed(f"email {email!r} is already in use")
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
        EmailReleased(
            stream_id=claim.id,
            version=claim.version + 1,
            occurred_at=now,
            email=claim.email,
            user_id=cmd.user_id,
        )
    ]


def evolve(state: EmailClaim | None, event: EmailEvent) -> EmailClaim:
    """Fold one fact; never refuses."""
    match event:
        case EmailClaimed(stream_id=id_, version=v, email=email, user_id=user_id):
            return EmailClaim(id=id_, version=v, email=email, user_id=user_id)
        case EmailReleased(stream_id=id_, version=v, email=email):
            return EmailClaim(id=id_, version=v, email=email, user_id=None)


def replay(events: Iterable[EmailEvent]) -> EmailClaim | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
