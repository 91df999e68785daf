"""Refresh tokens: opaque, stored only as sha256 in `auth_refresh_tokens`, rotated on every use.

Session state rather than domain facts, so they live in a plain table, not the event log: rotation on
every refresh would flood the log, and the log is forever. Presenting an already-rotated token revokes
its whole family (a stolen token and its thief's successors die together) and its session
(`auth_sessions`, gateway/auth/sessions.py), which kills the access tokens issued in it as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID, uuid4

import msgspec
from psycopg_pool import AsyncConnectionPool

from gateway.auth.tokens import hash_secret, new_refresh_token


class RefreshGrant(msgspec.Struct, frozen=True, kw_only=True):
    """Who a valid refresh token speaks for."""

    user_id: UUID
    org_id: UUID
    credentials_version: int
    family_id: UUID


@runtime_checkable
class RefreshTokens(Protocol):
    """Issue, rotate and revoke refresh tokens."""

    async def issue(self, grant: RefreshGrant, *, now: datetime, expires_at: datetime) -> str:
        """Store a new token for the grant; returns the raw token (shown once)."""
        ...

    async def consume(self, raw: str, *, now: datetime) -> RefreshGrant | None:
        """Mark a live token used and return its grant; None if unknown, used, revoked or expired."""
        ...

    async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
        """Revoke every live token of the user."""
        ...


class PostgresRefreshTokens:
    """RefreshTokens over `auth_refresh_tokens` (migration 0004)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def issue(self, grant: RefreshGrant, *, now: datetime, expires_at: datetime) -> str:
        raw, digest = new_refresh_token()
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO auth_refresh_tokens (token_hash, family_id, user_id, org_id,"
                " credentials_version,"
                " issued_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    digest,
                    grant.family_id,
                    grant.user_id,
                    grant.org_id,
                    grant.credentials_version,
                    now,
                    expires_at,
                ),
            )
        return raw

    async def consume(self, raw: str, *, now: datetime) -> RefreshGrant | None:
        digest = hash_secret(raw)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE auth_refresh_tokens SET used_at = %s WHERE token_hash = %s AND used_at IS NULL"
                " AND revoked_at IS NULL AND expires_at > %s"
                " RETURNING user_id, org_id, credentials_version, family_id",
                (now, digest, now),
            )
            row = await cur.fetchone()
            if row is not None:
                return RefreshGrant(
                    user_id=row[0], org_id=row[1], credentials_version=row[2], family_id=row[3]
                )
            cur = await conn.execute(
                "SELECT family_id FROM auth_refresh_tokens WHERE token_hash = %s AND used_at IS NOT NULL",
                (digest,),
            )
            reused = await cur.fetchone()
            if reused is not None:  # a used token again: someone holds a copy; end the whole session
                for table in ("auth_refresh_tokens", "auth_sessions"):  # fixed names, never data
                    await conn.execute(
                        f"UPDATE {table} SET revoked_at = %s WHERE revoked_at IS NULL"
                        " AND family_id = %s".encode(),
                        (now, reused[0]),
                    )
        return None

    async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE auth_refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
                (now, user_id),
            )


class MemoryRefreshTokens:
    """RefreshTokens in a dict, for unit tests; the same rules for refresh tokens, but a reuse cannot end
    the session row in PostgreSQL (it records the family in `reused_families` instead)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[RefreshGrant, datetime, bool, bool]] = {}
        self.reused_families: set[UUID] = set()

    async def issue(self, grant: RefreshGrant, *, now: datetime, expires_at: datetime) -> str:
        raw, digest = new_refresh_token()
        self.rows[digest] = (grant, expires_at, False, False)
        return raw

    async def consume(self, raw: str, *, now: datetime) -> RefreshGrant | None:
        digest = hash_secret(raw)
        found = self.rows.get(digest)
        if found is None:
            return None
        grant, expires_at, used, revoked = found
        if used:
            self.reused_families.add(grant.family_id)
            for key, (g, e, u, _) in list(self.rows.items()):
                if g.family_id == grant.family_id:
                    self.rows[key] = (g, e, u, True)
            return None
        if revoked or expires_at <= now:
            return None
        self.rows[digest] = (grant, expires_at, True, revoked)
        return grant

    async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
        for key, (g, e, u, _) in list(self.rows.items()):
            if g.user_id == user_id:
                self.rows[key] = (g, e, u, True)


def new_family() -> UUID:
    return uuid4()
