"""argon2id password hashing, run off the event loop because it is deliberately slow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class Passwords:
    """Hash and verify passwords; `fast()` gives cheap parameters for tests only."""

    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    @staticmethod
    def fast() -> Passwords:
        """Minimal-cost argon2id, for tests: same code path, far less CPU."""
        return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

    async def hash(self, password: str) -> str:
        """An argon2id PHC string for the password."""
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; an absent hash still costs one verification (timing)."""
        if password_hash is None:
            # Unknown account: spend the same work so timing does not reveal which emails exist.
            await asyncio.to_thread(self.hasher.hash, password)
            return False
        try:
            return bool(await asyncio.to_thread(self.hasher.verify, password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must be at most {MAX_PASSWORD_LENGTH} characters"
    return None
