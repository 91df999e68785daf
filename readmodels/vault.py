"""The identity vault: what must stay out of the append-only log, in mutable tables (migration 0011).

* `auth_credentials`: a user's password hash and token generation. The log only says that a password
  was set or changed; rotating a password is one UPDATE, so the hash and the generation that kills
  older tokens change together.
* `personal_data_keys`: one random AES-256-GCM key per person. Personal data (emails, display names)
  enters events only sealed with its owner's key; deleting the key (crypto-shredding) makes every
  copy in the log, on JetStream and in backups unreadable, while the log stays append-only and
  replayable: readers then see `ERASED`.

Sealed text is `sealed:v1:` + base64url(nonce ‖ ciphertext ‖ tag); the subject's id is the associated
data, so a value cannot be moved to another person's events.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import AsyncConnectionPool

from readmodels.db import ReadDb, connection

SEALED_PREFIX = "sealed:v1:"
ERASED = "[erased]"
_NONCE = 12


def seal_with(key: bytes, subject: UUID, text: str) -> str:
    """`text` encrypted under `key` for `subject` (a fresh nonce every time)."""
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, text.encode(), subject.bytes)
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_with(key: bytes | None, subject: UUID, value: str) -> str:
    """The plain text of a sealed value; ERASED when the key is gone or the value does not open.

    A value without the prefix was never sealed (events written before the vault): shown as is.
    """
    if not value.startswith(SEALED_PREFIX):
        return value
    if key is None:
        return ERASED
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :])
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], subject.bytes).decode()
    except (ValueError, InvalidTag):
        return ERASED


async def subject_key(db: ReadDb, subject: UUID) -> bytes | None:
    """The subject's key, None once shredded (or never made)."""
    async with connection(db) as conn:
        cur = await conn.execute("SELECT key FROM personal_data_keys WHERE subject_id = %s", (subject,))
        row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def open_sealed(db: ReadDb, subject: UUID, value: str) -> str:
    """`open_with` the subject's current key, read through `db` (a projection passes its transaction)."""
    if not value.startswith(SEALED_PREFIX):
        return value
    return open_with(await subject_key(db, subject), subject, value)


class PostgresVault:
    """commands.vault.IdentityVault over the vault tables."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def seal(self, subject: UUID, text: str) -> str:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO personal_data_keys (subject_id, key, created_at) VALUES (%s, %s, now())"
                " ON CONFLICT (subject_id) DO NOTHING",
                (subject, AESGCM.generate_key(bit_length=256)),
            )
            key = await subject_key(conn, subject)
        if key is None:  # shredded between the two statements: the person is gone
            return ERASED
        return seal_with(key, subject, text)

    async def open(self, subject: UUID, value: str) -> str:
        return await open_sealed(self._pool, subject, value)

    async def erase(self, subject: UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM personal_data_keys WHERE subject_id = %s", (subject,))

    async def add_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO auth_credentials (user_id, password_hash, generation, updated_at)"
                " VALUES (%s, %s, 0, %s) ON CONFLICT (user_id) DO NOTHING",
                (user_id, password_hash, now),
            )

    async def replace_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO auth_credentials (user_id, password_hash, generation, updated_at)"
                " VALUES (%s, %s, 1, %s) ON CONFLICT (user_id) DO UPDATE SET password_hash ="
                " EXCLUDED.password_hash, generation = auth_credentials.generation + 1, updated_at ="
                " EXCLUDED.updated_at RETURNING generation",
                (user_id, password_hash, now),
            )
            row = await cur.fetchone()
        assert row is not None  # INSERT ... RETURNING always returns the row
        return int(row[0])

    async def drop_password(self, user_id: UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM auth_credentials WHERE user_id = %s", (user_id,))


class MemoryVault:
    """The same contract in dicts, for unit tests of the handlers."""

    def __init__(self) -> None:
        self.keys: dict[UUID, bytes] = {}
        self.passwords: dict[UUID, tuple[str, int]] = {}

    async def seal(self, subject: UUID, text: str) -> str:
        key = self.keys.setdefault(subject, AESGCM.generate_key(bit_length=256))
        return seal_with(key, subject, text)

    async def open(self, subject: UUID, value: str) -> str:
        return open_with(self.keys.get(subject), subject, value)

    async def erase(self, subject: UUID) -> None:
        self.keys.pop(subject, None)

    async def add_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> None:
        self.passwords.setdefault(user_id, (password_hash, 0))

    async def replace_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> int:
        generation = self.passwords.get(user_id, ("", 0))[1] + 1
        self.passwords[user_id] = (password_hash, generation)
        return generation

    async def drop_password(self, user_id: UUID) -> None:
        self.passwords.pop(user_id, None)
