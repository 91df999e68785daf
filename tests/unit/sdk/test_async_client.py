"""AsyncSdkClient against a real grpclib server running a scripted FlagSyncService."""

from __future__ import annotations

import dataclasses

import pytest
from grpclib.const import Status as GrpcStatus
from grpclib.exceptions import GRPCError
from stitchd_sdk import AsyncSdkClient, SdkError, SdkOptions, SdkState, SyncUpdate

from domain.context import Context, ContextSet
from domain.flags.model import ErrorCode, Reason
from tests.unit.sdk.conftest import SEQ
from tests.unit.sdk.fakes import (
    BETA,
    END,
    SDK_KEY,
    FakeGateway,
    ServerThread,
    bool_flag,
    delta,
    eventually,
    heartbeat,
    in_list,
    plan_is,
    snapshot,
    string_flag,
)

PRO = ("user", "u1", {"plan": "pro"})
FREE = ("user", "u2", {"plan": "free"})


async def connect(server: ServerThread, options: SdkOptions, key: str = SDK_KEY) -> AsyncSdkClient:
    return await AsyncSdkClient.connect(server.url, "http://gateway.test", key, timeout=20, options=options)


async def test_start_up_waits_for_the_snapshot_and_evaluates_it(
    server: ServerThread, options: SdkOptions
) -> None:
    async with await connect(server, options) as client:
        details = await client.bool_details("pro-only", PRO, False)
        assert details.value is True
        assert (details.variant_key, details.reason, details.rule_id) == ("on", Reason.TARGETING_MATCH, "r1")
        assert details.sequence == SEQ
        assert details.error_code is None
        assert await client.bool_value("pro-only", FREE, True) is False
        assert client.status().state is SdkState.FRESH
        assert client.status().last_sequence == SEQ


async def test_contexts_may_be_a_set_a_context_or_a_tuple(server: ServerThread, options: SdkOptions) -> None:
    async with await connect(server, options) as client:
        ctx = Context(context_type="user", key="u1", parameters={"plan": "pro"})
        assert await client.bool_value("pro-only", ctx, False) is True
        assert await client.bool_value("pro-only", ContextSet((ctx,)), False) is True
        assert await client.bool_value("pro-only", ("user", "u1"), True) is False


async def test_unknown_flag_and_type_mismatch_give_the_default(
    server: ServerThread, options: SdkOptions
) -> None:
    async with await connect(server, options) as client:
        missing = await client.str_details("nope", PRO, "dflt")
        assert (missing.value, missing.error_code, missing.reason) == (
            "dflt",
            ErrorCode.FLAG_NOT_FOUND,
            Reason.ERROR,
        )
        mismatch = await client.int_details("pro-only", PRO, 7)
        assert (mismatch.value, mismatch.error_code, mismatch.variant_key) == (
            7,
            ErrorCode.TYPE_MISMATCH,
            None,
        )
        assert await client.json_value("pro-only", PRO, None) is True  # json accepts every value type


async def test_deltas_upsert_and_remove_flags(server: ServerThread, options: SdkOptions) -> None:
    async with await connect(server, options) as client:
        updates: list[SyncUpdate] = []
        client.add_listener(updates.append)
        session = server.service.sessions[-1]
        session.push(delta(SEQ + 1, bool_flag("pro-only", plan_is("free")), string_flag("colour", "red")))
        await eventually(lambda: client.status().last_sequence == SEQ + 1)
        assert await client.bool_value("pro-only", FREE, False) is True
        assert await client.str_value("colour", PRO, "") == "red"
        assert updates[-1].sequence == SEQ + 1
        assert not updates[-1].is_snapshot
        assert set(updates[-1].upserted_flag_keys) == {"pro-only", "colour"}
        session.push(delta(SEQ + 2, removed_flag_keys=["colour"]))
        await eventually(lambda: client.status().last_sequence == SEQ + 2)
        assert (await client.str_details("colour", PRO, "x")).error_code is ErrorCode.FLAG_NOT_FOUND


async def test_reconnect_resumes_from_the_last_sequence_and_skips_duplicates(
    server: ServerThread, options: SdkOptions
) -> None:
    async with await connect(server, options) as client:
        first = server.service.sessions[-1]
        assert first.request.since_sequence == 0
        first.push(delta(SEQ + 1, string_flag("colour", "red")), END)
        await eventually(lambda: len(server.service.sessions) == 2)
        second = server.service.sessions[-1]
        assert second.request.since_sequence == SEQ + 1
        second.push(
            delta(SEQ + 1, string_flag("colour", "stale")), delta(SEQ + 2, string_flag("colour", "blue"))
        )
        await eventually(lambda: client.status().last_sequence == SEQ + 2)
        assert await client.str_value("colour", PRO, "") == "blue"
        assert client.status().reconnects >= 1


async def test_a_server_error_mid_stream_reconnects(server: ServerThread, options: SdkOptions) -> None:
    async with await connect(server, options) as client:
        server.service.sessions[-1].push(GRPCError(GrpcStatus.UNAVAILABLE, "restarting"))
        await eventually(lambda: len(server.service.sessions) == 2)
        server.service.sessions[-1].push(delta(SEQ + 1, string_flag("colour", "red")))
        await eventually(lambda: client.status().last_sequence == SEQ + 1)


async def test_a_key_refused_after_start_is_refused_and_still_served(
    server: ServerThread, options: SdkOptions
) -> None:
    async with await connect(server, options) as client:
        server.service.key_revoked = True
        server.service.sessions[-1].push(GRPCError(GrpcStatus.UNAUTHENTICATED, "sdk key revoked"))
        await eventually(lambda: server.service.refusals >= 2)  # reconnects go on, and are refused
        assert client.status().state is SdkState.REFUSED
        assert await client.bool_value("pro-only", PRO, False) is True  # the last definitions
        server.service.key_revoked = False
        await eventually(lambda: client.status().state is SdkState.FRESH)  # a stream accepted again


async def test_stopped_server_means_disconnected_until_it_returns(
    server: ServerThread, options: SdkOptions
) -> None:
    async with await connect(server, options) as client:
        server.stop()
        await eventually(lambda: client.status().state is SdkState.DISCONNECTED)
        assert await client.bool_value("pro-only", PRO, False) is True  # still served from memory
        server.start()
        await eventually(lambda: client.status().state is SdkState.FRESH)
        assert server.service.sessions[-1].request.since_sequence == SEQ


async def test_no_message_within_the_grace_period_is_stale(server: ServerThread, options: SdkOptions) -> None:
    now = [1000.0]
    client = AsyncSdkClient(
        server.url,
        "http://gateway.test",
        SDK_KEY,
        dataclasses.replace(options, stale_after_s=30),
        clock=lambda: now[0],
    )
    async with client:
        assert client.status().state is SdkState.FRESH
        now[0] += 31
        assert client.status().state is SdkState.STALE
        server.service.sessions[-1].push(heartbeat(SEQ))
        await eventually(lambda: client.status().state is SdkState.FRESH)
        assert client.status().last_sequence == SEQ


async def test_a_refused_key_fails_start_up(server: ServerThread, options: SdkOptions) -> None:
    with pytest.raises(SdkError, match="UNAUTHENTICATED"):
        await connect(server, options, key="sdk_live_wrong")


async def test_no_snapshot_within_the_timeout_fails_start_up(
    server: ServerThread, options: SdkOptions
) -> None:
    server.service.on_connect = lambda request: []
    with pytest.raises(SdkError, match="no definitions snapshot"):
        await AsyncSdkClient.connect(server.url, "http://gateway.test", SDK_KEY, timeout=0.3, options=options)


async def test_list_segment_misses_are_fetched_cached_and_invalidated(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.members.add(("beta", "user", "u1"))
    async with await connect(server, options) as client:
        assert await client.bool_value("beta-only", PRO, False) is True
        assert await client.bool_value("beta-only", FREE, True) is False
        assert await client.bool_value("beta-only", PRO, False) is True
        assert len(gateway.calls("batch-list-check")) == 2  # the repeat was a cache hit
        gateway.members.clear()
        server.service.sessions[-1].push(delta(SEQ + 1, changed_list_segment_keys=["beta"]))
        await eventually(lambda: client.status().last_sequence == SEQ + 1)
        assert await client.bool_value("beta-only", PRO, True) is False
        assert len(gateway.calls("batch-list-check")) == 3


async def test_prewarm_fills_the_cache_in_one_batch(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.members.update({("beta", "user", "u1"), ("beta", "user", "u3")})
    async with await connect(server, options) as client:
        keys = [("beta", "user", f"u{i}") for i in range(1, 5)]
        assert await client.prewarm(keys) == 4
        assert [await client.bool_value("beta-only", ("user", f"u{i}"), False) for i in range(1, 5)] == [
            True,
            False,
            True,
            False,
        ]
        assert len(gateway.calls("batch-list-check")) == 1


async def test_a_failed_list_check_counts_as_not_a_member_and_is_not_cached(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.members.add(("beta", "user", "u1"))
    async with await connect(server, options) as client:
        gateway.fail_next = [503]
        assert await client.bool_value("beta-only", PRO, True) is False
        assert await client.bool_value("beta-only", PRO, False) is True


async def test_a_silent_stream_is_dropped_and_resumed(server: ServerThread, options: SdkOptions) -> None:
    async with await connect(server, dataclasses.replace(options, idle_reconnect_s=0.2)) as client:
        await eventually(lambda: len(server.service.sessions) >= 2)
        assert server.service.sessions[1].request.since_sequence == SEQ
        assert client.status().last_sequence == SEQ


async def test_a_new_snapshot_drops_every_cached_membership(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.members.add(("beta", "user", "u1"))
    async with await connect(server, options) as client:
        assert await client.bool_value("beta-only", PRO, False) is True
        server.service.sessions[-1].push(
            snapshot(SEQ + 10, bool_flag("beta-only", in_list("beta")), lists=[BETA])
        )
        await eventually(lambda: client.status().last_sequence == SEQ + 10)
        assert await client.bool_value("beta-only", PRO, False) is True
        assert len(gateway.calls("batch-list-check")) == 2
