"""Auth-provider read model (rm_auth_providers) and the org SSO requirement (rm_org_sso).

The row keeps the domain's folded provider (its `evolve`), so the view cannot disagree with the log.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from domain.auth_providers import provider as providers
from domain.auth_providers.events import AuthProviderEvent
from domain.envelope import RecordedEvent as Recorded
from domain.events import Event
from domain.tenancy.events import OrgSsoRequirementChanged

NAME = "auth_providers"
TABLES = ("rm_auth_providers", "rm_org_sso")

Tx = psycopg.AsyncConnection[Any]
_STATE = msgspec.json.Decoder(providers.AuthProvider)


async def apply(tx: Tx, event: Event, recorded: Recorded) -> None:
    """Fold provider events into their row; record the org switch; ignore everything else."""
    if isinstance(event, OrgSsoRequirementChanged):
        await tx.execute(
            "INSERT INTO rm_org_sso (org_id, require_sso, updated_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (org_id) DO UPDATE SET require_sso = EXCLUDED.require_sso,"
            " updated_at = EXCLUDED.updated_at",
            (event.stream_id, event.require_sso, event.occurred_at),
        )
    elif recorded.stream_type == "auth_provider":
        await _provider(tx, event, recorded)  # type: ignore[arg-type]


async def _provider(tx: Tx, event: AuthProviderEvent, recorded: Recorded) -> None:
    cur = await tx.execute("SELECT state::text FROM rm_auth_providers WHERE id = %s", (event.stream_id,))
    row = await cur.fetchone()
    before = _STATE.decode(row[0]) if row else None
    if before is not None and before.version >= event.version:
        return  # already applied (a replay)
    after = providers.evolve(before, event)
    await tx.execute(
        "INSERT INTO rm_auth_providers (id, org_id, provider_type, enabled, deleted, email_domains, state,"
        " version, position, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET provider_type = EXCLUDED.provider_type, enabled = EXCLUDED.enabled,"
        " deleted = EXCLUDED.deleted, email_domains = EXCLUDED.email_domains, state = EXCLUDED.state,"
        " version = EXCLUDED.version, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at",
        (
            after.id, after.org_id, after.config.provider_type.value, after.config.enabled, after.deleted,
            list(after.config.email_domains), msgspec.json.encode(after).decode(), after.version,
            recorded.position, after.created_at, after.updated_at,
        ),
    )  # fmt: skip
