"""The port to the identity vault (implemented in readmodels.vault): secrets and personal data that must
not enter the append-only log. Handlers seal personal fields before appending and keep hashes here."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import UUID


@runtime_checkable
class IdentityVault(Protocol):
    """Per-person keys (sealing) and password hashes, both in mutable tables outside the log."""

    async def seal(self, subject: UUID, text: str) -> str:
        """`text` encrypted with the subject's key (made on first use)."""
        ...

    async def open(self, subject: UUID, value: str) -> str:
        """The plain text of a sealed value, or the erased placeholder once the key is gone."""
        ...

    async def erase(self, subject: UUID) -> None:
        """Delete the subject's key: every sealed copy of its data becomes unreadable (crypto-shredding)."""
        ...

    async def add_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> None:
        """The first hash of a new account (a repeat keeps the first one), token generation 0."""
        ...

    async def replace_password(self, user_id: UUID, password_hash: str, *, now: datetime) -> int:
        """Store a new hash and bump the token generation in one statement; returns the new generation."""
        ...

    async def drop_password(self, user_id: UUID) -> None:
        """Forget the hash (the account is removed)."""
        ...
