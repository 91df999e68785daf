"""Every process answers /_liveness, /_readiness and /_startup: the gateway on its own port and on the
admin port, the broadcaster also through grpc.health.v1, relay, projector and stats worker on theirs."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stitchd.embedded import free_port
from stitchd.gateway_main import gateway_app
from stitchd.processes import running
from telemetry.admin import admin_server
from tests.integration.gateway.support import Api
from tests.integration.ops.support import get_when
from tests.stack import Stack

pytestmark = pytest.mark.integration
PROBES = ("/_liveness", "/_readiness", "/_startup")


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


async def test_the_gateway_process_answers_probes_on_its_port_and_on_its_admin_port(stack: Stack) -> None:
    settings = dataclasses.replace(stack.settings, http_port=free_port(), admin_port=free_port())
    async with running(["gateway"], settings, stack.resources):
        for base in (f"http://127.0.0.1:{settings.http_port}", f"http://127.0.0.1:{settings.admin_port}"):
            for path in PROBES:
                answer = (await get_when(base + path, _ok)).json()
                assert answer["status"] == "ok", (base, path, answer)
            ready = (await get_when(base + "/_readiness", _ok)).json()
            assert ready["checks"] == {"postgres": "ok", "nats": "ok", "definitions": "ok"}
        healthz = await get_when(f"http://127.0.0.1:{settings.http_port}/healthz", _ok)
        assert healthz.json() == {"status": "ok"}


async def test_gateway_readiness_fails_once_its_definitions_follower_stopped(stack: Stack) -> None:
    async with gateway_app(stack.settings, stack.resources) as gateway:
        transport = httpx.ASGITransport(app=gateway.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.get("/_readiness")).status_code == 200
            gateway.follower.cancel()
            await asyncio.gather(gateway.follower, return_exceptions=True)
            ready = await client.get("/_readiness")
            startup = await client.get("/_startup")
            live = await client.get("/_liveness")
    assert ready.status_code == 503
    assert ready.json()["checks"]["definitions"] == "the definitions follower stopped"
    assert startup.status_code == 200  # start-up finished once (the cache was loaded)
    assert live.status_code == 200


@pytest.mark.parametrize(("name", "check"), [("relay", "relay"), ("projector", "projector")])
async def test_relay_and_projector_answer_probes_on_their_admin_port(
    stack: Stack, name: str, check: str
) -> None:
    settings = dataclasses.replace(stack.settings, admin_port=free_port())
    async with running([name], settings, stack.resources):
        base = f"http://127.0.0.1:{settings.admin_port}"
        ready = (await get_when(base + "/_readiness", _ok)).json()
        assert ready["checks"] == {"postgres": "ok", check: "ok"}
        for path in ("/_liveness", "/_startup", "/healthz"):
            assert (await get_when(base + path, _ok)).json()["status"] == "ok"
        missing = await get_when(base + "/nothing-here")
        assert missing.status_code == 404


async def test_the_broadcaster_answers_grpc_health_per_service_and_http_probes(stack: Stack) -> None:
    settings = dataclasses.replace(stack.settings, grpc_port=free_port(), admin_port=free_port())
    async with running(["broadcaster"], settings, stack.resources):
        ready = (await get_when(f"http://127.0.0.1:{settings.admin_port}/_readiness", _ok)).json()
        assert ready["checks"] == {"definitions_follower": "ok", "grpc": "ok"}
        channel = Channel("127.0.0.1", settings.grpc_port)
        try:
            health = HealthStub(channel)
            for service in ("stitchd.flags.v1.FlagSyncService", ""):
                reply = await health.Check(HealthCheckRequest(service=service))
                assert reply.status == HealthCheckResponse.SERVING, service
        finally:
            channel.close()


async def test_the_stats_worker_answers_probes_on_its_admin_port(
    stack: Stack, chdb_client: Any, ch_database: str, tmp_path: Path
) -> None:
    config = StatsWorkerSettings(
        database_url=stack.pg_url,
        nats_url=stack.nats_url,
        clickhouse_url="chdb://unused",
        database=ch_database,
    )
    async with (
        build_stats_worker(config, client=chdb_client) as worker,
        admin_server(worker.probes(), port=0, host="127.0.0.1", serve_metrics=True) as admin,
    ):
        assert admin is not None
        ready = await get_when(f"http://127.0.0.1:{admin.port}/_readiness", _ok)
        assert ready.json()["checks"] == {"postgres": "ok", "nats": "ok", "loops": "ok"}
        for task in worker._tasks:  # a loop that died makes the worker unready
            task.cancel()
        await asyncio.gather(*worker._tasks, return_exceptions=True)
        broken = await get_when(f"http://127.0.0.1:{admin.port}/_readiness")
    assert broken.status_code == 503
    assert broken.json()["checks"]["loops"].startswith("stopped: ")


async def test_an_app_built_alone_is_started_once_its_cache_is_loaded(api: Api) -> None:
    """An app from create_app alone (tests, tools) builds its cache on the first SDK request."""
    before = await api.client.get("/_startup")
    tenant = await api.tenant()
    body = {"flag_key": "nope", "context_key": "u1"}
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    assert (await api.client.post(path, json=body, headers={"x-sdk-key": tenant.sdk_key})).status_code == 200
    after, ready = await api.client.get("/_startup"), await api.client.get("/_readiness")
    assert (before.status_code, after.status_code, ready.status_code) == (503, 200, 200)
    assert ready.json()["checks"] == {"postgres": "ok"}
