"""Benchmark: event-store append throughput and the relay's commit-to-JetStream latency.

Each figure sits beside a baseline measured in the same run on the same servers: appends against a bare
single-row INSERT (autocommit), the relay's latency against a bare JetStream publish round trip.
`ratio` = value / baseline. Starts its own PostgreSQL (pgserver) and nats-server in a temp dir.
Run alone with `python -m tests.bench.bench_store`.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

import msgspec
import nats
import psycopg
from nats.js import JetStreamContext

from commands.eventstore import Metadata, NewEvent, RecordedEvent
from commands.postgres_store import PostgresEventStore, open_postgres_store
from commands.relay import OutboxRelay
from stitchd.embedded import start_nats, start_postgres
from stitchd.jetstream import ensure_streams
from stitchd.migrate import migrate

APPENDS: Final = 1000
RUNS: Final = 3
WRITERS: Final = 8
LATENCY_SAMPLES: Final = 300
PAUSE_S: Final = 0.003  # between latency samples: each one measures a wake-up from idle
META: Final = Metadata(actor="bench", environment_id=uuid4())
DATA: Final = msgspec.json.encode({"key": "checkout", "enabled": True, "rules": [{"id": 1, "serve": "on"}]})

Row = dict[str, object]


def run() -> list[Row]:
    """Rows of name, value, unit, baseline_name, baseline_value, ratio."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    atexit.register(shutil.rmtree, tmp, True)  # registered first, so it runs after pgserver stops
    pg_url = start_postgres(tmp / "pg")
    nats_server = start_nats(tmp / "nats")
    try:
        return asyncio.run(_run(_fresh_database(pg_url), nats_server.url))
    finally:
        nats_server.stop()


def _fresh_database(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_store")
        conn.execute("CREATE DATABASE bench_store")
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = "bench_store"
    return psycopg.conninfo.make_conninfo("", **{k: str(v) for k, v in info.items() if v is not None})


async def _run(pg_url: str, nats_url: str) -> list[Row]:
    await migrate(pg_url)
    store = await open_postgres_store(pg_url, max_size=WRITERS)
    try:
        await store.pool.wait()
        await _bare_insert(store, 1, 500)  # warm-up
        await _append(store, 1, 500)
        rows = [await _throughput_row(store, writers) for writers in (1, WRITERS)]
        return rows + await _latency_rows(store, pg_url, nats_url)
    finally:
        await store.aclose()


async def _throughput_row(store: PostgresEventStore, writers: int) -> Row:
    """Median of interleaved runs, so drifting load on the machine hits value and baseline alike."""
    appends, inserts = [], []
    for _ in range(RUNS):
        appends.append(await _append(store, writers, APPENDS))
        inserts.append(await _bare_insert(store, writers, APPENDS))
    suffix = f"{writers}_writer" + ("s" if writers > 1 else "")
    return _row(f"store.append_{suffix}", statistics.median(appends), "events/s",
                f"postgres.bare_insert_{suffix}", statistics.median(inserts))  # fmt: skip


def _row(name: str, value: float, unit: str, baseline_name: str, baseline: float) -> Row:
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": round(baseline, 3),
        "ratio": round(value / baseline, 3) if baseline else None,
    }


async def _rate(writers: int, total: int, one: Callable[[], Awaitable[object]]) -> float:
    """Operations per second with `writers` concurrent loops sharing `total` operations."""

    async def writer(n: int) -> None:
        for _ in range(n):
            await one()

    began = time.perf_counter()
    await asyncio.gather(*(writer(total // writers) for _ in range(writers)))
    return (total // writers * writers) / (time.perf_counter() - began)


async def _append(store: PostgresEventStore, writers: int, total: int) -> float:
    def one() -> Awaitable[object]:
        event = NewEvent(event_id=uuid4(), type="flag.created", data=DATA)
        return store.append(uuid4(), "flag", 0, [event], metadata=META, command_id=uuid4())

    return await _rate(writers, total, one)


async def _bare_insert(store: PostgresEventStore, writers: int, total: int) -> float:
    async with store.pool.connection() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, data jsonb)")

    async def one() -> None:
        async with store.pool.connection() as conn:
            await conn.execute("INSERT INTO bench_bare (data) VALUES (%s::jsonb)", (DATA.decode(),))

    return await _rate(writers, total, one)


async def _latency_rows(store: PostgresEventStore, pg_url: str, nats_url: str) -> list[Row]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        bare = await _bare_publish_latencies(js)
        relayed = await _relay_latencies(store, pg_url, nats_url)
    finally:
        await nc.close()
    return [
        _row(f"relay.commit_to_jetstream_{q}", _quantile(relayed, p), "ms", f"jetstream.bare_publish_{q}",
             _quantile(bare, p))
        for q, p in (("p50", 0.5), ("p99", 0.99))
    ]  # fmt: skip


def _quantile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000


async def _bare_publish_latencies(js: JetStreamContext) -> list[float]:
    samples = []
    for _ in range(LATENCY_SAMPLES + 20):
        began = time.perf_counter()
        await js.publish("stitchd.events.bench._", DATA, headers={"Nats-Msg-Id": str(uuid4())})
        samples.append(time.perf_counter() - began)
        await asyncio.sleep(PAUSE_S)
    return samples[20:]


async def _relay_latencies(store: PostgresEventStore, pg_url: str, nats_url: str) -> list[float]:
    """Append one event, then wait for the relay's publish ack: from append's return to the ack."""
    acked: dict[UUID, float] = {}
    arrived, caught_up = asyncio.Event(), asyncio.Event()
    head = await store.head_position()

    async def on_ack(event: RecordedEvent) -> None:
        acked[event.event_id] = time.perf_counter()
        arrived.set()
        if event.position >= head:
            caught_up.set()

    relay = OutboxRelay(pg_url, nats_url, after_publish=on_ack)
    task = asyncio.create_task(relay.run())
    await caught_up.wait()  # the relay first drains the throughput runs' backlog
    samples = []
    try:
        for _ in range(LATENCY_SAMPLES + 20):
            samples.append(await _one_latency(store, acked, arrived))
            await asyncio.sleep(PAUSE_S)
    finally:
        relay.stop()
        await task
    return samples[20:]


async def _one_latency(store: PostgresEventStore, acked: dict[UUID, float], arrived: asyncio.Event) -> float:
    event = NewEvent(event_id=uuid4(), type="flag.created", data=DATA)
    arrived.clear()
    await store.append(uuid4(), "flag", 0, [event], metadata=META)
    committed = time.perf_counter()
    while event.event_id not in acked:
        await asyncio.wait_for(arrived.wait(), 30)
        arrived.clear()
    return max(acked[event.event_id] - committed, 0.0)  # the ack can race the COMMIT reply by microseconds


if __name__ == "__main__":
    for result in run():
        print(result)
