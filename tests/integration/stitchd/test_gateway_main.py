"""The gateway's composition root keeps its DefinitionsCache current from the event tail from start-up.

Admin writes go through an in-process gateway app over the same stack (`api`, cheap password hashing);
SDK reads go to the gateway built by `stitchd.gateway_main` (the `stitchd gateway` process target).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.evaluate import DEFINITIONS_STATE
from readmodels.definitions import DefinitionsCache
from stitchd.embedded import free_port
from stitchd.gateway_main import gateway_app
from stitchd.processes import running
from tests import stack as stack_fixtures
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Tenant
from tests.integration.sync_broadcaster.support import BOOL_FLAG, WAIT, Admin, plan_rule
from tests.stack import Stack

pytestmark = pytest.mark.integration
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name

FOLLOWER_TASK = "definitions-follower"  # readmodels.definitions_log.start_following
LAZY_TASK = "gateway-definitions"  # gateway.evaluate's build-on-first-request path


async def test_the_cache_is_caught_up_at_start_and_follows_writes_without_any_request(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    before = await admin.create_flag()
    async with gateway_app(stack.settings, stack.resources) as gateway:
        cache = gateway.app.state[DEFINITIONS_STATE]
        assert isinstance(cache, DefinitionsCache)
        assert cache.position >= before
        assert not gateway.follower.done()
        after = await admin.create_flag({**BOOL_FLAG, "key": "later"})
        assert await cache.wait_for_position(after, WAIT)  # nobody but the follower folds the log here
        env = cache.environment(tenant.environment_id)
        assert env is not None
        assert sorted(env.flags) == ["checkout", "later"]
    assert gateway.follower.cancelled()


async def test_the_gateway_process_answers_evaluate_for_flags_created_before_and_after_start(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    async with gateway_process(stack) as client:
        before = await evaluate(client, tenant, "checkout", {"plan": "pro"})
        assert (before["value"], before["reason"], before["error_code"]) == (False, "DEFAULT", None)
        await admin.rules(plan_rule("pro"))
        await admin.create_flag({**BOOL_FLAG, "key": "later", "fallthrough": {"variant_key": "on"}})
        changed = await until(client, tenant, "checkout", lambda r: r["reason"] == "TARGETING_MATCH")
        later = await until(client, tenant, "later", lambda r: r["error_code"] is None)
        tasks = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert (changed["value"], changed["rule_id"]) == (True, "pro")
    assert (later["value"], later["variant_key"], later["reason"]) == (True, "on", "DEFAULT")
    assert FOLLOWER_TASK in tasks
    assert LAZY_TASK not in tasks


@asynccontextmanager
async def gateway_process(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """`stitchd gateway` (the registered process target, uvicorn) on a free port for the block."""
    settings = dataclasses.replace(stack.settings, http_port=free_port())
    async with (
        running(["gateway"], settings, stack.resources),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=WAIT) as client,
    ):
        await _accepting(client)
        yield client


async def _accepting(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        try:
            await client.get("/healthz")
            return
        except httpx.TransportError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def evaluate(client: httpx.AsyncClient, tenant: Tenant, flag_key: str, attributes: Any) -> Any:
    """POST /evaluate with the tenant's SDK key and no min-position hint."""
    body = {"flag_key": flag_key, "context_key": "u1", "attributes": attributes}
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    response = await client.post(path, json=body, headers={"x-sdk-key": tenant.sdk_key})
    assert response.status_code == 200, response.text
    return response.json()


async def until(client: httpx.AsyncClient, tenant: Tenant, flag_key: str, done: Any) -> Any:
    """The first /evaluate answer for a pro user that satisfies `done` (bounded by WAIT)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not done(answer := await evaluate(client, tenant, flag_key, {"plan": "pro"})):
        assert loop.time() < deadline, answer
        await asyncio.sleep(0.02)
    return answer
