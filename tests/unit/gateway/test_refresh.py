"""Refresh tokens rotate; reusing a rotated one revokes its whole family."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from gateway.auth.refresh import MemoryRefreshTokens, RefreshGrant

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _grant() -> RefreshGrant:
    return RefreshGrant(user_id=uuid4(), org_id=uuid4(), credentials_version=0, family_id=uuid4())


async def test_refresh_token_works_once() -> None:
    tokens, grant = MemoryRefreshTokens(), _grant()
    raw = await tokens.issue(grant, now=NOW, expires_at=NOW + timedelta(days=1))
    assert await tokens.consume(raw, now=NOW) == grant
    assert await tokens.consume(raw, now=NOW) is None


async def test_reuse_of_a_rotated_token_revokes_the_family() -> None:
    tokens, grant = MemoryRefreshTokens(), _grant()
    first = await tokens.issue(grant, now=NOW, expires_at=NOW + timedelta(days=1))
    await tokens.consume(first, now=NOW)
    second = await tokens.issue(grant, now=NOW, expires_at=NOW + timedelta(days=1))
    assert await tokens.consume(first, now=NOW) is None
    assert await tokens.consume(second, now=NOW) is None


async def test_expired_and_revoked_tokens_are_refused() -> None:
    tokens, grant = MemoryRefreshTokens(), _grant()
    raw = await tokens.issue(grant, now=NOW, expires_at=NOW + timedelta(days=1))
    assert await tokens.consume(raw, now=NOW + timedelta(days=2)) is None
    other = await tokens.issue(grant, now=NOW, expires_at=NOW + timedelta(days=1))
    await tokens.revoke_user(grant.user_id, now=NOW)
    assert await tokens.consume(other, now=NOW) is None
