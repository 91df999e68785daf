"""Login sessions (`auth_sessions`, migration 0011): one per login, shared by the refresh-token family
and every access token minted in it (their `sid` claim).

A session has an absolute end (`TokenSettings.session_max_age` from its login): refreshing or switching
organisation never moves it, so a stolen refresh token is worth at most that long. Presenting a used
refresh token revokes the session, and with it every access token already issued in it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from readmodels.db import ReadDb, connection


async def start_session(
    db: ReadDb,
    *,
    family_id: UUID,
    user_id: UUID,
    now: datetime,
    ends_at: datetime,
    bound_org_id: UUID | None = None,
) -> None:
    """Record a new session (a repeat of the same family keeps the first); `bound_org_id`: an SSO
    session, which acts in that organisation only (migration 0014)."""
    async with connection(db) as conn:
        await conn.execute(
            "INSERT INTO auth_sessions (family_id, user_id, started_at, expires_at, bound_org_id)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (family_id) DO NOTHING",
            (family_id, user_id, now, ends_at, bound_org_id),
        )


async def session_end(db: ReadDb, family_id: UUID, *, now: datetime) -> datetime | None:
    """When the live session ends; None if unknown, revoked or already over."""
    async with connection(db) as conn:
        cur = await conn.execute(
            "SELECT expires_at FROM auth_sessions WHERE family_id = %s AND revoked_at IS NULL"
            " AND expires_at > %s",
            (family_id, now),
        )
        row = await cur.fetchone()
    return row[0] if row else None


async def revoke_session(db: ReadDb, family_id: UUID, *, now: datetime) -> None:
    """End the session at once: its refresh and access tokens stop working."""
    async with connection(db) as conn:
        await conn.execute(
            "UPDATE auth_sessions SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
            (now, family_id),
        )


async def session_binding(db: ReadDb, family_id: UUID) -> UUID | None:
    """The organisation an SSO session is bound to; None for a password session."""
    async with connection(db) as conn:
        cur = await conn.execute("SELECT bound_org_id FROM auth_sessions WHERE family_id = %s", (family_id,))
        row = await cur.fetchone()
    return row[0] if row else None
