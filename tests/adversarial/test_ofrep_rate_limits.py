"""OFREP clients obey the gateway's per-credential rate limit: every header form an OFREP provider may
send one SDK key in (x-sdk-key, X-API-Key, Authorization: Bearer) draws from that key's one bucket."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.ratelimit import LimitSettings
from tests.adversarial.test_ops_rate_limits import SPEC, client_for

KEY = "sdk_live_ofrep-rate-limit"
FORMS = [{"x-sdk-key": KEY}, {"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}]


@pytest.mark.parametrize("last", range(3))
async def test_one_sdk_key_in_any_header_form_shares_one_bucket(last: int) -> None:
    limits = dataclasses.replace(
        LimitSettings(), credential_enabled=True, credential_capacity=2, credential_per_second=0.01
    )
    forms = [f for i, f in enumerate(FORMS) if i != last] + [FORMS[last]]
    async with client_for(limits) as client:
        answers = [await client.get(SPEC, headers=headers) for headers in forms]
        other = await client.get(SPEC, headers={"X-API-Key": KEY + "-other"})
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "RESOURCE_EXHAUSTED"
    assert other.status_code == 200
