"""X-Stitchd-Min-Position: a client's next read waits for its write, but never for a position no one wrote."""

from __future__ import annotations

import pytest

from tests.integration.gateway.support import Api, api_fixture, assert_envelope  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_a_position_beyond_the_store_head_is_capped_at_the_head(api: Api) -> None:
    tenant = await api.tenant()
    asked: list[int] = []
    real = api.deps.waiter

    async def recording(position: int, within: float) -> bool:
        asked.append(position)
        return await real(position, within)

    object.__setattr__(api.deps, "waiter", recording)
    head = await api.deps.event_log.head_position()
    answer = await api.call(
        "GET",
        "/v1/management/projects",
        token=tenant.token,
        headers={"x-stitchd-min-position": str(head + 10**9)},
    )
    assert answer.status_code == 200, answer.text
    assert asked == [head]


async def test_a_malformed_position_is_refused_on_management_and_sdk_routes(api: Api) -> None:
    tenant = await api.tenant()
    for method, path, headers in [
        ("GET", "/v1/management/projects", {}),
        ("POST", f"/v1/environments/{tenant.environment_id}/evaluate", {"x-sdk-key": tenant.sdk_key}),
    ]:
        body = {"flag_key": "f", "context_type": "user", "context_key": "u"} if method == "POST" else None
        answer = await api.call(
            method, path, token=None if headers else tenant.token, json=body,
            headers={**headers, "x-stitchd-min-position": "-1"},
        )  # fmt: skip
        assert_envelope(answer, 400, "INVALID_ARGUMENT")
