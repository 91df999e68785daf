"""Server-side one-time state of SSO logins in flight (`sso_login_states`, migration 0014).

The browser carries only a random value; the table keys its SHA-256. `take_state` consumes the row in
one `DELETE ... RETURNING`: of two callbacks racing with the same value exactly one gets the row, and
an expired, unknown or already used value gets nothing. The SAML side stores its RelayState and
AuthnRequest id here with kind "saml" (its `data` holds what it must check at the ACS).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from psycopg.types.json import Jsonb

from gateway.errors import ResourceExhausted
from readmodels.db import ReadDb, connection

MAX_PENDING_PER_PROVIDER = 10_000  # logins in flight: unauthenticated callers cannot fill the table


class LoginState(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    provider_id: UUID
    org_id: UUID
    redirect_uri: str
    data: dict[str, Any]
    expires_at: datetime


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def put_state(
    db: ReadDb,
    *,
    kind: str,
    provider_id: UUID,
    org_id: UUID,
    redirect_uri: str,
    data: dict[str, Any],
    now: datetime,
    ttl: timedelta,
) -> str:
    """Store a fresh login state and return its value (256 random bits) for the browser."""
    value = secrets.token_urlsafe(32)
    async with connection(db) as conn:
        await conn.execute("DELETE FROM sso_login_states WHERE expires_at < %s", (now,))
        cur = await conn.execute(
            "SELECT count(*) FROM sso_login_states WHERE provider_id = %s", (provider_id,)
        )
        row = await cur.fetchone()
        if row is not None and int(row[0]) >= MAX_PENDING_PER_PROVIDER:
            raise ResourceExhausted("too many logins in flight for this provider, retry later")
        await conn.execute(
            "INSERT INTO sso_login_states (state_hash, kind, provider_id, org_id, redirect_uri, data,"
            " created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (_digest(value), kind, provider_id, org_id, redirect_uri, Jsonb(data), now, now + ttl),
        )
    return value


async def take_state(db: ReadDb, value: str, *, kind: str, now: datetime) -> LoginState | None:
    """Consume the state (whatever happens next, it cannot be used again); None if unknown or expired."""
    async with connection(db) as conn:
        cur = await conn.execute(
            "DELETE FROM sso_login_states WHERE state_hash = %s AND kind = %s RETURNING kind, provider_id,"
            " org_id, redirect_uri, data, expires_at",
            (_digest(value), kind),
        )
        row = await cur.fetchone()
    if row is None or row[5] <= now:
        return None
    return LoginState(
        kind=row[0], provider_id=row[1], org_id=row[2], redirect_uri=row[3], data=row[4], expires_at=row[5]
    )
