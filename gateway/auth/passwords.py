"""argon2id password hashing, run off the event loop because it is deliberately slow and big.

Each hashing holds about 64 MiB for a noticeable time, so the number running at once is capped and the
number waiting for a slot is bounded too: over that, the caller is told to retry (429) at once rather
than queue without end. A hashing whose caller went away keeps its slot until its thread finishes, so
the cap holds even for cancelled requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.errors import ResourceExhausted

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
DEFAULT_CONCURRENT_HASHES = 4
T = TypeVar("T")


class PasswordChecksBusy(ResourceExhausted):
    """Every hashing slot and every waiting place is taken."""

    def __init__(self) -> None:
        super().__init__("too many password checks in progress, retry shortly", headers={"Retry-After": "1"})


class _Gate:
    """At most `running` jobs at once and `running + waiting` admitted; the rest refused at once."""

    def __init__(self, running: int, waiting: int) -> None:
        self._slots = asyncio.Semaphore(running)
        self._limit = running + waiting
        self._admitted = 0

    def admit(self) -> None:
        if self._admitted >= self._limit:
            raise PasswordChecksBusy()
        self._admitted += 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run an admitted job in a thread once a slot is free; the slot is held until the thread ends."""
        try:
            async with self._slots:
                return await asyncio.to_thread(fn, *args)
        finally:
            self._admitted -= 1


@dataclass(frozen=True)
class Passwords:
    """Hash and verify passwords; `fast()` gives cheap parameters for tests only."""

    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    max_concurrent: int = DEFAULT_CONCURRENT_HASHES
    max_waiting: int = 4 * DEFAULT_CONCURRENT_HASHES
    _gate: _Gate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_concurrent < 1 or self.max_waiting < 0:
            raise ValueError("max_concurrent must be >= 1 and max_waiting >= 0")
        object.__setattr__(self, "_gate", _Gate(self.max_concurrent, self.max_waiting))

    @staticmethod
    def fast(max_concurrent: int = DEFAULT_CONCURRENT_HASHES) -> Passwords:
        """Minimal-cost argon2id, for tests: same code path, far less CPU."""
        hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        return Passwords(hasher, max_concurrent=max_concurrent, max_waiting=4 * max_concurrent)

    async def _gated(self, fn: Callable[..., T], *args: object) -> T:
        self._gate.admit()  # refuses synchronously: a full gate never makes the caller wait
        # Shielded: a cancelled caller must not free the slot while its thread still runs.
        return await asyncio.shield(asyncio.ensure_future(self._gate.run(fn, *args)))

    async def hash(self, password: str) -> str:
        """An argon2id PHC string for the password."""
        return await self._gated(self.hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; an absent hash still costs one hashing (timing)."""
        if password_hash is None:
            # Unknown account: spend the same work so timing does not reveal which emails exist.
            await self._gated(self.hasher.hash, password)
            return False
        return await self._gated(_matches, self.hasher, password_hash, password)


def _matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return bool(hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must be at most {MAX_PASSWORD_LENGTH} characters"
    return None
