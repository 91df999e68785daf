"""The SAML replay cache (`saml_used_assertions`, migration 0015): an assertion logs in at most once.

A used assertion id is kept per provider until the assertion expires; recording it a second time
answers False. Each insert also purges the expired rows. (Outstanding requests and their RelayState
live in the shared SSO login state, gateway.sso.state, kind "saml".)
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from readmodels.db import ReadDb, connection

MAX_ASSERTION_ID_CHARS = 256


async def first_use(
    db: ReadDb, *, provider_id: UUID, assertion_id: str, now: datetime, expires_at: datetime
) -> bool:
    """Record that an assertion was used; False when it already was (a replay)."""
    async with connection(db) as conn, conn.transaction():
        await conn.execute("DELETE FROM saml_used_assertions WHERE expires_at <= %s", (now,))
        cur = await conn.execute(
            "INSERT INTO saml_used_assertions (provider_id, assertion_id, expires_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (provider_id, assertion_id) DO NOTHING",
            (provider_id, assertion_id[:MAX_ASSERTION_ID_CHARS], expires_at),
        )
        return cur.rowcount == 1
