"""Idempotency-Key binding: a key, once used, belongs to the request body it first came with.

Every route that accepts `Idempotency-Key` derives its command id from the key (gateway.writes,
gateway.tenancy); before the command runs, the id is bound to a fingerprint of the decoded body in
`idempotency_keys` (migration 0011). A retry with the same body goes on and repeats the first result;
the same key with another body answers 422 instead of answering as if the new body had been applied.
The first body wins even when its request failed: a corrected request needs a new key.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

import msgspec

from gateway.errors import ApiError
from readmodels.db import ReadDb, connection


class IdempotencyKeyReused(ApiError, code="INVALID_ARGUMENT", status=422):  # noqa: N818 - like its peers
    """The Idempotency-Key was first used with a different request."""


def fingerprint(body: object) -> str:
    """A digest of the decoded request (field order and spacing of the raw JSON do not matter)."""
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


async def bind_key(db: ReadDb, command_id: UUID, body: object) -> None:
    """Bind `command_id` to `body` on first use; IdempotencyKeyReused when it is bound to another."""
    digest = fingerprint(body)
    async with connection(db) as conn:
        cur = await conn.execute(
            "INSERT INTO idempotency_keys (command_id, fingerprint) VALUES (%s, %s)"
            " ON CONFLICT (command_id) DO UPDATE SET fingerprint = idempotency_keys.fingerprint"
            " RETURNING fingerprint",
            (command_id, digest),
        )
        row = await cur.fetchone()
    if row is None or row[0] != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request; use a new key"
        )
