"""Auth-provider queries over rm_auth_providers and rm_org_sso (eventually consistent with the log).

Rows carry the folded provider, the OIDC client secret in it still sealed: callers that answer HTTP
must redact it (gateway.sso.views), callers that log in open it (gateway.sso.secrets).
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from domain.auth_providers.provider import AuthProvider
from readmodels.db import ReadDb, connection

MAX_PROVIDERS_LISTED = 200
_STATE = msgspec.json.Decoder(AuthProvider)


async def _states(db: ReadDb, where: str, params: tuple[object, ...]) -> list[AuthProvider]:
    async with connection(db) as conn:
        cur = await conn.execute(
            f"SELECT state::text FROM rm_auth_providers WHERE NOT deleted AND {where}"
            f" ORDER BY created_at, id LIMIT {MAX_PROVIDERS_LISTED}".encode(),
            params,
        )
        rows = await cur.fetchall()
    return [_STATE.decode(r[0]) for r in rows]


async def org_providers(db: ReadDb, org_id: UUID) -> list[AuthProvider]:
    """The organisation's providers (enabled or not), oldest first."""
    return await _states(db, "org_id = %s", (org_id,))


async def get_provider(db: ReadDb, provider_id: UUID) -> AuthProvider | None:
    """One live provider of any organisation: the caller checks it is theirs."""
    found = await _states(db, "id = %s", (provider_id,))
    return found[0] if found else None


async def enabled_for_domain(db: ReadDb, domain: str) -> list[AuthProvider]:
    """Enabled providers that list the email domain."""
    return await _states(db, "enabled AND email_domains @> ARRAY[%s]::text[]", (domain,))


async def enabled_for_org(db: ReadDb, org_id: UUID) -> list[AuthProvider]:
    """The organisation's enabled providers."""
    return await _states(db, "enabled AND org_id = %s", (org_id,))


async def requires_sso(db: ReadDb, org_id: UUID) -> bool:
    """Whether the organisation refuses password logins of its non-system members."""
    async with connection(db) as conn:
        cur = await conn.execute("SELECT require_sso FROM rm_org_sso WHERE org_id = %s", (org_id,))
        row = await cur.fetchone()
    return bool(row and row[0])


async def ever_in_org(db: ReadDb, provider_id: UUID, org_id: UUID) -> bool:
    """Whether the provider is (or, deleted, was) the organisation's: its audit stays readable."""
    async with connection(db) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM rm_auth_providers WHERE id = %s AND org_id = %s", (provider_id, org_id)
        )
        return await cur.fetchone() is not None
