"""Benchmark: management read throughput (GET flag list) and write latency (PUT rules, median and p99);
/evaluate throughput with metrics and rate limiting on and off, beside a bare Litestar /evaluate.

Each figure sits beside a bare Litestar route measured in the same run through the same in-process ASGI
transport: the read beside a route answering the same JSON body from memory, the write beside a route
that decodes the same body with msgspec and answers it. The gateway's writes include read-your-writes
(they wait for the projections), so their latency covers append, relay, JetStream and projection.
Starts its own PostgreSQL (pgserver) and nats-server in a temp dir. Run alone with
`python -m tests.bench.bench_gateway`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, cast

import httpx
import msgspec
from litestar import Litestar, get, post, put
from litestar.params import JSONBody
from psycopg_pool import AsyncConnectionPool

from commands.postgres_store import open_postgres_store
from gateway.app import create_app
from gateway.auth.passwords import Passwords
from gateway.auth.refresh import PostgresRefreshTokens
from gateway.auth.tokens import TokenSettings, utc_now
from gateway.deps import GatewayDeps, GatewaySettings, PoolWaiter
from gateway.ratelimit import LimitSettings
from projections.registry import PROJECTIONS
from stitchd.embedded import start_nats, start_postgres
from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare
from stitchd.write_side import write_bus
from telemetry import metrics

FLAGS: Final = 50
READS: Final = 1000
WRITES: Final = 200
CONCURRENCY: Final = 8
PASSWORD: Final = "bench password 1"
Row = dict[str, object]


class RulesBody(msgspec.Struct, forbid_unknown_fields=True):
    """The bare baseline's body: decoded like the gateway's, without any domain behind it."""

    version: int
    rules: list[dict[str, Any]]


def run() -> list[Row]:
    """Rows of name, value, unit, baseline_name, baseline_value, ratio."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the table
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    atexit.register(shutil.rmtree, tmp, True)
    pg_url = start_postgres(tmp / "pg")
    nats_server = start_nats(tmp / "nats")
    try:
        return asyncio.run(_run(pg_url, nats_server.url, tmp))
    finally:
        nats_server.stop()


async def _run(pg_url: str, nats_url: str, tmp: Path) -> list[Row]:
    resources = Resources(pg_url, nats_url, f"chdb://{tmp / 'chdb'}")
    await prepare(resources)
    settings = Settings(database_url=pg_url, nats_url=nats_url, data_dir=tmp / "data")
    async with running(("relay", "projector"), settings, resources), _gateway(pg_url) as client:
        token, flags = await _tenant(client)
        listing = (await client.get(flags, headers=_auth(token))).json()
        async with _bare(listing) as bare:
            read = await _throughput(lambda: client.get(flags, headers=_auth(token)))
            bare_read = await _throughput(lambda: bare.get("/list"))
            writes = await _rule_writes(client, token, flags)
            bare_writes = [await _timed(bare.put("/rules", json=_rules(i))) for i in range(WRITES)]
        evaluate_rows = await _evaluate_rows(pg_url, client, token, flags)
    return [
        *evaluate_rows,
        _row("gateway.flag_list_read", read, "req/s", "bare_litestar_list", bare_read),
        _row("gateway.rules_put_p50", _pct(writes, 50), "ms", "bare_litestar_put_p50", _pct(bare_writes, 50)),
        _row("gateway.rules_put_p99", _pct(writes, 99), "ms", "bare_litestar_put_p99", _pct(bare_writes, 99)),
    ]


@asynccontextmanager
async def _gateway(pg_url: str, settings: GatewaySettings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    store = await open_postgres_store(pg_url)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=2, max_size=16, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    deps = GatewayDeps(
        event_log=store,
        db=pool,
        bus=write_bus(store, pool, clock=utc_now),
        clock=utc_now,
        tokens=TokenSettings(secret="bench-secret-" * 4),
        waiter=PoolWaiter(pool, [p.NAME for p in PROJECTIONS]),
        refresh_tokens=PostgresRefreshTokens(pool),
        passwords=Passwords.fast(),
        settings=settings or GatewaySettings(),
    )
    app = create_app(deps)
    try:
        for hook in app.on_startup:
            await cast(Any, hook)(app)
        async with _client(app) as client:
            yield client
    finally:
        await pool.close()
        await store.aclose()


@asynccontextmanager
async def _client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        yield client


@asynccontextmanager
async def _bare(listing: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A bare Litestar app: the same list from memory, and a PUT that decodes and echoes a body."""

    @get("/list", sync_to_thread=False)
    def bare_list() -> Any:
        return listing

    @put("/rules", sync_to_thread=False)
    def bare_rules(data: JSONBody[RulesBody]) -> RulesBody:
        return data

    async with _client(Litestar([bare_list, bare_rules])) as client:
        yield client


# Limits on, sized so every request is allowed: the bench measures the limiter's cost, not refusals.
LIMITS_ON: Final = LimitSettings(
    credential_enabled=True, credential_capacity=1e12, credential_per_second=1e12,
    ip_enabled=True, ip_capacity=1e12, ip_per_second=1e12, max_concurrency=1000,
)  # fmt: skip


async def _evaluate_rows(pg_url: str, client: httpx.AsyncClient, token: str, flags: str) -> list[Row]:
    """/evaluate req/s: gateway with metrics and limits off, on, and a bare Litestar route (one run)."""
    env = flags.split("/")[3]
    keys = f"/v1/management/environments/{env}/sdk-keys"
    sdk_key = (await _ok(client.post(keys, json={"name": "bench"}, headers=_auth(token))))["raw_key"]
    path, body = f"/v1/environments/{env}/evaluate", {"flag_key": "flag-0", "context_key": "u1"}
    headers = {"x-sdk-key": sdk_key}
    answer = await _ok(client.post(path, json=body, headers=headers))
    was = metrics.enabled()
    try:
        metrics.configure(enabled=False)
        off = await _throughput(lambda: client.post(path, json=body, headers=headers))
        metrics.configure(enabled=True)
        async with _gateway(pg_url, GatewaySettings(limits=LIMITS_ON)) as limited:
            await _ok(limited.post(path, json=body, headers=headers))  # builds its cache
            on = await _throughput(lambda: limited.post(path, json=body, headers=headers))
    finally:
        metrics.configure(enabled=was)
    async with _bare_evaluate(answer) as bare:
        bare_rate = await _throughput(lambda: bare.post("/evaluate", json=body, headers=headers))
    return [
        _row("gateway.evaluate_metrics_limits_off", off, "req/s", "bare_litestar_evaluate", bare_rate),
        _row("gateway.evaluate_metrics_limits_on", on, "req/s", "bare_litestar_evaluate", bare_rate),
        _row("gateway.evaluate_on_vs_off", on, "req/s", "gateway.evaluate_metrics_limits_off", off),
    ]


class EvaluateBody(msgspec.Struct):
    flag_key: str
    context_key: str


@asynccontextmanager
async def _bare_evaluate(answer: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A bare Litestar POST /evaluate: decodes the same body, answers the gateway's answer from memory."""

    @post("/evaluate", status_code=200, sync_to_thread=False)
    def bare(data: JSONBody[EvaluateBody]) -> Any:
        return answer

    async with _client(Litestar([bare])) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ok(response: Awaitable[httpx.Response]) -> Any:
    answered = await response
    assert answered.status_code < 300, answered.text
    return answered.json()


async def _tenant(client: httpx.AsyncClient) -> tuple[str, str]:
    """An org admin's token and the flag list path of an environment holding FLAGS flags."""
    creds = {"email": "root@bench.test", "password": PASSWORD}
    await _ok(client.post("/v1/admin/seed-user", json=creds))
    root = (await _ok(client.post("/v1/auth/login", json=creds)))["access_token"]
    org = await _ok(client.post("/v1/admin/orgs", json={"name": "Bench"}, headers=_auth(root)))
    owner = {"email": "owner@bench.test", "password": PASSWORD, "org_role": "org_admin"}
    await _ok(client.post(f"/v1/admin/orgs/{org['org_id']}/users", json=owner, headers=_auth(root)))
    login = {"email": owner["email"], "password": PASSWORD}
    token = (await _ok(client.post("/v1/auth/login", json=login)))["access_token"]
    project = await _ok(client.post("/v1/management/projects", json={"name": "Web"}, headers=_auth(token)))
    env = await _ok(
        client.post(
            f"/v1/management/projects/{project['project_id']}/environments",
            json={"name": "prod"},
            headers=_auth(token),
        )
    )
    flags = f"/v1/environments/{env['environment_id']}/flags"
    for i in range(FLAGS):
        body = {
            "key": f"flag-{i}",
            "value_type": "bool",
            "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
        }
        await _ok(client.post(flags, json=body, headers=_auth(token)))
    return token, flags


def _rules(i: int, version: int = 0) -> dict[str, Any]:
    leaf = {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "email"},
        "op": "ends_with",
        "value": f"@{i}.test",
    }
    return {"version": version, "rules": [{"condition": leaf, "serve": {"variant_key": "on"}}]}


async def _rule_writes(client: httpx.AsyncClient, token: str, flags: str) -> list[float]:
    path = f"{flags}/flag-0/rules"
    version = (await _ok(client.get(f"{flags}/flag-0", headers=_auth(token))))["version"]
    samples: list[float] = []
    for i in range(WRITES):
        start = time.perf_counter()
        answer = await _ok(client.put(path, json=_rules(i, version), headers=_auth(token)))
        samples.append((time.perf_counter() - start) * 1000)
        version = answer["version"]
    return samples


async def _timed(request: Awaitable[httpx.Response]) -> float:
    start = time.perf_counter()
    await _ok(request)
    return (time.perf_counter() - start) * 1000


async def _throughput(request: Callable[[], Awaitable[httpx.Response]]) -> float:
    """Requests per second with CONCURRENCY requests in flight."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await _ok(request())

    start = time.perf_counter()
    await asyncio.gather(*(worker(READS // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (READS // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - start)


def _pct(samples: list[float], pct: int) -> float:
    return statistics.median(samples) if pct == 50 else statistics.quantiles(samples, n=100)[pct - 1]


def _row(name: str, value: float, unit: str, baseline_name: str, baseline: float) -> Row:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline_value": baseline,
        "ratio": value / baseline if baseline else None,
    }


if __name__ == "__main__":
    from tests.bench.harness import format_table, to_row

    print(format_table([to_row(r) for r in run()]))
