"""argon2id passwords."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from gateway.auth.passwords import PasswordChecksBusy, Passwords, password_problem

PASSWORDS = Passwords.fast()


async def test_hash_is_argon2id_and_verifies() -> None:
    digest = await PASSWORDS.hash("correct horse")
    assert digest.startswith("$argon2id$")
    assert await PASSWORDS.verify(digest, "correct horse")
    assert not await PASSWORDS.verify(digest, "correct horsE")


async def test_unknown_account_never_verifies() -> None:
    assert not await PASSWORDS.verify(None, "anything")


async def test_corrupt_hash_does_not_verify() -> None:
    assert not await PASSWORDS.verify("not-a-hash", "anything")


def test_password_rules() -> None:
    assert password_problem("short") is not None
    assert password_problem("x" * 2000) is not None
    assert password_problem("long enough") is None


class _Blocking(PasswordHasher):
    """Hashes only once released, and records how many hashings ran at the same time."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.release.wait()
            return super().hash(password, salt=salt)
        finally:
            with self.lock:
                self.running -= 1


async def test_hashing_is_capped_and_the_overflow_is_refused_at_once() -> None:
    hasher = _Blocking()
    passwords = Passwords(hasher, max_concurrent=2, max_waiting=3)
    jobs = [asyncio.ensure_future(passwords.verify(None, f"pw-{i}")) for i in range(20)]
    await asyncio.sleep(0)  # every job has been admitted or refused synchronously
    refused = [j for j in jobs if j.done()]
    assert len(refused) == 15
    assert all(isinstance(j.exception(), PasswordChecksBusy) for j in refused)
    hasher.release.set()
    await asyncio.gather(*(j for j in jobs if j not in refused))
    assert hasher.most <= 2
    assert await passwords.verify(None, "afterwards") is False  # slots were all given back


async def test_a_cancelled_caller_keeps_its_slot_until_the_hashing_ends() -> None:
    hasher = _Blocking()
    passwords = Passwords(hasher, max_concurrent=1, max_waiting=0)
    first = asyncio.ensure_future(passwords.hash("password-1"))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(PasswordChecksBusy):
        await passwords.hash("password-2")  # the cancelled one's thread still holds the only slot
    hasher.release.set()
    with pytest.raises(asyncio.CancelledError):
        await first
