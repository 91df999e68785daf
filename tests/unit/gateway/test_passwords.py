"""argon2id passwords."""

from __future__ import annotations

from gateway.auth.passwords import Passwords, password_problem

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
