"""Issue 9 items 8 and 11: the bus is a trust boundary, and unknown SDK keys cannot starve propagation.

NATS requires credentials; a definition follower (gateway and broadcaster share it) treats a pushed
message only as a wake-up and reads bodies from Postgres, so a forged event changes nothing and garbage
does not stop it; a flood of unknown SDK keys costs a bounded number of catch-up reads.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import nats
import nats.errors
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from commands.eventstore import Metadata, RecordedEvent
from domain.codec import encode_event, type_of
from domain.envelope import encode_envelope, envelope_headers
from domain.tenancy.events import SdkKeyIssued
from domain.tenancy.sdk_keys import display_prefix, hash_sdk_key
from gateway.app import create_app
from gateway.evaluate import install_definitions
from readmodels.definitions import DefinitionsCache
from readmodels.definitions_log import FollowerStats, start_following
from stitchd.embedded import NatsProcess
from stitchd.jetstream import EVENTS_STREAM
from tests.integration.gateway.support import Api, Tenant, api_fixture, http_client  # noqa: F401
from tests.integration.sync_broadcaster.support import BOOL_FLAG, broadcaster, sdk
from tests.stack import Stack

pytestmark = pytest.mark.integration
WAIT = 30.0


async def test_an_unauthenticated_client_cannot_connect_to_the_embedded_nats(
    nats_process: NatsProcess,
) -> None:
    wrong = nats_process.anonymous_url.replace("://", "://stitchd:wrong-password@")
    for url in (nats_process.anonymous_url, wrong):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
    nc = await nats.connect(nats_process.url)  # the generated credentials work
    await nc.close()


@pytest.fixture
async def followed(stack: Stack) -> AsyncIterator[tuple[DefinitionsCache, FollowerStats, asyncio.Task[None]]]:
    """A cache kept current by the shared follower over the stack's NATS (as the gateway runs it)."""
    cache, stats = DefinitionsCache(), FollowerStats()
    task = await start_following(cache, stack.store, nats_url=stack.nats_url, poll_interval=60.0, stats=stats)
    yield cache, stats, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def publish(stack: Stack, subject: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    """A message on the bus from someone holding the credentials (not the relay)."""
    nc = await nats.connect(stack.nats_url)
    try:
        await nc.jetstream().publish(subject, body, stream=EVENTS_STREAM, headers=headers)
    finally:
        await nc.close()


def forged_key_message(tenant: Tenant, raw: str, position: int) -> tuple[bytes, dict[str, str]]:
    """An envelope announcing an SDK key for the tenant's environment, at the next position."""
    env = tenant.environment_id
    event = SdkKeyIssued(
        stream_id=env, version=99, occurred_at=datetime.now(UTC), key_id=uuid4(), name="forged",
        key_hash=hash_sdk_key(raw), prefix=display_prefix(raw),
    )  # fmt: skip
    recorded = RecordedEvent(
        position=position, stream_id=env, stream_type="environment", version=99, event_id=uuid4(),
        type=type_of(event), data=encode_event(event), metadata=Metadata(environment_id=env),
        recorded_at=datetime.now(UTC),
    )  # fmt: skip
    return encode_envelope(recorded), envelope_headers(recorded)


async def reach(cache: DefinitionsCache, position: int) -> None:
    assert await cache.wait_for_position(position, within=WAIT), f"the cache never reached {position}"


async def test_a_forged_sdk_key_issued_on_the_bus_does_not_make_the_key_valid(
    api: Api, stack: Stack, followed: tuple[DefinitionsCache, FollowerStats, asyncio.Task[None]]
) -> None:
    cache, _, _ = followed
    tenant = await api.tenant()
    async with broadcaster(stack) as running:
        await stack.settle()
        await reach(cache, head := await stack.store.head_position())
        await reach(running.cache, head)
        raw = "sdk_live_" + secrets.token_urlsafe(24)
        body, headers = forged_key_message(tenant, raw, head + 1)
        await publish(stack, f"stitchd.events.environment.{tenant.environment_id}", body, headers)
        flags = f"/v1/environments/{tenant.environment_id}/flags"
        written = await api.ok("POST", flags, token=tenant.token, json=BOOL_FLAG)  # a real event after it
        for folded in (cache, running.cache):
            await reach(folded, int(written["position"]))
            assert folded.key_owner(raw) is None
        with pytest.raises(GRPCError) as refused:
            async with sdk(running.port, raw) as client:
                await client.next()
        assert refused.value.status is Status.UNAUTHENTICATED


async def test_garbage_on_the_bus_does_not_stop_the_follower(
    api: Api, stack: Stack, followed: tuple[DefinitionsCache, FollowerStats, asyncio.Task[None]]
) -> None:
    cache, stats, task = followed
    tenant = await api.tenant()
    subject = f"stitchd.events.flag.{tenant.environment_id}"
    await publish(stack, subject, b"\xff\x00 not an envelope")
    await publish(stack, subject, b"{}", {"Stitchd-Position": "²"})
    await publish(stack, subject, b"[1, 2", {"Stitchd-Position": str(10**15)})  # garbage body, wild position
    flags = f"/v1/environments/{tenant.environment_id}/flags"
    written = await api.ok("POST", flags, token=tenant.token, json=BOOL_FLAG)
    await reach(cache, int(written["position"]))
    assert not task.done()
    assert stats.ignored >= 2
    environment = cache.environment(tenant.environment_id)
    assert environment is not None
    assert BOOL_FLAG["key"] in environment.flags


async def test_a_flood_of_unknown_sdk_keys_costs_a_bounded_number_of_catch_ups(
    api: Api, stack: Stack
) -> None:
    tenant = await api.tenant()
    cache = DefinitionsCache(clock=lambda: 0.0)  # time stands still: one on-demand catch-up, ever
    follower = await start_following(cache, stack.store, nats_url=stack.nats_url)
    app = create_app(api.deps, bootstrap=False)
    install_definitions(app, cache)
    evaluate = f"/v1/environments/{tenant.environment_id}/evaluate"
    body = {"flag_key": "f", "context_type": "user", "context_key": "u"}
    try:
        async with http_client(app) as client:
            keys = [{"x-sdk-key": f"sdk_live_{secrets.token_hex(16)}"} for _ in range(300)]
            answers = await asyncio.gather(*(client.post(evaluate, json=body, headers=k) for k in keys))
            assert {a.status_code for a in answers} == {401}
            assert cache.stats.refreshes <= 1
            # a key issued afterwards works: the follower folds its issuance, no refresh needed
            path = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
            issued = await api.ok("POST", path, token=tenant.token, json={"name": "late"})
            await stack.settle()
            await reach(cache, await stack.store.head_position())
            late = await client.post(evaluate, json=body, headers={"x-sdk-key": issued["raw_key"]})
            assert late.status_code == 200, late.text
            assert cache.stats.refreshes <= 1
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
