"""The experiment story over the public APIs, on the real stack (Postgres, NATS, chdb):

event definitions and a 50/50 flag over REST, an experiment activated on it, an SDK evaluating users
(its exposures) and tracking purchases (metric events) through the gateway's ingest routes into
JetStream, the stats worker loading ClickHouse, a recompute job over REST, and results naming the
variant that really converts better.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from stitchd_sdk import AsyncSdkClient, SdkOptions

from gateway.app import create_app
from gateway.exposures import JetStreamIngest
from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stats_worker.consumer import ConsumerSettings, consumer_config
from stitchd.embedded import free_port
from sync_broadcaster.app import BroadcasterSettings, build_broadcaster
from tests import stack as stack_fixtures
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Clock, Tenant, gateway_deps, http_client
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name

USERS = 400
CONVERSION = {"on": 0.6, "off": 0.2}
WAIT_ROUNDS = 600  # bounded polling (never asserted on)
SPLIT_FLAG: dict[str, Any] = {
    "key": "checkout",
    "value_type": "bool",
    "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
    "enabled": True,
    "off_variant": "off",
    "fallthrough": {
        "allocation": {
            "buckets": [
                {"variant_key": "on", "weight_milli": 500},
                {"variant_key": "off", "weight_milli": 500},
            ]
        }
    },
}


@pytest.fixture
async def js(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.nats_url, max_reconnect_attempts=-1)
    yield nc.jetstream()
    await nc.close()


@asynccontextmanager
async def sdk(stack: Stack, tenant: Tenant, js: JetStreamContext) -> AsyncIterator[AsyncSdkClient]:
    """A broadcaster on a TCP port and an SDK whose REST calls reach a gateway app with ingestion."""
    app = create_app(dataclasses.replace(gateway_deps(stack, Clock()), ingest=JetStreamIngest(js)))
    settings = BroadcasterSettings(
        database_url=stack.pg_url, nats_url=stack.nats_url, host="127.0.0.1", port=free_port()
    )
    async with http_client(app), build_broadcaster(settings) as broadcaster:
        options = SdkOptions(
            flush_interval_s=0.2,
            async_http_transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        )
        grpc = f"http://127.0.0.1:{broadcaster.port}"
        async with await AsyncSdkClient.connect(
            grpc, "http://gateway", tenant.sdk_key, timeout=30, options=options
        ) as client:
            yield client


async def admin(api: Api, tenant: Tenant, method: str, rest: str, body: Any = None) -> Any:
    return await api.ok(
        method, f"/v1/environments/{tenant.environment_id}/{rest}", token=tenant.token, json=body
    )


async def set_up_experiment(api: Api, tenant: Tenant) -> str:
    """Definitions, the flag and an ACTIVE experiment; returns the experiment id."""
    await admin(api, tenant, "POST", "event-definitions", {"key": "purchase", "value_type": "bool"})
    await admin(api, tenant, "POST", "event-definitions", {"key": "revenue", "value_type": "double"})
    await admin(api, tenant, "POST", "flags", SPLIT_FLAG)
    body = {
        "name": "New checkout",
        "flag_key": "checkout",
        "variant_keys": ["off", "on"],
        "metric_keys": ["purchase", "revenue"],
    }
    experiment = await admin(api, tenant, "POST", "experiments", body)
    body = {"new_status": "ACTIVE", "version": experiment["version"]}
    await admin(api, tenant, "POST", f"experiments/{experiment['id']}/transition", body)
    return str(experiment["id"])


async def shop(client: AsyncSdkClient) -> dict[str, int]:
    """Every user is evaluated by the SDK (an exposure) and may buy; returns how many saw each variant."""
    rng = random.Random(7)
    seen = {"on": 0, "off": 0}
    for i in range(USERS):
        user: tuple[str, str, dict[str, Any]] = ("user", f"u{i}", {})
        details = await client.bool_details("checkout", user, False)
        variant = details.variant_key or "?"
        seen[variant] += 1
        if rng.random() < CONVERSION[variant]:
            client.track("purchase", user, True)
            client.track("revenue", user, round(rng.uniform(10, 90), 2))
    for _ in range(WAIT_ROUNDS):
        if await client.flush() and client.tracking_stats().queued == 0:
            break
        await asyncio.sleep(0.05)
    return seen


async def recompute(api: Api, tenant: Tenant, experiment_id: str) -> dict[str, Any]:
    """Queue a recompute job over REST and poll it to its end."""
    job = await admin(api, tenant, "POST", f"experiments/{experiment_id}/recompute")
    assert job["status"] == "pending"
    for _ in range(WAIT_ROUNDS):
        job = await admin(api, tenant, "GET", f"stats-jobs/{job['job_id']}")
        if job["status"] in ("succeeded", "failed"):
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


async def until_ingested(api: Api, tenant: Tenant, experiment_id: str, participants: int) -> dict[str, Any]:
    """Recompute until every exposure has reached ClickHouse through JetStream and the worker."""
    for _ in range(WAIT_ROUNDS // 20):
        job = await recompute(api, tenant, experiment_id)
        assert job["status"] == "succeeded", job["error"]
        results: dict[str, Any] = await admin(api, tenant, "GET", f"experiments/{experiment_id}/results")
        if sum(v["participant_count"] for v in results["variant_results"]) >= participants:
            return results
        await asyncio.sleep(0.2)
    raise AssertionError("the exposures never all reached the results")


async def test_an_experiment_from_definitions_to_a_winner(
    stack: Stack, api: Api, js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    tenant = await api.tenant()
    experiment_id = await set_up_experiment(api, tenant)
    worker_settings = StatsWorkerSettings(
        database_url=stack.pg_url, nats_url=stack.nats_url, clickhouse_url="chdb://in-process",
        database=ch_database,
        consumer=ConsumerSettings(fetch_timeout=0.2, config=consumer_config(durable=f"e2e{uuid4().hex[:8]}")),
    )  # fmt: skip
    async with build_stats_worker(worker_settings, client=chdb_client):
        async with sdk(stack, tenant, js) as client:
            seen = await shop(client)
        results = await until_ingested(api, tenant, experiment_id, USERS)
    assert results["computation_status"] == "succeeded"
    assert results["is_stale"] is False
    assert results["computed_at_ms"] > 0
    assert results["next_run_at_ms"] > results["computed_at_ms"]
    by_variant = {v["variant_key"]: v for v in results["variant_results"]}
    assert {k: v["participant_count"] for k, v in by_variant.items()} == seen
    assert by_variant["on"]["metric_values"]["purchase"] > by_variant["off"]["metric_values"]["purchase"]
    assert by_variant["on"]["p_value_present"]
    assert by_variant["on"]["p_value"] < 0.001
    assert results["details"]["winner"] == "on"
    assert results["details"]["srm"]["mismatch"] is False
