"""Definition sync end to end: HTTP writes -> Postgres -> relay -> JetStream -> broadcaster -> SDK streams."""

from __future__ import annotations

import asyncio
import threading
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from schemas.generated.stitchd.flags.v1 import SyncResponse
from tests.integration.gateway.support import Api
from tests.integration.sync_broadcaster.support import (
    WAIT,
    Admin,
    broadcaster,
    plan_rule,
    sdk,
    without_time,
)
from tests.stack import Stack

pytestmark = pytest.mark.integration


async def test_snapshot_first_then_one_delta_per_change(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    created = await admin.create_flag()
    async with broadcaster(stack) as b, sdk(b.port, tenant.sdk_key) as client:
        snapshot = await client.next()
        assert snapshot.is_snapshot
        assert snapshot.sequence_number >= created
        assert [(f.key, f.enabled) for f in snapshot.flags] == [("checkout", True)]
        position = await admin.rules(plan_rule("pro"))
        delta = await client.next()
        assert (delta.is_snapshot, delta.sequence_number) == (False, position)
        assert [r.rule_id for r in delta.flags[0].rules] == ["pro"]


async def test_missed_changes_are_replayed_exactly_also_by_a_restarted_broadcaster(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    async with broadcaster(stack) as b:
        async with sdk(b.port, tenant.sdk_key) as client:
            last = (await client.next()).sequence_number
        missed = [await admin.toggle(False), await admin.toggle(True), await admin.rules(plan_rule("team"))]
        async with sdk(b.port, tenant.sdk_key, since=last) as client:
            first = [await client.next() for _ in missed]
    assert [(m.sequence_number, m.is_snapshot) for m in first] == [(p, False) for p in missed]
    assert [m.flags[0].enabled for m in first] == [False, True, True]
    async with broadcaster(stack) as restarted, sdk(restarted.port, tenant.sdk_key, since=last) as client:
        again = [await client.next() for _ in missed]
        assert [without_time(m) for m in again] == [without_time(m) for m in first]
        position = await admin.toggle(False)
        assert (await client.next()).sequence_number == position  # and then live changes, no gap


async def test_a_sequence_no_longer_retained_gets_a_snapshot(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    first = await admin.create_flag()
    for enabled in (False, True, False):
        last = await admin.toggle(enabled)
    async with broadcaster(stack, history_limit=2) as b, sdk(b.port, tenant.sdk_key, since=first) as client:
        msg = await client.next()
        assert (msg.is_snapshot, msg.sequence_number) == (True, last)
        assert [f.enabled for f in msg.flags] == [False]


async def test_list_segment_membership_changes_reach_the_stream_as_markers(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    async with broadcaster(stack) as b, sdk(b.port, tenant.sdk_key) as client:
        await client.next()
        await admin.segment({"key": "beta", "kind": "list", "included_keys": ["ann"]})
        created, members = await client.next(), await client.next()
        assert [s.key for s in created.list_segments] == ["beta"]
        assert list(members.changed_list_segment_keys) == ["beta"]
        assert members.sequence_number > created.sequence_number


async def test_revoking_the_key_ends_its_open_stream(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    keys = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    await api.ok("POST", keys, token=tenant.token, json={"name": "spare"})  # the last key cannot be revoked
    async with broadcaster(stack) as b, sdk(b.port, tenant.sdk_key) as client:
        await client.next()
        await api.ok("DELETE", f"{keys}/{tenant.sdk_key_id}", token=tenant.token)
        with pytest.raises(GRPCError) as caught:
            await client.next()
        assert caught.value.status is Status.UNAUTHENTICATED


def _grpcio_session(
    modules: dict[str, ModuleType], target: str, key: str, snapshot_seen: threading.Event
) -> list[Any]:
    pb2 = modules["stitchd.flags.v1.flag_sync_pb2"]
    pb2_grpc = modules["stitchd.flags.v1.flag_sync_pb2_grpc"]
    received: list[Any] = []
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.FlagSyncServiceStub(channel)
        stream = stub.SyncDefinitions(pb2.SyncRequest(), metadata=[("x-sdk-key", key)], timeout=WAIT)
        for msg in stream:
            if msg.is_heartbeat:
                continue
            received.append(msg)
            snapshot_seen.set()
            if len(received) == 2:
                stream.cancel()
                return received
    return received


async def test_a_grpcio_generated_client_receives_the_same_snapshot_and_deltas(
    stack: Stack, api: Api, grpcio_modules: dict[str, ModuleType]
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    async with broadcaster(stack) as b, sdk(b.port, tenant.sdk_key) as client:
        snapshot_seen = threading.Event()
        target = f"127.0.0.1:{b.port}"
        session = asyncio.create_task(
            asyncio.to_thread(_grpcio_session, grpcio_modules, target, tenant.sdk_key, snapshot_seen)
        )
        assert await asyncio.to_thread(snapshot_seen.wait, WAIT)
        ours = [await client.next()]
        position = await admin.rules(plan_rule("pro"))
        ours.append(await client.next())
        theirs = await session
    assert [m.sequence_number for m in ours] == [ours[0].sequence_number, position]
    decoded = [without_time(SyncResponse().parse(m.SerializeToString())) for m in theirs]
    assert decoded == [without_time(m) for m in ours]


async def test_stopping_the_broadcaster_ends_open_streams_with_unavailable(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    async with broadcaster(stack) as b, sdk(b.port, tenant.sdk_key) as client:
        await client.next()
        stopping = asyncio.create_task(b.stop())
        with pytest.raises(GRPCError) as caught:
            await client.next()
        assert caught.value.status is Status.UNAVAILABLE
        await stopping
