"""The directory projection through the full stack (store → relay → JetStream → runner), and its rebuild."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from projections import directory
from projections.rebuild import rebuild
from readmodels.directory import (
    environment_scope,
    get_environment,
    get_org,
    get_project,
    list_environments,
    list_projects,
)
from tests.integration.projections.conftest import checkpoint, snapshot
from tests.integration.projections.tenancy import Tenancy
from tests.stack import Stack

pytestmark = pytest.mark.integration


async def test_created_and_renamed_tenants_are_queryable(stack: Stack) -> None:
    tenancy = Tenancy(stack.store)
    org = await tenancy.org("Acme")
    web = await tenancy.project(org, "Web")
    api = await tenancy.project(org, "Api")
    prod = await tenancy.environment(org, web, "production")
    staging = await tenancy.environment(org, web, "staging")
    await tenancy.rename("environment", staging, "stage")
    await tenancy.rename("project", api, "API")
    await stack.settle(tenancy.last_position)

    assert [p.name for p in await list_projects(stack.pool, org)] == ["Web", "API"]
    assert [(e.id, e.name) for e in await list_environments(stack.pool, web)] == [
        (prod, "production"),
        (staging, "stage"),
    ]
    env = await get_environment(stack.pool, staging)
    assert env is not None
    assert (env.version, env.org_id) == (2, org)
    assert await environment_scope(stack.pool, prod) == (org, web)
    assert await environment_scope(stack.pool, uuid4()) is None
    project = await get_project(stack.pool, api)
    assert project is not None
    assert project.name == "API"
    found = await get_org(stack.pool, org)
    assert found is not None
    assert found.name == "Acme"


async def test_rebuild_reproduces_the_live_read_model_and_the_projector_carries_on(stack: Stack) -> None:
    tenancy = Tenancy(stack.store)
    await tenancy.populate(orgs=3)
    await stack.settle(tenancy.last_position)
    live = await snapshot(stack.pg_url, directory.TABLES)
    seen: list[tuple[int, int]] = []

    last = await rebuild(stack.pg_url, directory, progress=lambda done, total: seen.append((done, total)))

    assert last == tenancy.last_position
    assert await snapshot(stack.pg_url, directory.TABLES) == live
    assert seen[0] == (0, tenancy.last_position)
    assert seen[-1] == (tenancy.last_position, tenancy.last_position)
    assert await checkpoint(stack.pg_url, directory.NAME) == last
    org = await tenancy.org("after the rebuild")
    await stack.settle(tenancy.last_position)
    assert await get_org(stack.pool, org) is not None


async def test_rebuild_keeps_indexes_and_leaves_no_scratch_schema(stack: Stack) -> None:
    await Tenancy(stack.store).populate(orgs=1)
    await stack.settle()
    await rebuild(stack.pg_url, directory)
    async with await psycopg.AsyncConnection.connect(stack.pg_url) as conn:
        cur = await conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'rm_environments' ORDER BY 1"
        )
        indexes = [r[0] for r in await cur.fetchall()]
        cur = await conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%%'")
        scratch = await cur.fetchone()
    assert indexes == ["rm_environments_pkey", "rm_environments_project_idx"]
    assert scratch == (0,)
