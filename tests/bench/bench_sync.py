"""Benchmark: definition sync fan-out and the /evaluate route, each beside a baseline from the same run.

- `sync.propagation_{median,p99}_ms[{n}_streams]`: from the moment the broadcaster's cache folds a change
  to the moment each of n connected SDK streams has received its delta (n = 1, 100, 1,000). The SDK
  streams run in a separate process (grpclib clients; CLOCK_MONOTONIC is shared by processes). The
  baseline is the same change reaching 1 stream.
- `sync.memory_per_idle_stream`: traced Python memory of the broadcaster process per open idle stream
  (1,000 streams), beside the memory of one encoded snapshot.
- `evaluate.requests_per_second`: POST /evaluate (x-sdk-key, from the in-memory cache) beside a bare
  Litestar POST route in the same app, both driven in-process through ASGI (no network, no database).
Run alone with `python -m tests.bench.bench_sync`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Final

import httpx
from grpclib.client import Channel
from grpclib.const import Cardinality
from grpclib.encoding.proto import ProtoCodec
from grpclib.server import Server
from litestar import Litestar, post

from gateway.errors import EXCEPTION_HANDLERS
from gateway.evaluate import EvaluateController, install_definitions
from readmodels.definitions import DefinitionsCache
from schemas.generated.stitchd.flags.v1 import SyncRequest, SyncResponse
from stitchd.gateway_main import _offline_deps
from sync_broadcaster.service import FlagSyncService
from sync_broadcaster.wire import WireCodec
from tests.unit.sync_broadcaster.world import World, plan_is

STREAM_COUNTS: Final = (1, 100, 1000)
CHANGES: Final = 20
STREAMS_PER_CHANNEL: Final = 100
REQUESTS: Final = 3000
OWN_CODE: Final = ("/sync_broadcaster/", "/readmodels/")
SYNC_PATH: Final = "/stitchd.flags.v1.FlagSyncService/SyncDefinitions"
Row = dict[str, object]


def run() -> list[Row]:
    """Rows of name, value, unit, baseline_name, baseline_value, ratio."""
    return asyncio.run(_run())


async def _run() -> list[Row]:
    world = World()
    env = world.environment()
    raw, _ = world.issue_key(env)
    world.create_flag("checkout")
    world.configure(env, "checkout")
    cache = DefinitionsCache()
    await cache.catch_up(world.log)
    rows = await _sync_rows(world, env, raw, cache)
    rows += await _evaluate_rows(cache, env, raw)
    return rows


async def _sync_rows(world: World, env: Any, raw: str, cache: DefinitionsCache) -> list[Row]:
    service = FlagSyncService(cache, world.log, heartbeat_seconds=3600)
    server = Server([service], codec=WireCodec())
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    latencies: dict[int, list[float]] = {}
    memory = (0.0, 0.0)
    try:
        for n in STREAM_COUNTS:
            traced = n == max(STREAM_COUNTS)
            latencies[n], grown = await _propagation(world, env, raw, cache, port, n, traced=traced)
            if traced:
                memory = (grown[0] / n, grown[1] / n)
    finally:
        server.close()
        await server.wait_closed()
    snapshot = cache.snapshot(env)
    assert snapshot is not None
    snapshot_bytes = float(len(service.wire.snapshot(snapshot).data))
    return [
        *_latency_rows(latencies),
        _row("sync.memory_per_idle_stream", memory[0], "bytes", "sync.encoded_snapshot_size", snapshot_bytes),
        _row(
            "sync.memory_per_idle_stream_own_code",
            memory[1],
            "bytes",
            "sync.memory_per_idle_stream",
            memory[0],
        ),
    ]


async def _propagation(
    world: World, env: Any, raw: str, cache: DefinitionsCache, port: int, n: int, *, traced: bool
) -> tuple[list[float], tuple[float, float]]:
    """Per (stream, change) latencies in ms, and (if `traced`) the memory grown by n idle streams: in all,
    and in the broadcaster's own modules (the rest is grpclib / h2 / asyncio per-stream state)."""
    if traced:
        tracemalloc.start()
    code = f"from tests.bench.bench_sync import client_main; client_main({port}, {raw!r}, {n}, {CHANGES})"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    await asyncio.sleep(0.2)  # every stream is parked on its wait
    grown = (0.0, 0.0)
    if traced:
        stats = tracemalloc.take_snapshot().statistics("filename")
        own = sum(s.size for s in stats if any(p in s.traceback[0].filename for p in OWN_CODE))
        grown = (float(tracemalloc.get_traced_memory()[0]), float(own))
        tracemalloc.stop()  # latencies are measured untraced
    sent: dict[int, float] = {}
    for i in range(CHANGES):
        world.replace_rules(env, "checkout", plan_is(f"plan-{i}"))
        sent[i] = time.monotonic()
        await cache.catch_up(world.log)
        await asyncio.sleep(0.02 if n < 1000 else 0.1)
    received: dict[str, list[float]] = json.loads(await proc.stdout.read())
    await proc.wait()
    return [(t - sent[int(index)]) * 1000 for index, times in received.items() for t in times], grown


def _latency_rows(latencies: dict[int, list[float]]) -> list[Row]:
    base_median = statistics.median(latencies[1])
    base_p99 = _p99(latencies[1])
    rows = []
    for n, values in latencies.items():
        rows.append(_row(f"sync.propagation_median_ms[{n}_streams]", statistics.median(values), "ms",
                         "sync.propagation_median_ms[1_streams]", base_median))  # fmt: skip
        rows.append(_row(f"sync.propagation_p99_ms[{n}_streams]", _p99(values), "ms",
                         "sync.propagation_p99_ms[1_streams]", base_p99))  # fmt: skip
    return rows


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def _row(name: str, value: float, unit: str, baseline_name: str, baseline: float) -> Row:
    return {
        "name": name, "value": value, "unit": unit, "baseline_name": baseline_name,
        "baseline_value": baseline, "ratio": value / baseline if baseline else None,
    }  # fmt: skip


def client_main(port: int, key: str, streams: int, changes: int) -> None:
    """The SDK side (its own process): open `streams` streams, then print receive times per change."""
    result = asyncio.run(_clients(port, key, streams, changes))
    sys.stdout.write(json.dumps(result))


class _RawCodec(ProtoCodec):
    """Leaves received messages undecoded: the bench times the fan-out, not an SDK's protobuf parsing."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


async def _clients(port: int, key: str, streams: int, changes: int) -> dict[int, list[float]]:
    """Arrival times by change index (messages arrive in order: a snapshot, then one delta per change)."""
    channels = [Channel("127.0.0.1", port, codec=_RawCodec()) for _ in range(0, streams, STREAMS_PER_CHANNEL)]
    received: dict[int, list[float]] = {}
    opened = [asyncio.Event() for _ in range(streams)]

    async def one(i: int) -> None:
        channel = channels[i // STREAMS_PER_CHANNEL]
        async with channel.request(SYNC_PATH, Cardinality.UNARY_STREAM, SyncRequest, SyncResponse,
                                   metadata={"x-sdk-key": key}) as stream:  # fmt: skip
            await stream.send_message(SyncRequest(), end=True)
            await stream.recv_message()
            opened[i].set()
            for index in range(changes):
                await stream.recv_message()
                received.setdefault(index, []).append(time.monotonic())
            await stream.cancel()

    tasks = [asyncio.create_task(one(i)) for i in range(streams)]
    await asyncio.gather(*(e.wait() for e in opened))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.gather(*tasks)
    for channel in channels:
        channel.close()
    return received


@post("/bare", status_code=200, sync_to_thread=False)
def bare() -> dict[str, object]:
    """The baseline: a Litestar POST route answering a constant."""
    return {"flag_key": "checkout", "variant_key": "on", "is_enabled": True}


async def _evaluate_rows(cache: DefinitionsCache, env: Any, raw: str) -> list[Row]:
    app = Litestar(route_handlers=[EvaluateController, bare], exception_handlers=EXCEPTION_HANDLERS)
    install_definitions(app, cache)
    app.state["deps"] = _offline_deps()  # /evaluate resolves the key through deps (known: never read)
    body = {"flag_key": "checkout", "context_key": "u1", "attributes": {"plan": "plan-3"}}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"x-sdk-key": raw}
        evaluate = await _rps(client, f"/v1/environments/{env}/evaluate", body, headers)
        baseline = await _rps(client, "/bare", body, headers)
    return [
        _row("evaluate.requests_per_second", evaluate, "req/s", "litestar.bare_post_per_second", baseline)
    ]


async def _rps(client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]) -> float:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    started = time.perf_counter()
    for _ in range(REQUESTS):
        await client.post(path, json=body, headers=headers)
    return REQUESTS / (time.perf_counter() - started)


if __name__ == "__main__":
    for row in run():
        print(row)
