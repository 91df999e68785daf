"""Prometheus metrics of every family, scraped from the processes' admin ports over the real stack."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from projections.registry import PROJECTIONS
from stitchd.embedded import free_port
from stitchd.processes import running
from telemetry import metrics
from tests.integration.gateway.support import Api
from tests.integration.ops.support import get_when, metrics_on, sample
from tests.integration.stats_worker import worker_support
from tests.integration.stats_worker.worker_support import (
    Experiment,
    add_job,
    loaded_experiment,
    next_day,
    parts,
)
from tests.integration.sync_broadcaster.support import BOOL_FLAG, Admin, broadcaster, sdk
from tests.stack import Stack

pytestmark = pytest.mark.integration
pool = worker_support.pool  # fixture, found by name
EVALUATE_ROUTE = "/v1/environments/{env_id}/evaluate"


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


async def _scrape(port: int | None) -> str:
    return (await get_when(f"http://127.0.0.1:{port}/metrics", _ok)).text


async def test_gateway_requests_are_counted_by_route_template_with_evaluations_by_flag_and_variant(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    env = str(tenant.environment_id)
    settings = dataclasses.replace(stack.settings, http_port=free_port(), admin_port=free_port())
    async with running(["gateway"], settings, stack.resources):
        base = f"http://127.0.0.1:{settings.http_port}"
        await get_when(base + "/_readiness", _ok)
        before = await _scrape(settings.admin_port)
        async with httpx.AsyncClient(base_url=base, headers={"x-sdk-key": tenant.sdk_key}) as client:
            for key in ("checkout", "checkout", "no-such-flag"):
                body = {"flag_key": key, "context_key": "u1"}
                assert (await client.post(f"/v1/environments/{env}/evaluate", json=body)).status_code == 200
            assert (await client.get(f"/v1/environments/{env}/nowhere")).status_code == 404
        after = await _scrape(settings.admin_port)

    def delta(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0.0) - (sample(before, name, **labels) or 0.0)

    route = {"route": EVALUATE_ROUTE, "method": "POST"}
    assert delta("stitchd_http_requests_total", **route, status="200") == 3
    assert delta("stitchd_http_request_duration_seconds_count", **route) == 3
    assert delta("stitchd_http_requests_total", route="_unrouted", status="404") == 1
    assert delta("stitchd_evaluations_total", environment=env, flag="checkout", variant="off") == 2
    assert delta("stitchd_evaluations_total", environment=env, flag="_unknown", variant="") == 1
    assert "no-such-flag" not in after
    assert not re.search(r'route="[^"]*' + env, after), "raw paths must never be label values"


async def test_enable_metrics_false_serves_no_metrics_and_counts_nothing(stack: Stack) -> None:
    settings = dataclasses.replace(
        stack.settings, http_port=free_port(), admin_port=free_port(), enable_metrics=False
    )
    async with running(["gateway"], settings, stack.resources):
        await get_when(f"http://127.0.0.1:{settings.http_port}/_readiness", _ok)
        scraped = await get_when(f"http://127.0.0.1:{settings.admin_port}/metrics")
        before = metrics.render()
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{settings.http_port}/docs/openapi.json")
        assert metrics.render() == before
    assert scraped.status_code == 404


async def test_evaluation_series_are_bounded_and_spill_into_other() -> None:
    with metrics_on():
        metrics.configure(enabled=True, max_flag_series=2)
        try:
            for flag in ("a", "b", "c", "d"):
                metrics.count_evaluation("env-bound", flag, "on")
            text = metrics.render().decode()
        finally:
            metrics.configure(enabled=True, max_flag_series=metrics.DEFAULT_MAX_FLAG_SERIES)
    assert sample(text, "stitchd_evaluations_total", environment="env-bound", flag="a") == 1
    assert sample(text, "stitchd_evaluations_total", environment="env-bound", flag="c") is None
    assert sample(text, "stitchd_evaluations_total", environment="env-bound", flag="_other") == 2


async def test_relay_lag_and_projection_lag_are_sampled_from_the_store(stack: Stack, api: Api) -> None:
    await api.tenant()  # some events, all settled before the processes start
    await stack.settle()
    relay = dataclasses.replace(stack.settings, admin_port=free_port())
    projector = dataclasses.replace(stack.settings, admin_port=free_port())
    async with running(["relay"], relay, stack.resources), running(["projector"], projector, stack.resources):
        text = (
            await get_when(
                f"http://127.0.0.1:{projector.admin_port}/metrics",
                lambda r: (
                    "stitchd_projection_lag_events{" in r.text and "stitchd_relay_lag_events " in r.text
                ),
            )
        ).text
    assert sample(text, "stitchd_relay_lag_events") == 0  # everything was published and projected
    for projection in PROJECTIONS:
        assert sample(text, "stitchd_projection_lag_events", projection=projection.NAME) == 0


async def test_sync_streams_and_messages_sent_are_counted(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    with metrics_on():
        async with (
            broadcaster(stack) as running_broadcaster,
            sdk(running_broadcaster.port, tenant.sdk_key) as s,
        ):
            await s.next()  # the snapshot
            before = metrics.render().decode()
            await admin.create_flag({**BOOL_FLAG, "key": "later"})
            await s.next()
            after = metrics.render().decode()
    assert (sample(after, "stitchd_sync_open_streams") or 0) >= 1
    sent = [(sample(t, "stitchd_sync_messages_sent_total", kind="delta") or 0) for t in (before, after)]
    assert sent[1] - sent[0] >= 1


async def test_ingest_outcomes_are_counted(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    env = tenant.environment_id
    settings = dataclasses.replace(stack.settings, http_port=free_port(), admin_port=free_port())
    async with running(["gateway"], settings, stack.resources):
        base = f"http://127.0.0.1:{settings.http_port}"
        await get_when(base + "/_readiness", _ok)
        before = metrics.render().decode()
        async with httpx.AsyncClient(base_url=base, headers={"x-sdk-key": tenant.sdk_key}) as client:
            event = {"metric_key": "unknown-metric", "context_key": "u1"}
            assert (await client.post(f"/v1/environments/{env}/events", json=event)).status_code == 200
            exposure = {"flag_key": "checkout", "variant_key": "on", "context_key": "u1", "sequence": 1}
            batch = {"exposures": [exposure, {**exposure, "context_key": "u2"}]}
            assert (
                await client.post(f"/v1/environments/{env}/exposures/batch", json=batch)
            ).status_code == 200
        after = metrics.render().decode()

    def delta(**labels: str) -> float:
        name = "stitchd_ingest_events_total"
        return (sample(after, name, **labels) or 0.0) - (sample(before, name, **labels) or 0.0)

    assert delta(kind="metric", outcome="rejected") == 1
    assert delta(kind="exposure", outcome="accepted") == 2


async def test_stats_job_durations_and_failures_are_recorded(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    good = await loaded_experiment(pool, chdb_client, ch_database)
    with metrics_on():
        before = metrics.render().decode()
        _, _, runner = parts(pool, chdb_client, ch_database, next_day())
        await add_job(pool, good)
        assert await runner.run_once() is not None
        failing = Experiment()
        await failing.insert(pool)
        _, _, broken = parts(pool, chdb_client, "missing_database", next_day())
        await add_job(pool, failing)
        assert await broken.run_once() is not None
        after = metrics.render().decode()

    def delta(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0.0) - (sample(before, name, **labels) or 0.0)

    assert delta("stitchd_stats_job_duration_seconds_count", job="recompute") == 2
    assert delta("stitchd_stats_job_failures_total", job="recompute") == 1
