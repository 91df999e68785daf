"""Property (issue 5): for any short random sequence of flag and segment mutations made over HTTP, the SDK's
state after applying the sync stream equals the server's read model at the same sequence, and its
evaluations equal the server's /evaluate for random contexts.

One stack, one broadcaster and one gateway app (its DefinitionsCache followed from JetStream, as the
gateway process does) serve every example; each example gets a fresh tenant and a fresh SDK, connected
before the mutations so it receives them as deltas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from stitchd_sdk import AsyncSdkClient, SdkOptions

from domain.context import Context
from gateway.app import create_app
from gateway.evaluate import start_definitions
from readmodels.flags import flag_definitions
from readmodels.segments import rule_and_list_segments
from tests import stack as stack_fixtures
from tests.e2e.sync_mutations import MISSING_FLAG, Executor, Mutation, contexts, mutations
from tests.integration.gateway.support import Api, Clock, Tenant, gateway_deps, http_client
from tests.integration.sync_broadcaster.support import WAIT, broadcaster
from tests.stack import Stack
from tests.unit.sdk.fakes import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack = stack_fixtures.stack  # fixture, found by name
T = TypeVar("T")
# No shrinking: each shrink step replays a whole example against the stack, and hypothesis would spend
# minutes on it; a failing example is short anyway and the assertion names the flag and the context.
PROPERTY = settings(
    max_examples=10,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
STEP_PEOPLE = 5  # contexts compared after every single mutation (all of them after the last)


async def test_sdk_state_and_evaluations_equal_the_server_after_random_mutations(stack: Stack) -> None:
    loop = asyncio.get_running_loop()
    clock = Clock()
    deps = gateway_deps(stack, clock)
    app = create_app(deps)
    follower = await start_definitions(app, stack.store, nats_url=stack.nats_url)
    try:
        async with http_client(app) as client, broadcaster(stack) as sync:
            await stack.settle()
            api = Api(client=client, deps=deps, clock=clock)
            world = World(api, app, f"http://127.0.0.1:{sync.port}")

            @PROPERTY
            @given(
                steps=st.lists(mutations, min_size=3, max_size=8),
                people=st.lists(contexts, min_size=20, max_size=20),
            )
            def check(steps: list[Mutation], people: list[Context]) -> None:
                on_loop(loop, world.check(steps, people))

            await asyncio.to_thread(check)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def on_loop(loop: asyncio.AbstractEventLoop, call: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the test's loop from hypothesis' thread."""
    return asyncio.run_coroutine_threadsafe(call, loop).result(timeout=120)


class World:
    """The shared servers; `check` runs one example against a fresh tenant."""

    def __init__(self, api: Api, app: Litestar, grpc_url: str) -> None:
        self.api = api
        self.app = app
        self.grpc_url = grpc_url

    async def check(self, steps: list[Mutation], people: list[Context]) -> None:
        tenant = await self.api.tenant()
        transport = httpx.ASGITransport(app=cast(Any, self.app))  # Litestar's ASGI types are narrower
        options = SdkOptions(send_exposures=False, async_http_transport=transport)
        async with await AsyncSdkClient.connect(
            self.grpc_url, "http://gateway", tenant.sdk_key, timeout=WAIT, options=options
        ) as sdk:
            executor = Executor(self.api, tenant)
            for step in steps:  # a few evaluations at every step too: stale SDK caches show up here
                await executor.apply(step)
                await self.same_evaluations(sdk, tenant, executor, people[:STEP_PEOPLE])
            sequence = await self.same_evaluations(sdk, tenant, executor, people)
            await self.same_definitions(sdk, tenant, executor.position)
            assert sdk.status().last_sequence == sequence

    async def same_evaluations(
        self, sdk: AsyncSdkClient, tenant: Tenant, executor: Executor, people: list[Context]
    ) -> int:
        """Once the SDK has the server's sequence, both evaluate every flag alike; returns the sequence."""
        sequence = await self.server_sequence(tenant, executor.position)
        await eventually(lambda: sdk.status().last_sequence >= sequence, WAIT)
        assert sdk.status().last_sequence == sequence
        for person in people:
            for flag_key in [*sorted(executor.flags), MISSING_FLAG]:
                mine = await sdk.json_details(flag_key, person, None)
                theirs = await self.evaluate(tenant, flag_key, person, sequence)
                ours = (mine.value, mine.variant_key, str(mine.reason), mine.rule_id, mine.sequence)
                assert ours == theirs, (flag_key, person)
        return sequence

    async def server_sequence(self, tenant: Tenant, position: int) -> int:
        """The environment's definition sequence once the gateway's cache has folded `position`."""
        body = {"context_key": "anyone"}
        response = await self.sdk_call(tenant, "evaluate-all", body, position)
        return int(response["sequence"])

    async def same_definitions(self, sdk: AsyncSdkClient, tenant: Tenant, position: int) -> None:
        """The SDK's flags and segments are exactly the read model's once it has applied `position`."""
        pool = self.api.deps.db
        assert await self.api.deps.waiter(position, WAIT)
        served = await flag_definitions(
            pool, project_id=tenant.project_id, environment_id=tenant.environment_id
        )
        held = sdk.store.current
        assert {k: f.definition for k, f in held.flags.items()} == {d.key: d for d in served}
        rule_segments, list_segments = await rule_and_list_segments(
            pool, environment_id=tenant.environment_id
        )
        assert held.rule_segments == {s.key: s for s in rule_segments}
        assert held.list_segments == {s.key: s for s in list_segments}

    async def evaluate(
        self, tenant: Tenant, flag_key: str, person: Context, sequence: int
    ) -> tuple[Any, ...]:
        body = {
            "flag_key": flag_key,
            "context_type": person.context_type,
            "context_key": person.key,
            "attributes": person.parameters,
        }
        answer = await self.sdk_call(tenant, "evaluate", body, sequence)
        return (
            answer["value"],
            answer["variant_key"],
            answer["reason"],
            answer["rule_id"],
            answer["sequence"],
        )

    async def sdk_call(self, tenant: Tenant, route: str, body: Any, position: int) -> Any:
        headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(position)}
        path = f"/v1/environments/{tenant.environment_id}/{route}"
        response = await self.api.call("POST", path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()
