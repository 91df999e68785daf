"""Server-side SAML login state in PostgreSQL (migration 0015): outstanding requests and used assertions.

An outstanding request is found only by its RelayState (stored as sha256: the raw value lives only in
the browser's round trip), only for the provider it was made for, only before it expires, and only
once (`take_request` deletes what it returns in the same statement, so two racing callbacks cannot
both get it). A used assertion id is kept per provider until the assertion expires; recording it a
second time answers False (a replay). Every write also purges the expired rows of its table.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

import msgspec

from readmodels.db import ReadDb, connection


class PendingRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An AuthnRequest we sent: its id and the ACS URL it named."""

    request_id: str
    provider_id: UUID
    acs_url: str


def relay_state_hash(relay_state: str) -> str:
    return hashlib.sha256(relay_state.encode()).hexdigest()


async def remember_request(
    db: ReadDb, request: PendingRequest, *, relay_state: str, now: datetime, expires_at: datetime
) -> None:
    """Record an outstanding request under its RelayState until `expires_at`."""
    async with connection(db) as conn, conn.transaction():
        await conn.execute("DELETE FROM saml_pending_requests WHERE expires_at <= %s", (now,))
        await conn.execute(
            "INSERT INTO saml_pending_requests (relay_state_hash, request_id, provider_id, acs_url,"
            " created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                relay_state_hash(relay_state),
                request.request_id,
                request.provider_id,
                request.acs_url,
                now,
                expires_at,
            ),
        )


async def take_request(
    db: ReadDb, *, relay_state: str, provider_id: UUID, now: datetime
) -> PendingRequest | None:
    """The live request this RelayState names for this provider, removed; None if unknown, used, expired."""
    async with connection(db) as conn:
        cur = await conn.execute(
            "DELETE FROM saml_pending_requests WHERE relay_state_hash = %s AND provider_id = %s"
            " RETURNING request_id, acs_url, expires_at",
            (relay_state_hash(relay_state), provider_id),
        )
        row = await cur.fetchone()
    if row is None or row[2] <= now:
        return None
    return PendingRequest(request_id=row[0], provider_id=provider_id, acs_url=row[1])


async def first_use(
    db: ReadDb, *, provider_id: UUID, assertion_id: str, now: datetime, expires_at: datetime
) -> bool:
    """Record that an assertion was used; False when it already was (a replay)."""
    async with connection(db) as conn, conn.transaction():
        await conn.execute("DELETE FROM saml_used_assertions WHERE expires_at <= %s", (now,))
        cur = await conn.execute(
            "INSERT INTO saml_used_assertions (provider_id, assertion_id, expires_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (provider_id, assertion_id) DO NOTHING",
            (provider_id, assertion_id, expires_at),
        )
        return cur.rowcount == 1
