"""Issue 9 item 13: an SDK key holder cannot make the gateway hold or forward unbounded contexts: over
the shared bounds every SDK route answers 400 in the envelope, naming the field; at them it answers."""

from __future__ import annotations

from typing import Any

import pytest

from domain.segments.members import MAX_CONTEXT_KEY_LENGTH
from tests.integration.gateway.support import Api, api_fixture, assert_envelope  # noqa: F401

pytestmark = pytest.mark.integration

LONG = "k" * (MAX_CONTEXT_KEY_LENGTH + 1)


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/evaluate", {"flag_key": "f", "context_key": LONG}),
        ("/evaluate-all", {"contexts": [{"context_type": "user", "context_key": LONG}]}),
        ("/segments/list-check", {"segment_key": "s", "context_key": LONG}),
        ("/events", {"metric_key": "m", "context_key": LONG}),
        ("/exposures/batch", {"exposures": [{"flag_key": "f", "variant_key": "v", "context_key": LONG}]}),
        ("/evaluate", {"flag_key": "f", "context_key": "u", "attributes": {f"a{i}": i for i in range(257)}}),
        ("/evaluate", {"flag_key": "f", "context_key": "u", "context_type": "t" * 257}),
    ],
)
async def test_oversized_contexts_are_refused_by_every_sdk_route(
    api: Api, route: str, body: dict[str, Any]
) -> None:
    tenant = await api.tenant()
    path = f"/v1/environments/{tenant.environment_id}{route}"
    response = await api.call("POST", path, json=body, headers={"x-sdk-key": tenant.sdk_key})
    assert_envelope(response, 400, "INVALID_ARGUMENT")


async def test_a_context_key_as_long_as_a_member_key_is_evaluated(api: Api) -> None:
    tenant = await api.tenant()
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    body = {"flag_key": "f", "context_key": "k" * MAX_CONTEXT_KEY_LENGTH}
    response = await api.call("POST", path, json=body, headers={"x-sdk-key": tenant.sdk_key})
    assert response.status_code == 200, response.text
