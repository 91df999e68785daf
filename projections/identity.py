"""Identity projection: users, memberships and SDK keys (rm_users, rm_memberships, rm_sdk_keys)."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event
from domain.tenancy.events import (
    SdkKeyIssued,
    SdkKeyRevoked,
    UserDisplayNameChanged,
    UserInvitedToOrg,
    UserJoinedOrg,
    UserLeftOrg,
    UserOrgRoleChanged,
    UserPasswordChanged,
    UserRegistered,
    UserRemoved,
)
from readmodels.vault import ERASED, open_sealed

NAME = "identity"
TABLES = ("rm_users", "rm_memberships", "rm_invitations", "rm_sdk_keys")

Tx = psycopg.AsyncConnection[Any]


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one tenancy event into the identity tables; other events are ignored."""
    match event:
        case UserRegistered() | UserPasswordChanged() | UserDisplayNameChanged() | UserRemoved():
            await _user(tx, event, recorded)
        case UserJoinedOrg() | UserOrgRoleChanged() | UserLeftOrg() | UserInvitedToOrg():
            await _membership(tx, event)
        case SdkKeyIssued() | SdkKeyRevoked():
            await _sdk_key(tx, event, recorded)
        case _:
            return


async def _user(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Personal data is opened with its owner's key inside the transaction; once the key is shredded
    (or on a replay after it was) the row holds the erased placeholder instead."""
    at, pos, uid = event.occurred_at, recorded.position, event.stream_id
    match event:
        case UserRegistered(email=email, display_name=name):
            await tx.execute(
                "INSERT INTO rm_users (user_id, email, display_name, created_at, updated_at, position)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING",
                (uid, await open_sealed(tx, uid, email), await open_sealed(tx, uid, name), at, at, pos),
            )
        case UserPasswordChanged(token_generation=generation):
            await tx.execute(
                "UPDATE rm_users SET token_generation = %s, updated_at = %s, position = %s"
                " WHERE user_id = %s",
                (generation, at, pos, uid),
            )
        case UserDisplayNameChanged(display_name=name):
            await tx.execute(
                "UPDATE rm_users SET display_name = %s, updated_at = %s, position = %s WHERE user_id = %s",
                (await open_sealed(tx, uid, name), at, pos, uid),
            )
        case UserRemoved():
            await tx.execute(
                "UPDATE rm_users SET removed = true, email = %s, display_name = %s, updated_at = %s,"
                " position = %s WHERE user_id = %s",
                (ERASED, ERASED, at, pos, uid),
            )
            await tx.execute("DELETE FROM rm_memberships WHERE user_id = %s", (uid,))
            await tx.execute("DELETE FROM rm_invitations WHERE user_id = %s", (uid,))


async def _membership(tx: Tx, event: Event) -> None:
    """Memberships, and invitations, which joining or leaving that organisation ends."""
    if isinstance(event, UserJoinedOrg | UserLeftOrg):
        await tx.execute(
            "DELETE FROM rm_invitations WHERE user_id = %s AND org_id = %s", (event.stream_id, event.org_id)
        )
    match event:
        case UserInvitedToOrg(org_id=org, role=role, display_name=name):
            shown = await open_sealed(tx, event.stream_id, name)
            await tx.execute(
                "INSERT INTO rm_invitations (user_id, org_id, role, display_name, invited_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, org_id) DO NOTHING",
                (event.stream_id, org, str(role), shown, event.occurred_at),
            )
        case UserJoinedOrg(org_id=org, role=role) | UserOrgRoleChanged(org_id=org, role=role):
            await tx.execute(
                "INSERT INTO rm_memberships (user_id, org_id, role, joined_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (user_id, org_id) DO UPDATE SET role = EXCLUDED.role",
                (event.stream_id, org, str(role), event.occurred_at),
            )
        case UserLeftOrg(org_id=org):
            await tx.execute(
                "DELETE FROM rm_memberships WHERE user_id = %s AND org_id = %s", (event.stream_id, org)
            )


async def _sdk_key(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    meta = recorded.metadata
    match event:
        case SdkKeyIssued(key_id=key_id, name=name, key_hash=digest, prefix=prefix):
            await tx.execute(
                "INSERT INTO rm_sdk_keys (key_id, environment_id, project_id, org_id, name, prefix, key_hash,"
                " status, created_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s, %s)"
                " ON CONFLICT (key_id) DO NOTHING",
                (
                    key_id,
                    event.stream_id,
                    meta.project_id,
                    meta.org_id,
                    name,
                    prefix,
                    digest,
                    event.occurred_at,
                    recorded.position,
                ),
            )
        case SdkKeyRevoked(key_id=key_id):
            await tx.execute(
                "UPDATE rm_sdk_keys SET status = 'revoked', revoked_at = %s, position = %s WHERE key_id = %s",
                (event.occurred_at, recorded.position, key_id),
            )
