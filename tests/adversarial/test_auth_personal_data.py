"""Issue 9 item 14: no password hash or personal data in the log or on JetStream; shredding erases."""

from __future__ import annotations

import asyncio
from uuid import UUID

import nats
import pytest

from projections import identity as identity_projection
from projections.rebuild import rebuild
from readmodels.vault import ERASED, PostgresVault
from stitchd.jetstream import EVENTS_STREAM, POSITION_HEADER
from tests.integration.gateway.support import PASSWORD, Api
from tests.stack import Stack

pytestmark = pytest.mark.integration

EMAIL, NAME = "secret.person@privacy.test", "Secret Person"
NEW_PASSWORD = "another long password"
PERSONAL = (b"secret.person", b"privacy.test", b"Secret Person", b"$argon2")


async def _person(api: Api) -> UUID:
    """A user registered by an org admin who then changed the password themselves."""
    tenant = await api.tenant()
    body = {"email": EMAIL, "password": PASSWORD, "display_name": NAME}
    user = await api.ok("POST", "/v1/management/users", token=tenant.token, json=body)
    token = (await api.login(EMAIL))["access_token"]
    own = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    await api.ok("PUT", "/v1/auth/password", token=token, json=own)
    return UUID(user["user_id"])


async def _published(stack: Stack) -> list[bytes]:
    """Every STITCHD_EVENTS message body, once the relay has published up to the store's head."""
    head = await stack.store.head_position()
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        for _ in range(600):
            info = await js.stream_info(EVENTS_STREAM)
            last = await js.get_msg(EVENTS_STREAM, seq=info.state.last_seq) if info.state.last_seq else None
            if last is not None and int((last.headers or {})[POSITION_HEADER]) >= head:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the relay did not publish the log")
        seqs = range(info.state.first_seq, info.state.last_seq + 1)
        return [bytes((await js.get_msg(EVENTS_STREAM, seq=s)).data or b"") for s in seqs]
    finally:
        await nc.close()


async def test_no_hash_or_personal_data_reaches_the_log_or_jetstream(api: Api, stack: Stack) -> None:
    user_id = await _person(api)
    async with stack.pool.connection() as conn:
        cur = await conn.execute("SELECT data::text, metadata::text FROM events")
        stored = [(d + m).encode() for d, m in await cur.fetchall()]
    for body in [*stored, *await _published(stack)]:
        for secret in PERSONAL:
            assert secret not in body, (secret, body[:200])
    listed = await api.ok(
        "GET", "/v1/management/users", token=(await api.login(EMAIL, NEW_PASSWORD))["access_token"]
    )
    assert (EMAIL, NAME) in {(u["email"], u["display_name"]) for u in listed["users"]}
    assert user_id in {UUID(u["user_id"]) for u in listed["users"]}


async def _row(stack: Stack, user_id: UUID) -> tuple[str, str]:
    async with stack.pool.connection() as conn:
        cur = await conn.execute("SELECT email, display_name FROM rm_users WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def test_a_shredded_key_erases_the_person_and_the_log_still_replays(api: Api, stack: Stack) -> None:
    user_id = await _person(api)
    assert await _row(stack, user_id) == (EMAIL, NAME)
    await PostgresVault(stack.pool).erase(user_id)
    await rebuild(stack.pg_url, identity_projection)  # the whole log replays without its key
    assert await _row(stack, user_id) == (ERASED, ERASED)


async def test_removing_the_last_membership_erases_the_account(api: Api, stack: Stack) -> None:
    tenant = await api.tenant()
    body = {"email": EMAIL, "password": PASSWORD, "display_name": NAME}
    user = await api.ok("POST", "/v1/management/users", token=tenant.token, json=body)
    user_id = UUID(user["user_id"])
    await api.ok("DELETE", f"/v1/management/users/{user_id}", token=tenant.token)
    assert await _row(stack, user_id) == (ERASED, ERASED)
    async with stack.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM personal_data_keys WHERE subject_id = %s", (user_id,))
        assert (await cur.fetchone()) == (0,)
        cur = await conn.execute("SELECT count(*) FROM auth_credentials WHERE user_id = %s", (user_id,))
        assert (await cur.fetchone()) == (0,)
    again = await api.ok("POST", "/v1/management/users", token=tenant.token, json=body)  # the address is free
    assert UUID(again["user_id"]) != user_id
