"""The gateway process on the real stack limits /evaluate per SDK key with the seed's settings."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from stitchd.embedded import free_port
from stitchd.processes import running
from stitchd.settings import RateLimitSettings, Settings
from tests.integration.gateway.support import Api
from tests.integration.ops.support import get_when, sample
from tests.integration.sync_broadcaster.support import Admin
from tests.stack import Stack

pytestmark = pytest.mark.integration


async def test_the_gateway_process_limits_each_sdk_key_and_counts_its_decisions(
    stack: Stack, api: Api
) -> None:
    tenant, other = await api.tenant(), await api.tenant("Other")
    await Admin(api, tenant).create_flag()
    limits = Settings.from_env(
        {"FLAGS_BUCKET_CAPACITY": "2", "FLAGS_BUCKET_REPLENISH_RATE": "0.001"}
    ).rate_limit
    assert limits == dataclasses.replace(
        RateLimitSettings(), credential_capacity=2, credential_per_second=0.001
    )
    settings = dataclasses.replace(
        stack.settings, http_port=free_port(), admin_port=free_port(), rate_limit=limits
    )
    async with running(["gateway"], settings, stack.resources):
        base = f"http://127.0.0.1:{settings.http_port}"
        await get_when(base + "/_readiness", lambda r: r.status_code == 200)
        body = {"flag_key": "checkout", "context_key": "u1"}
        async with httpx.AsyncClient(base_url=base) as client:
            path = f"/v1/environments/{tenant.environment_id}/evaluate"
            mine = [
                (await client.post(path, json=body, headers={"x-sdk-key": tenant.sdk_key})) for _ in range(3)
            ]
            path_other = f"/v1/environments/{other.environment_id}/evaluate"
            theirs = await client.post(path_other, json=body, headers={"x-sdk-key": other.sdk_key})
        scraped = (await get_when(f"http://127.0.0.1:{settings.admin_port}/metrics")).text
    assert [r.status_code for r in mine] == [200, 200, 429]
    assert mine[2].json()["code"] == "RESOURCE_EXHAUSTED"
    assert int(mine[2].headers["retry-after"]) > 1
    assert theirs.status_code == 200  # another tenant's key is untouched
    assert (
        sample(scraped, "stitchd_rate_limit_decisions_total", limiter="credential", decision="limited") or 0
    ) >= 1
