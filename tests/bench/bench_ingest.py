"""Benchmark: metric events through POST /events/batch into ClickHouse, end to end, beside a bare
JetStream publish loop measured in the same run.

Real parts: an embedded PostgreSQL (event store, relay, projector, for the tenant and its event
definition), nats-server with JetStream, the gateway app (driven in-process over httpx's ASGI
transport, so no socket time is counted), and the stats worker consuming into chdb. "acked" stops the
clock when every HTTP answer is in (JetStream holds the events); "clickhouse" when ClickHouse holds them
all. The baseline publishes the same number of messages straight to JetStream (publish_async, then
every ack), with no HTTP, validation or ClickHouse; ratio = value / baseline.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import nats
from nats.js import JetStreamContext
from psycopg_pool import AsyncConnectionPool

from commands.postgres_store import open_postgres_store
from gateway.app import create_app
from gateway.deps import GatewaySettings
from gateway.exposures import JetStreamIngest
from schemas.ingest import MetricEventMsg, encode
from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stats_worker.clickhouse_schema import open_client
from stitchd.embedded import start_nats, start_postgres
from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare
from tests.integration.gateway.support import Api, Clock, gateway_deps, http_client
from tests.stack import Stack

EVENTS: Final = 100_000
BATCH: Final = 1000
CLIENTS: Final = 8
DATABASE: Final = "bench_ingest"
WAIT_S: Final = 300.0
Row = dict[str, object]


def run() -> list[Row]:
    """Rows of name, value, unit, baseline_name, baseline_value, ratio."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    atexit.register(shutil.rmtree, tmp, True)  # registered first, so it runs after pgserver stops
    pg_url = start_postgres(tmp / "pg")
    nats_server = start_nats(tmp / "nats")
    try:
        return asyncio.run(_run(tmp, pg_url, nats_server.url))
    finally:
        nats_server.stop()


async def _run(tmp: Path, pg_url: str, nats_url: str) -> list[Row]:
    resources = Resources(pg_url, nats_url, f"chdb://{tmp / 'chdb'}")
    await prepare(resources)
    nc = await nats.connect(nats_url)
    try:
        baseline = await _bare_publish_rate(nc.jetstream())
        async with running(("relay", "projector"), Settings(data_dir=tmp / "data"), resources):
            acked, stored = await _through_the_gateway(tmp, resources, nc.jetstream())
    finally:
        await nc.close()
    name = "bare JetStream publish"
    return [
        _row("ingest.events_batch_acked", acked, name, baseline),
        _row("ingest.events_batch_to_clickhouse", stored, name, baseline),
    ]


def _row(name: str, rate: float, baseline_name: str, baseline: float) -> Row:
    return {
        "name": name, "value": rate, "unit": "events/s", "baseline_name": baseline_name,
        "baseline_value": baseline, "ratio": rate / baseline,
    }  # fmt: skip


async def _bare_publish_rate(js: JetStreamContext) -> float:
    """Same message count and batch size, straight to JetStream (a kind the worker does not consume)."""
    msg = encode(_message(0))
    began = time.perf_counter()
    for start in range(0, EVENTS, BATCH):
        acks = [
            await js.publish_async("stitchd.ingest.bench.baseline", msg, headers={"Nats-Msg-Id": f"b{i}"})
            for i in range(start, start + BATCH)
        ]
        await asyncio.gather(*acks)
    return EVENTS / (time.perf_counter() - began)


def _message(i: int) -> MetricEventMsg:
    return MetricEventMsg(
        event_id=f"e{i}", environment_id="bench", metric_key="revenue", context_type="user",
        context_key=f"u{i % 5000}", value=1.5, timestamp_ms=1, received_at_ms=1,
    )  # fmt: skip


async def _through_the_gateway(tmp: Path, resources: Resources, js: JetStreamContext) -> tuple[float, float]:
    stack = await _stack(resources, tmp)
    deps = dataclasses.replace(
        gateway_deps(stack, Clock()),
        ingest=JetStreamIngest(js),
        settings=GatewaySettings(write_wait_seconds=30.0, max_body_bytes=4 << 20),
    )
    client = open_client(resources.clickhouse_url)
    worker = StatsWorkerSettings(
        database_url=resources.database_url, nats_url=resources.nats_url,
        clickhouse_url=resources.clickhouse_url, database=DATABASE,
    )  # fmt: skip
    try:
        async with http_client(create_app(deps)) as http, build_stats_worker(worker, client=client):
            api = Api(client=http, deps=deps, clock=Clock())
            tenant = await api.tenant()
            path = f"/v1/environments/{tenant.environment_id}"
            definition = {"key": "revenue", "value_type": "double"}
            created = await api.ok("POST", f"{path}/event-definitions", token=tenant.token, json=definition)
            headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(created["position"])}
            bodies = _bodies()
            began = time.perf_counter()
            await _post_all(http, f"{path}/events/batch", headers, bodies)
            acked = time.perf_counter() - began
            await _until_stored(client, str(tenant.environment_id))
            stored = time.perf_counter() - began
    finally:
        await stack.pool.close()
        await stack.store.aclose()
        client.close()
    return EVENTS / acked, EVENTS / stored


async def _stack(resources: Resources, tmp: Path) -> Stack:
    store = await open_postgres_store(resources.database_url)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        resources.database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    settings = Settings(data_dir=tmp / "data")
    return Stack(store, pool, resources.database_url, resources.nats_url, settings, resources)


def _bodies() -> list[bytes]:
    """Request bodies, encoded before the clock starts (the client's JSON work is not the gateway's)."""
    return [
        msgspec.json.encode({"events": [
            {"metric_key": "revenue", "context_key": f"u{i % 5000}", "value": 1.5, "event_id": f"e{i}"}
            for i in range(start, start + BATCH)
        ]})
        for start in range(0, EVENTS, BATCH)
    ]  # fmt: skip


async def _post_all(http: httpx.AsyncClient, url: str, headers: dict[str, str], bodies: list[bytes]) -> None:
    queue = iter(bodies)
    sent = {**headers, "content-type": "application/json"}

    async def client() -> None:
        for body in queue:
            response = await http.post(url, content=body, headers=sent)
            response.raise_for_status()
            assert response.json()["accepted_count"] == BATCH, response.text

    await asyncio.gather(*(client() for _ in range(CLIENTS)))


async def _until_stored(client: Any, environment_id: str) -> None:
    sql = f"SELECT count() FROM {DATABASE}.metric_events FINAL WHERE environment_id = %(e)s"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(
            lambda: client.query(sql, parameters={"e": environment_id}).result_rows
        )
        if rows[0][0] >= EVENTS:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"ClickHouse did not receive {EVENTS} events within {WAIT_S}s")


if __name__ == "__main__":
    for row in run():
        print(row)
