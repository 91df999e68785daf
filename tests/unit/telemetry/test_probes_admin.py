"""Probes report each check's reason and never hang; the admin server serves them and /metrics."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from telemetry import metrics
from telemetry.admin import admin_server
from telemetry.probes import NotReadyError, Probes


async def _fine() -> None:
    return None


async def _broken() -> None:
    raise NotReadyError("postgres is down")


async def _stuck() -> None:
    await asyncio.Event().wait()


async def test_readiness_names_every_failed_check_and_bounds_a_stuck_one() -> None:
    probes = Probes(checks={"a": _fine, "b": _broken, "c": _stuck}, timeout=0.05)
    answer = await probes.readiness()
    assert answer.status == 503
    assert json.loads(answer.body)["checks"] == {
        "a": "ok",
        "b": "postgres is down",
        "c": "no answer within 0.05s",
    }


async def test_readiness_is_unavailable_until_started() -> None:
    started = False
    probes = Probes(checks={"a": _fine}, started=lambda: started)
    assert (await probes.readiness()).status == 503
    assert (await probes.startup()).status == 503
    started = True
    assert (await probes.readiness()).status == 200
    assert (await probes.liveness()).status == 200


@pytest.mark.parametrize("serve_metrics", [True, False])
async def test_the_admin_server_serves_probes_and_metrics_only_when_enabled(serve_metrics: bool) -> None:
    probes = Probes(checks={"b": _broken})
    async with admin_server(probes, port=0, host="127.0.0.1", serve_metrics=serve_metrics) as server:
        assert server is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            ready = await client.get("/_readiness")
            live = await client.get("/_liveness")
            scraped = await client.get("/metrics")
            posted = await client.post("/_liveness")
    assert (ready.status_code, live.status_code, posted.status_code) == (503, 200, 405)
    if serve_metrics:
        assert scraped.status_code == 200
        assert "stitchd_http_requests_total" in scraped.text or "stitchd_http_requests" in scraped.text
    else:
        assert scraped.status_code == 404


async def test_no_port_runs_no_admin_server() -> None:
    async with admin_server(Probes(), port=None, serve_metrics=True) as server:
        assert server is None


async def test_a_garbled_request_gets_400_and_the_server_keeps_serving() -> None:
    async with admin_server(Probes(), port=0, host="127.0.0.1", serve_metrics=False) as server:
        assert server is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        reply = await reader.read()
        writer.close()
        assert reply.startswith(b"HTTP/1.1 400")
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{server.port}/_liveness")).status_code == 200


def test_metrics_render_without_being_enabled() -> None:
    assert metrics.render().startswith(b"# HELP")
