"""Ingest routes over the real stack and JetStream: validation, de-duplication, auth, durability."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from gateway.app import create_app
from gateway.deps import GatewaySettings
from gateway.errors import Unavailable
from gateway.exposures import JetStreamIngest
from schemas import ingest
from schemas.ingest import ExposureMsg, MetricEventMsg
from stitchd.embedded import NatsProcess
from stitchd.jetstream import ensure_streams
from tests import stack as stack_fixtures
from tests.integration.gateway.support import (
    PASSWORD,
    Api,
    Clock,
    Tenant,
    assert_envelope,
    gateway_deps,
    http_client,
)
from tests.integration.sync_broadcaster.support import Admin
from tests.stack import Stack

pytestmark = pytest.mark.integration
stack = stack_fixtures.stack  # fixture, found by name


@pytest.fixture
async def js(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def api(stack: Stack, js: JetStreamContext) -> AsyncIterator[Api]:
    """The gateway with ingestion wired to the stack's JetStream (short ack timeout for outage tests)."""
    clock = Clock()
    deps = dataclasses.replace(
        gateway_deps(stack, clock),
        ingest=JetStreamIngest(js, ack_timeout=2.0),
        settings=GatewaySettings(write_wait_seconds=20.0, max_body_bytes=1 << 20),
    )
    async with http_client(create_app(deps)) as client:
        yield Api(client=client, deps=deps, clock=clock)


async def define(api: Api, tenant: Tenant, key: str, value_type: str) -> int:
    path = f"/v1/environments/{tenant.environment_id}/event-definitions"
    body = {"key": key, "value_type": value_type}
    return int((await api.ok("POST", path, token=tenant.token, json=body))["position"])


async def post(
    api: Api, tenant: Tenant, route: str, body: Any, *, position: int = 0, key: str | None = None
) -> httpx.Response:
    headers = {"x-sdk-key": key or tenant.sdk_key, "x-stitchd-min-position": str(position)}
    return await api.call(
        "POST", f"/v1/environments/{tenant.environment_id}/{route}", json=body, headers=headers
    )


async def stored(js: JetStreamContext, environment_id: UUID, kind: ingest.IngestKind) -> list[Any]:
    """Every message of the environment and kind in STITCHD_INGEST, in stream order."""
    subject = ingest.subject(str(environment_id), kind)
    info = await js.stream_info("STITCHD_INGEST", subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if count == 0:
        return []
    sub = await js.pull_subscribe(subject, stream="STITCHD_INGEST")
    msgs = await sub.fetch(count, timeout=5)
    await sub.unsubscribe()
    return [ingest.decode(m.subject, m.data) for m in msgs]


async def test_batch_publishes_valid_events_and_reports_rejected_keys(api: Api, js: JetStreamContext) -> None:
    tenant = await api.tenant()
    await define(api, tenant, "purchase", "bool")
    await define(api, tenant, "items", "int")
    position = await define(api, tenant, "revenue", "double")
    events = [
        {"metric_key": "purchase", "context_key": "u1", "value": True, "event_id": "e1"},
        {"metric_key": "items", "context_key": "u1", "value": 3, "timestamp_ms": 1_700_000_000_000},
        {"metric_key": "revenue", "context_key": "u2", "value": 2},  # an int is a valid double
        {"metric_key": "revenue", "context_key": "u2"},  # an occurrence
        {"metric_key": "items", "context_key": "u3", "value": 2.5},  # mistyped
        {"metric_key": "purchase", "context_key": "u3", "value": 1},  # mistyped
        {"metric_key": "signup", "context_key": "u3"},  # unknown
        {"metric_key": "signup", "context_key": "u4"},
    ]
    response = await post(api, tenant, "events/batch", {"events": events}, position=position)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted_count": 4, "rejected_keys": ["items", "purchase", "signup"]}
    messages = await stored(js, tenant.environment_id, "metric")
    assert [(m.metric_key, m.context_key, m.value) for m in messages] == [
        ("purchase", "u1", True), ("items", "u1", 3), ("revenue", "u2", 2), ("revenue", "u2", None),
    ]  # fmt: skip
    assert messages[0].event_id == "e1"
    assert messages[1].timestamp_ms == 1_700_000_000_000
    assert all(
        isinstance(m, MetricEventMsg) and m.environment_id == str(tenant.environment_id) for m in messages
    )
    assert messages[2].timestamp_ms == messages[2].received_at_ms > 1_700_000_000_000


async def test_a_resent_event_id_is_stored_once(api: Api, js: JetStreamContext) -> None:
    tenant = await api.tenant()
    position = await define(api, tenant, "purchase", "bool")
    body = {"metric_key": "purchase", "context_key": "u1", "value": True, "event_id": "click-1"}
    for _ in range(3):
        answer = await post(api, tenant, "events", body, position=position)
        assert answer.json() == {"accepted_count": 1, "rejected_keys": []}
    assert [m.event_id for m in await stored(js, tenant.environment_id, "metric")] == ["click-1"]


async def test_event_ids_are_scoped_to_their_environment(api: Api, js: JetStreamContext) -> None:
    first, second = await api.tenant("Acme"), await api.tenant("Globex")
    for tenant in (first, second):
        position = await define(api, tenant, "purchase", "bool")
        body = {"metric_key": "purchase", "context_key": "u1", "event_id": "1"}
        assert (await post(api, tenant, "events", body, position=position)).json()["accepted_count"] == 1
    for tenant in (first, second):
        assert len(await stored(js, tenant.environment_id, "metric")) == 1


async def test_a_definition_created_a_moment_ago_is_accepted_without_a_position(api: Api) -> None:
    tenant = await api.tenant()
    await define(api, tenant, "signup", "bool")
    answer = await post(api, tenant, "events", {"metric_key": "signup", "context_key": "u1"})
    assert answer.json() == {"accepted_count": 1, "rejected_keys": []}


async def test_ingest_accepts_a_writer_jwt_and_refuses_bad_credentials(api: Api) -> None:
    tenant, other = await api.tenant("Acme"), await api.tenant("Globex")
    position = await define(api, tenant, "purchase", "bool")
    path = f"/v1/environments/{tenant.environment_id}/events"
    body = {"metric_key": "purchase", "context_key": "u1"}
    with_jwt = await api.call("POST", path, token=tenant.token, json=body)
    assert with_jwt.json() == {"accepted_count": 1, "rejected_keys": []}, with_jwt.text
    assert_envelope(await api.call("POST", path, json=body), 401, "UNAUTHENTICATED")
    assert_envelope(await post(api, tenant, "events", body, key="sdk_live_nope"), 401, "UNAUTHENTICATED")
    assert_envelope(await post(api, tenant, "events", body, key=other.sdk_key, position=position), 404)
    assert_envelope(await api.call("POST", path, token=other.token, json=body), 404, "NOT_FOUND")


async def test_a_viewer_may_not_ingest(api: Api) -> None:
    tenant = await api.tenant()
    email = f"viewer-{uuid4().hex[:8]}@acme.test"
    user = {"email": email, "password": PASSWORD, "org_role": "viewer"}
    await api.ok("POST", f"/v1/admin/orgs/{tenant.org_id}/users", token=await api.root(), json=user)
    token = (await api.login(email))["access_token"]
    path = f"/v1/environments/{tenant.environment_id}/events"
    body = {"metric_key": "purchase", "context_key": "u1"}
    assert_envelope(await api.call("POST", path, token=token, json=body), 403, "PERMISSION_DENIED")


async def test_malformed_bodies_are_invalid_arguments(api: Api) -> None:
    tenant = await api.tenant()
    bad_bodies = [
        {"metric_key": "purchase"},
        {"metric_key": "", "context_key": "u1"},
        {"metric_key": "purchase", "context_key": "u1", "value": "yes"},
        {"metric_key": "purchase", "context_key": "u1", "event_id": "has space"},
        {"metric_key": "purchase", "context_key": "u1", "colour": "red"},
    ]
    for body in bad_bodies:
        assert_envelope(await post(api, tenant, "events", body), 400, "INVALID_ARGUMENT")
    too_many = {"events": [{"metric_key": "a", "context_key": "u"}] * 5001}
    assert_envelope(await post(api, tenant, "events/batch", too_many), 400, "INVALID_ARGUMENT")


async def test_sdk_exposures_are_published_once_even_when_resent(api: Api, js: JetStreamContext) -> None:
    tenant = await api.tenant()
    exposures = [
        {"flag_key": "checkout", "variant_key": "on", "context_key": f"u{i}", "sequence": 7,
         "timestamp_ms": 1_700_000_000_000 + i}
        for i in range(3)
    ]  # fmt: skip
    for _ in range(2):  # an SDK retrying a batch whose answer it lost
        answer = await post(api, tenant, "exposures/batch", {"exposures": exposures})
        assert answer.json() == {"accepted_count": 3}, answer.text
    messages = await stored(js, tenant.environment_id, "exposure")
    assert all(isinstance(m, ExposureMsg) for m in messages)
    assert [(m.context_key, m.variant_key, m.sequence) for m in messages] == [
        ("u0", "on", 7), ("u1", "on", 7), ("u2", "on", 7),
    ]  # fmt: skip


async def test_server_side_evaluations_reach_jetstream(api: Api, js: JetStreamContext) -> None:
    tenant = await api.tenant()
    position = await Admin(api, tenant).create_flag()
    body = {"flag_key": "checkout", "context_key": "u1", "attributes": {"plan": "pro"}}
    assert (await post(api, tenant, "evaluate", body, position=position)).status_code == 200
    for _ in range(200):  # the exposure is published in the background; bounded wait
        messages = await stored(js, tenant.environment_id, "exposure")
        if messages:
            break
        await asyncio.sleep(0.02)
    assert [(m.flag_key, m.variant_key, m.context_key) for m in messages] == [("checkout", "off", "u1")]


async def test_unconfigured_ingestion_answers_unavailable(stack: Stack) -> None:
    deps = gateway_deps(stack, Clock())
    async with http_client(create_app(deps)) as client:
        plain = Api(client=client, deps=deps, clock=Clock())
        tenant = await plain.tenant()
        body = {"metric_key": "purchase", "context_key": "u1"}
        assert_envelope(await post(plain, tenant, "events", body), 502, "UNAVAILABLE")


async def test_nothing_is_acknowledged_while_jetstream_is_down(nats_process: NatsProcess) -> None:
    nc = await nats.connect(nats_process.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        await ensure_streams(nc.jetstream())
        publisher = JetStreamIngest(nc.jetstream(), ack_timeout=1.0)
        msg = MetricEventMsg(
            event_id="e1", environment_id="env", metric_key="m", context_type="user", context_key="u",
            timestamp_ms=1, received_at_ms=1,
        )  # fmt: skip
        await publisher.publish([msg])
        nats_process.stop()
        with pytest.raises(Unavailable):
            await publisher.publish([msg])
    finally:
        await nc.close()
