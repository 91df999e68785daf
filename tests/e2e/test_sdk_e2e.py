"""The SDK on the real stack: REST writes -> event store -> relay -> JetStream -> broadcaster -> SDK.

The SDK's REST side (list-checks) talks to a gateway app in this process (httpx ASGI transport); its
gRPC side to a real broadcaster on a TCP port.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
import pytest
from stitchd_sdk import AsyncSdkClient, EvaluationDetails, SdkOptions, SyncUpdate

from domain.context import Context
from gateway.app import create_app
from gateway.deps import IngestPublisher
from gateway.exposures import JetStreamIngest
from schemas import ingest as ingest_wire
from stitchd.embedded import free_port
from sync_broadcaster.app import Broadcaster, BroadcasterSettings, build_broadcaster
from tests import stack as stack_fixtures
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Clock, Tenant, gateway_deps, http_client
from tests.integration.sync_broadcaster.support import Admin, plan_rule
from tests.stack import Stack
from tests.unit.sdk.fakes import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name


def broadcaster_on(stack: Stack, port: int) -> Broadcaster:
    """A broadcaster (not started) on a fixed port, so a restarted one is found at the same address."""
    settings = BroadcasterSettings(
        database_url=stack.pg_url, nats_url=stack.nats_url, host="127.0.0.1", port=port, heartbeat_seconds=1.0
    )
    return build_broadcaster(settings)


@asynccontextmanager
async def running_broadcaster(stack: Stack, port: int) -> AsyncIterator[Broadcaster]:
    async with broadcaster_on(stack, port) as running:
        yield running


@asynccontextmanager
async def sdk_client(
    stack: Stack, tenant: Tenant, port: int, ingest: IngestPublisher | None = None
) -> AsyncIterator[AsyncSdkClient]:
    """An SDK whose REST calls reach a gateway app over the same stack (with ingestion if given)."""
    app = create_app(dataclasses.replace(gateway_deps(stack, Clock()), ingest=ingest))
    async with http_client(app):  # runs the app's start-up hooks
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
        options = SdkOptions(
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
            # In-process Broadcaster.stop() leaves streams open without trailers (a real process exit closes
            # the socket), so the restart test relies on the SDK's idle-stream watchdog: heartbeats every 1 s.
            idle_reconnect_s=3.0,
            flush_interval_s=0.2,
            async_http_transport=transport,
        )
        grpc = f"http://127.0.0.1:{port}"
        async with await AsyncSdkClient.connect(
            grpc, "http://gateway", tenant.sdk_key, timeout=30, options=options
        ) as client:
            yield client


async def test_a_rule_changed_over_rest_changes_the_sdk_evaluation(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    port = free_port()
    pro = ("user", "u1", {"plan": "pro"})
    async with running_broadcaster(stack, port), sdk_client(stack, tenant, port) as client:
        updates: list[SyncUpdate] = []
        client.add_listener(updates.append)
        assert (await client.bool_details("checkout", pro, True)).variant_key == "off"
        position = await admin.rules(plan_rule("pro"))
        await eventually(lambda: client.status().last_sequence >= position)
        details = await client.bool_details("checkout", pro, False)
        assert (details.value, details.variant_key, details.rule_id, details.sequence) == (
            True,
            "on",
            "pro",
            position,
        )
        [received] = updates
        assert (received.sequence, received.is_snapshot, received.upserted_flag_keys) == (
            position,
            False,
            ("checkout",),
        )


async def test_a_restarted_broadcaster_replays_exactly_the_missed_changes(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    port = free_port()
    first = broadcaster_on(stack, port)
    await first.start()
    async with sdk_client(stack, tenant, port) as client:
        updates: list[SyncUpdate] = []
        client.add_listener(updates.append)
        last = client.status().last_sequence
        await first.stop()  # ends every open stream, like the process going away
        missed = [
            await admin.toggle(False),
            await admin.rules(plan_rule("team", "team")),
            await admin.toggle(True),
        ]
        async with running_broadcaster(stack, port):
            await eventually(lambda: client.status().last_sequence == missed[-1])
            assert client.status().reconnects >= 1
            team = await client.bool_details("checkout", ("user", "u9", {"plan": "team"}), False)
    assert last < missed[0]
    assert [(u.sequence, u.is_snapshot) for u in updates] == [(p, False) for p in missed]
    assert (team.value, team.rule_id, team.sequence) == (True, "team", missed[-1])


async def test_list_segment_membership_changes_reach_sdk_evaluations(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.segment({"key": "beta", "kind": "list", "included_keys": ["ann"]})
    await admin.create_flag({**_bool_flag("beta-only"), "rules": [_in_segment_rule("beta")]})
    port = free_port()
    async with running_broadcaster(stack, port), sdk_client(stack, tenant, port) as client:
        assert await client.bool_value("beta-only", ("user", "ann"), False) is True
        assert await client.bool_value("beta-only", ("user", "bob"), True) is False
        members = f"/v1/environments/{tenant.environment_id}/segments/beta/members"
        segment = await api.ok("GET", members.removesuffix("/members"), token=tenant.token)
        body = {"add": ["bob"], "remove": ["ann"], "version": segment["version"]}
        changed = await api.ok("POST", members, token=tenant.token, json=body)
        await eventually(lambda: client.status().last_sequence >= changed["position"])
        assert await client.bool_value("beta-only", ("user", "bob"), False) is True
        assert await client.bool_value("beta-only", ("user", "ann"), True) is False


async def test_sdk_evaluations_equal_the_servers_evaluate_for_random_contexts(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.segment({"key": "beta", "kind": "list", "included_keys": ["u1", "u3", "u5"]})
    adults = {"kind": "leaf", "attribute": {"context_type": "user", "name": "age"}, "op": "gte", "value": 18}
    await admin.segment({"key": "adults", "kind": "rule", "condition": adults})
    await admin.create_flag({**_bool_flag("checkout"), "rules": [plan_rule("pro"), _in_segment_rule("beta")]})
    await admin.create_flag(_split_flag("layout", _in_segment_rule("adults", "x")))
    position = await admin.toggle(True, key="layout")
    port = free_port()
    rng = random.Random(20261121)
    async with running_broadcaster(stack, port), sdk_client(stack, tenant, port) as client:
        await eventually(lambda: client.status().last_sequence >= position)
        for _ in range(60):
            ctx = _random_context(rng)
            for flag_key in ("checkout", "layout"):
                mine = await client.json_details(flag_key, ctx, None)
                theirs = await _server_evaluate(api, tenant, flag_key, ctx, position)
                assert _comparable(mine) == (
                    theirs["value"],
                    theirs["variant_key"],
                    theirs["reason"],
                    theirs["rule_id"],
                    theirs["sequence"],
                ), ctx


async def test_tracked_events_and_exposures_reach_jetstream_on_close(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    definitions = f"/v1/environments/{tenant.environment_id}/event-definitions"
    await api.ok("POST", definitions, token=tenant.token, json={"key": "revenue", "value_type": "double"})
    await admin.create_flag()
    await admin.rules(plan_rule("pro"))
    port = free_port()
    secret = "ann@private.example"
    ann = Context(
        context_type="user",
        key="ann",
        parameters={"plan": "pro", "email": secret},
        private_parameters=frozenset({"email"}),
    )
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        async with (
            running_broadcaster(stack, port),
            sdk_client(stack, tenant, port, JetStreamIngest(js)) as client,
        ):
            served = await client.bool_details("checkout", ann, False)
            await client.bool_value("checkout", ann, False)  # the same exposure again: deduplicated
            client.track("revenue", ann, 49.5)
            client.track("unknown-metric", ann)  # refused by the gateway (rejected_keys), never stored
            await client.flush()
            stats = client.tracking_stats()
        metrics = await _stored(js, tenant, "metric")
        exposures = await _stored(js, tenant, "exposure")
    finally:
        await nc.close()
    assert [(m.metric_key, m.context_key, m.value) for m in metrics] == [("revenue", "ann", 49.5)]
    assert [(e.flag_key, e.variant_key, e.context_key, e.sequence) for e in exposures] == [
        ("checkout", "on", "ann", served.sequence)
    ]
    assert secret not in repr(metrics + exposures)
    assert (stats.sent, stats.rejected, stats.queued) == (2, 1, 0)  # one metric and one exposure were stored


async def _stored(js: Any, tenant: Tenant, kind: ingest_wire.IngestKind) -> list[Any]:
    """Every message of the tenant's environment and `kind` in STITCHD_INGEST, in stream order."""
    subject = ingest_wire.subject(str(tenant.environment_id), kind)
    info = await js.stream_info("STITCHD_INGEST", subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if count == 0:
        return []
    sub = await js.pull_subscribe(subject, stream="STITCHD_INGEST")
    msgs = await sub.fetch(count, timeout=5)
    await sub.unsubscribe()
    return [ingest_wire.decode(m.subject, m.data) for m in msgs]


def _random_context(rng: random.Random) -> Context:
    parameters: dict[str, Any] = {"plan": rng.choice(["pro", "free", "team"]), "age": rng.randint(10, 30)}
    if rng.random() < 0.2:
        del parameters["age"]
    return Context(context_type="user", key=f"u{rng.randint(0, 9)}", parameters=parameters)


def _comparable(details: EvaluationDetails[Any]) -> tuple[Any, ...]:
    return (details.value, details.variant_key, str(details.reason), details.rule_id, details.sequence)


async def _server_evaluate(api: Api, tenant: Tenant, flag_key: str, ctx: Context, position: int) -> Any:
    body = {
        "flag_key": flag_key,
        "context_type": ctx.context_type,
        "context_key": ctx.key,
        "attributes": ctx.parameters,
    }
    headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(position)}
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    response = await api.call("POST", path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _bool_flag(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "value_type": "bool",
        "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
        "enabled": True,
        "off_variant": "off",
        "fallthrough": {"variant_key": "off"},
    }


def _in_segment_rule(segment_key: str, variant_key: str = "on") -> dict[str, Any]:
    condition = {
        "kind": "leaf",
        "attribute": {"context_type": "user"},
        "op": "in_segment",
        "value": segment_key,
    }
    return {"id": f"in-{segment_key}", "condition": condition, "serve": {"variant_key": variant_key}}


def _split_flag(key: str, rule: dict[str, Any]) -> dict[str, Any]:
    buckets = [{"variant_key": "a", "weight_milli": 500}, {"variant_key": "b", "weight_milli": 500}]
    return {
        "key": key,
        "value_type": "string",
        "variants": [{"key": k, "value": k.upper()} for k in ("a", "b", "x")],
        "enabled": False,
        "off_variant": "x",
        "fallthrough": {"allocation": {"buckets": buckets}},
        "rules": [rule],
    }
