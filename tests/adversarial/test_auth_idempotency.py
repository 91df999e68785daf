"""Issue 9 low: an Idempotency-Key replayed with another body answers 422, never the new body's fields."""

from __future__ import annotations

import pytest

from tests.integration.gateway.support import PASSWORD, Api, assert_envelope

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "first", "other"),
    [
        ("/v1/management/projects", {"name": "Shop"}, {"name": "Mobile"}),
        (
            "/v1/management/users",
            {"email": "ann@acme.test", "password": PASSWORD},
            {"email": "bob@acme.test", "password": PASSWORD},
        ),
    ],
)
async def test_a_key_replayed_with_another_body_is_refused(
    api: Api, path: str, first: dict[str, str], other: dict[str, str]
) -> None:
    tenant = await api.tenant()
    headers = {"Idempotency-Key": "create-once"}
    created = await api.call("POST", path, token=tenant.token, json=first, headers=headers)
    assert created.status_code == 201, created.text
    changed = await api.call("POST", path, token=tenant.token, json=other, headers=headers)
    assert_envelope(changed, 422, "INVALID_ARGUMENT")
    again = await api.call("POST", path, token=tenant.token, json=first, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == created.json()


async def test_a_flag_key_replayed_with_another_body_is_refused(api: Api) -> None:
    tenant = await api.tenant()
    body = {
        "key": "checkout", "value_type": "bool", "enabled": False, "off_variant": "off",
        "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
    }  # fmt: skip
    path, headers = f"/v1/environments/{tenant.environment_id}/flags", {"Idempotency-Key": "flag-1"}
    created = await api.call("POST", path, token=tenant.token, json=body, headers=headers)
    assert created.status_code == 201, created.text
    other = {**body, "key": "another"}
    assert_envelope(await api.call("POST", path, token=tenant.token, json=other, headers=headers), 422)


async def test_the_same_key_in_two_organisations_does_not_collide(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    headers = {"Idempotency-Key": "shared-key"}
    for tenant, name in ((a, "One"), (b, "Two")):
        answer = await api.call(
            "POST", "/v1/management/projects", token=tenant.token, json={"name": name}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["project_name"] == name
