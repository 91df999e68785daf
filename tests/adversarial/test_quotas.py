"""Issue 9 item 13: per-organisation quotas answer 429 RESOURCE_EXHAUSTED naming the limit, never let
concurrent creates past it, free a unit on deletion and never touch another organisation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.eventstore import EventStore, Metadata, NewEvent, Usage
from commands.memory_store import InMemoryEventStore
from commands.postgres_store import open_postgres_store
from domain.quotas import Counted, QuotaExceeded, Quotas
from gateway.app import create_app
from stitchd.write_side import write_bus
from tests.integration.gateway.support import Api, Clock, Tenant, assert_envelope, gateway_deps, http_client
from tests.stack import Stack

pytestmark = pytest.mark.integration

SMALL = Quotas(
    projects_per_org=2,
    environments_per_org=2,
    flags_per_org=2,
    segments_per_org=2,
    sdk_keys_per_environment=2,
    members_per_segment=5,
)
VARIANTS = [{"key": "off", "value": False}, {"key": "on", "value": True}]


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    """The gateway over the stack with small quotas."""
    clock = Clock()
    bus = write_bus(stack.store, stack.pool, clock=clock, quotas=SMALL)  # the bus enforces them
    deps = dataclasses.replace(gateway_deps(stack, clock), quotas=SMALL, bus=bus)
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


def refused(response: Any, what: str) -> None:
    body = assert_envelope(response, 429, "RESOURCE_EXHAUSTED")
    assert f"at most 2 {what}" in body["error"], body


async def post(api: Api, t: Tenant, path: str, body: dict[str, Any]) -> Any:
    return await api.call("POST", path, token=t.token, json=body)


async def test_projects_per_organisation(api: Api) -> None:
    tenant, other = await api.tenant("Acme"), await api.tenant("Other")  # each has one project
    path = "/v1/management/projects"
    assert (await post(api, tenant, path, {"name": "Two"})).status_code == 201
    refused(await post(api, tenant, path, {"name": "Three"}), "projects per organisation")
    assert (await post(api, other, path, {"name": "Two"})).status_code == 201


async def test_environments_per_organisation(api: Api) -> None:
    tenant = await api.tenant()
    path = f"/v1/management/projects/{tenant.project_id}/environments"
    assert (await post(api, tenant, path, {"name": "staging"})).status_code == 201
    refused(await post(api, tenant, path, {"name": "dev"}), "environments per organisation")


async def test_flags_per_organisation_and_a_deleted_flag_frees_its_unit(api: Api) -> None:
    tenant = await api.tenant()
    path = f"/v1/environments/{tenant.environment_id}/flags"
    made = {}
    for key in ("f1", "f2"):
        body = {"key": key, "value_type": "bool", "variants": VARIANTS}
        created = await post(api, tenant, path, body)
        assert created.status_code == 201
        made[key] = created.json()["version"]
    third = {"key": "f3", "value_type": "bool", "variants": VARIANTS}
    refused(await post(api, tenant, path, third), "flags per organisation")
    assert (await api.call("GET", f"{path}/f3", token=tenant.token)).status_code == 404  # nothing written
    deleted = await api.call("DELETE", f"{path}/f1?version={made['f1']}", token=tenant.token)
    assert deleted.status_code == 200
    assert (await post(api, tenant, path, third)).status_code == 201


async def test_segments_per_organisation_and_members_per_segment(api: Api) -> None:
    tenant = await api.tenant()
    path = f"/v1/environments/{tenant.environment_id}/segments"
    six = [f"u{i}" for i in range(6)]
    too_many = await post(api, tenant, path, {"key": "big", "kind": "list", "included_keys": six})
    assert_envelope(too_many, 429, "RESOURCE_EXHAUSTED")
    assert "at most 5 members" in too_many.json()["error"]
    list_body = {"key": "s1", "kind": "list", "included_keys": six[:4]}
    s1 = await post(api, tenant, path, list_body)
    assert s1.status_code == 201
    version = s1.json()["version"]
    both = {"add": ["x1"], "add_excluded": ["x2"], "version": version}
    over = await post(api, tenant, f"{path}/s1/members", both)
    assert "at most 5 members" in assert_envelope(over, 429, "RESOURCE_EXHAUSTED")["error"]
    one = await post(api, tenant, f"{path}/s1/members", {"add": ["x1"], "version": version})
    assert one.status_code == 200
    s2 = await post(api, tenant, path, {"key": "s2", "kind": "list"})
    assert s2.status_code == 201
    refused(await post(api, tenant, path, {"key": "s3", "kind": "list"}), "segments per organisation")
    deleted = await api.call("DELETE", f"{path}/s2?version={s2.json()['version']}", token=tenant.token)
    assert deleted.status_code == 200
    assert (await post(api, tenant, path, {"key": "s3", "kind": "list"})).status_code == 201


async def test_sdk_keys_per_environment(api: Api) -> None:
    tenant = await api.tenant()  # one active key
    path = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    assert (await post(api, tenant, path, {"name": "second"})).status_code == 201
    refused(await post(api, tenant, path, {"name": "third"}), "active SDK keys per environment")
    assert (await api.call("DELETE", f"{path}/{tenant.sdk_key_id}", token=tenant.token)).status_code == 200
    assert (await post(api, tenant, path, {"name": "third"})).status_code == 201


async def test_concurrent_creates_never_pass_the_quota(api: Api) -> None:
    tenant = await api.tenant()  # one project already
    answers = await asyncio.gather(
        *(post(api, tenant, "/v1/management/projects", {"name": f"p{i}"}) for i in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] + [429] * 7


# --- the store's guarantee, on both stores ----------------------------------------------------------


def _event() -> list[NewEvent]:
    return [NewEvent(event_id=uuid4(), type="thing.created", data=msgspec.json.encode({}))]


async def _create(store: EventStore, org: UUID, limit: int) -> bool:
    usage = [Usage(org_id=org, counted=Counted.PROJECTS, delta=1, limit=limit)]
    try:
        await store.append(uuid4(), "thing", 0, _event(), metadata=Metadata(org_id=org), usage=usage)
    except QuotaExceeded:
        return False
    return True


async def _delete(store: EventStore, org: UUID) -> None:
    usage = [Usage(org_id=org, counted=Counted.PROJECTS, delta=-1)]
    await store.append(uuid4(), "thing", 0, _event(), metadata=Metadata(org_id=org), usage=usage)


async def _check_store(store: EventStore, limit: int, creates: int, deletes: int) -> None:
    org, other = uuid4(), uuid4()
    results = await asyncio.gather(*(_create(store, org, limit) for _ in range(creates)))
    assert sum(results) == min(limit, creates)
    head = await store.head_position()
    assert not await _create(store, org, limit) or creates < limit
    assert await _create(store, other, limit)  # another organisation's count is its own
    for _ in range(deletes):
        await _delete(store, org)
    freed = await asyncio.gather(*(_create(store, org, limit) for _ in range(creates)))
    held = min(limit, creates) + (1 if creates < limit else 0)
    assert sum(freed) == min(limit - max(held - deletes, 0), creates)
    assert head > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 4), creates=st.integers(1, 8), deletes=st.integers(0, 3))
async def test_in_memory_store_counts_exactly(limit: int, creates: int, deletes: int) -> None:
    await _check_store(InMemoryEventStore(), limit, creates, deletes)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 4), creates=st.integers(1, 8), deletes=st.integers(0, 3))
async def test_postgres_store_counts_exactly(pg_url: str, limit: int, creates: int, deletes: int) -> None:
    store = await open_postgres_store(pg_url)
    try:
        await _check_store(store, limit, creates, deletes)
    finally:
        await store.aclose()


async def test_a_refused_create_appends_nothing(pg_url: str) -> None:
    store, org = await open_postgres_store(pg_url), uuid4()
    try:
        assert await _create(store, org, 1)
        head = await store.head_position()
        assert not await _create(store, org, 1)
        assert await store.head_position() == head
    finally:
        await store.aclose()
