"""Ids the seed's request messages carry in the body (issue 11, 6) never move a write to another tenant:
the path is what authorisation checks, a body id contradicting it is 400 before anything is written, and
another organisation's path stays 404 however the body agrees with it."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bodies import decode_as
from gateway.errors import InvalidArgument
from schemas.http_experiments import CreateExperimentBody
from tests.integration.gateway.support import Api, Tenant, assert_envelope

pytestmark = pytest.mark.integration
VARIANTS = [{"key": "off", "value": False}, {"key": "on", "value": True}]


def _bodies(t: Tenant) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path under the environment, body naming `t`'s environment) for every seed message."""
    env = str(t.environment_id)
    experiment = {"name": "E", "flag_key": "f1", "variant_keys": ["off", "on"], "environment_id": env}
    variants = [{"key": "on", "value": {"bool_value": True}}]
    flag = {
        "key": "g",
        "value_type": "FLAG_VALUE_TYPE_BOOL",
        "variants": variants,
        "rules": [{"variant_key": "on"}],
    }
    metric = {"key": "m", "value_type": "METRIC_VALUE_TYPE_INT", "environment_id": env}
    return [
        ("POST", "experiments", {"experiment": experiment}),
        ("POST", "experiments", experiment),
        ("PUT", "flags/f1/hashing", {"environment_id": env, "flag_key": "f1", "configs": [], "version": 1}),
        ("POST", "event-definitions", metric),
        ("POST", "segments", {"key": "s", "environment_id": env}),
        ("POST", "flags", {"environment_id": env, "flag": flag}),
    ]


async def _setup(api: Api) -> tuple[Tenant, Tenant]:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    for t in (a, b):
        flag = {"key": "f1", "value_type": "bool", "variants": VARIANTS}
        await api.ok("POST", f"/v1/environments/{t.environment_id}/flags", token=t.token, json=flag)
    return a, b


async def test_a_body_naming_another_tenants_environment_is_refused_and_writes_nothing(api: Api) -> None:
    a, b = await _setup(api)
    head = await api.deps.event_log.head_position()
    for method, rest, body in _bodies(b):  # A's path, B's ids in the body
        response = await api.call(
            method, f"/v1/environments/{a.environment_id}/{rest}", token=a.token, json=body
        )
        assert "contradicts the path" in assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]
    assert await api.deps.event_log.head_position() == head


async def test_another_tenants_path_stays_not_found_whatever_the_body_says(api: Api) -> None:
    a, b = await _setup(api)
    head = await api.deps.event_log.head_position()
    for method, rest, body in _bodies(b):  # B's path and B's ids, with A's token
        response = await api.call(
            method, f"/v1/environments/{b.environment_id}/{rest}", token=a.token, json=body
        )
        assert_envelope(response, 404, "NOT_FOUND")
    assert await api.deps.event_log.head_position() == head


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(other=st.uuids(version=4))
def test_any_contradicting_id_is_refused_by_the_decoder(other: UUID) -> None:
    """Property, in-process: whatever id a seed body names, unless it is the path's, decoding refuses it."""
    path = {"env_id": "00000000-0000-4000-8000-000000000001"}
    body = {"experiment": {"name": "E", "flag_key": "f", "variant_keys": ["a"], "environment_id": str(other)}}
    with pytest.raises(InvalidArgument, match="contradicts the path"):
        decode_as(CreateExperimentBody, json.dumps(body).encode(), path)
