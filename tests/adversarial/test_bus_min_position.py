"""Issue 9 item 9: X-Stitchd-Min-Position is parsed strictly, honoured only for authenticated callers, and
waiting requests share one in-process notification instead of holding a pooled connection each."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from gateway.app import create_app
from gateway.deps import GatewaySettings, PoolWaiter
from readmodels.positions import parse_position
from tests.integration.gateway.support import Api, api_fixture, assert_envelope, http_client  # noqa: F401
from tests.stack import Stack

HEADER = "x-stitchd-min-position"


@given(st.text(max_size=20))
def test_only_ascii_digits_are_a_position(text: str) -> None:
    ascii_digits = bool(text) and len(text) <= 18 and all("0" <= c <= "9" for c in text)
    assert parse_position(text) == (int(text) if ascii_digits else None)


@pytest.mark.parametrize("raw", ["²", "٣", "1_000", " 1", "+1", "-1", "1" * 19])
def test_lookalike_digits_are_not_positions(raw: str) -> None:
    assert parse_position(raw) is None


@pytest.fixture
async def small_pool(stack: Stack) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        stack.pg_url, min_size=1, max_size=2, timeout=3, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    yield pool
    await pool.close()


@pytest.mark.integration
async def test_a_superscript_digit_answers_400_in_the_envelope(api: Api) -> None:
    tenant = await api.tenant()
    superscript: Any = "²".encode("latin-1")  # the byte 0xB2, which the server reads as "²"
    guarded = await api.call(
        "GET", "/v1/management/projects", token=tenant.token, headers={HEADER: superscript}
    )
    assert_envelope(guarded, 400, "INVALID_ARGUMENT")
    anonymous = await api.call("GET", "/healthz", headers={HEADER: superscript})
    assert_envelope(anonymous, 400, "INVALID_ARGUMENT")


@pytest.mark.integration
async def test_waiting_requests_do_not_exhaust_the_read_pool(
    api: Api, small_pool: AsyncConnectionPool[Any]
) -> None:
    """Projections that never catch up (a checkpoint nobody writes) and a pool of two connections:
    ten anonymous requests never wait, ten authenticated ones wait sharing one connection, and a
    request without the header is answered meanwhile."""
    tenant = await api.tenant()
    lagging = PoolWaiter(small_pool, ["never_projected"])
    deps = dataclasses.replace(
        api.deps, db=small_pool, waiter=lagging, settings=GatewaySettings(write_wait_seconds=3.0)
    )
    async with http_client(create_app(deps, bootstrap=False)) as client:
        anonymous = await asyncio.gather(*(client.get("/healthz", headers={HEADER: "1"}) for _ in range(10)))
        assert [a.status_code for a in anonymous] == [200] * 10
        auth = {"authorization": f"Bearer {tenant.token}"}
        waiting = [
            asyncio.ensure_future(client.get("/v1/management/projects", headers={**auth, HEADER: "1"}))
            for _ in range(10)
        ]
        while lagging.waiters < 10:  # noqa: ASYNC110 -- every one of them is waiting now
            await asyncio.sleep(0.01)
        meanwhile = await client.get("/v1/management/projects", headers=auth)
        assert meanwhile.status_code == 200, meanwhile.text
        answers = await asyncio.gather(*waiting)
    assert [a.status_code for a in answers] == [200] * 10  # still answered, only maybe not caught up
