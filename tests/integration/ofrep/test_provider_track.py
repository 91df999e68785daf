"""OpenFeature `track()` through StitchdProvider on the real stack: the live `stitchd gateway` process
takes the metric event, JetStream carries it, the stats worker loads it into ClickHouse."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from openfeature import api as openfeature_api
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from stitchd_sdk import SdkOptions
from stitchd_sdk.openfeature import StitchdProvider

from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stats_worker.consumer import ConsumerSettings, consumer_config
from stitchd.embedded import free_port
from tests import stack as stack_fixtures
from tests.e2e.test_sdk_e2e import running_broadcaster
from tests.integration.gateway import support
from tests.integration.gateway.support import Api
from tests.integration.stitchd.test_gateway_main import gateway_process
from tests.integration.sync_broadcaster.support import WAIT, Admin
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name


def _metric_rows(client: Any, database: str, environment_id: str) -> list[tuple[Any, ...]]:
    query = (
        f"SELECT metric_key, context_type, context_key, value FROM {database}.metric_events FINAL"
        " WHERE environment_id = {env:String} ORDER BY metric_key"
    )
    return [tuple(row) for row in client.query(query, parameters={"env": environment_id}).result_rows]


async def _until_rows(client: Any, database: str, environment_id: str, count: int) -> list[tuple[Any, ...]]:
    async with asyncio.timeout(WAIT):
        while len(rows := _metric_rows(client, database, environment_id)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # ClickHouse offers nothing to wait on
    return rows


async def test_track_reaches_clickhouse_as_metric_events(
    stack: Stack, api: Api, chdb_client: Any, ch_database: str
) -> None:
    tenant = await api.tenant()
    definitions = f"/v1/environments/{tenant.environment_id}/event-definitions"
    await api.ok("POST", definitions, token=tenant.token, json={"key": "revenue", "value_type": "double"})
    await api.ok("POST", definitions, token=tenant.token, json={"key": "signup", "value_type": "bool"})
    await Admin(api, tenant).create_flag()
    worker = StatsWorkerSettings(
        database_url=stack.pg_url, nats_url=stack.nats_url, clickhouse_url="chdb://in-process",
        database=ch_database,
        consumer=ConsumerSettings(fetch_timeout=0.2, config=consumer_config(durable=f"of{uuid4().hex[:8]}")),
    )  # fmt: skip
    port = free_port()
    options = SdkOptions(flush_interval_s=0.2, send_exposures=False)
    async with (
        build_stats_worker(worker, client=chdb_client),
        gateway_process(stack) as gateway,
        running_broadcaster(stack, port),
    ):
        provider = StitchdProvider(f"http://127.0.0.1:{port}", str(gateway.base_url), tenant.sdk_key,
                                   options=options, timeout=WAIT)  # fmt: skip
        await asyncio.to_thread(openfeature_api.set_provider_and_wait, provider, "stitchd-track")
        try:
            client = openfeature_api.get_client(domain="stitchd-track")
            ann = EvaluationContext("ann", {"plan": "pro"})
            org = EvaluationContext(attributes={"kind": "multi", "org": {"targetingKey": "acme"}})
            client.track("revenue", ann, TrackingEventDetails(value=49.5))
            client.track("signup", org)
            assert await asyncio.to_thread(provider.client.flush)
            rows = await _until_rows(chdb_client, ch_database, str(tenant.environment_id), 2)
        finally:
            openfeature_api.clear_providers()
    assert rows == [("revenue", "user", "ann", 49.5), ("signup", "org", "acme", None)]
