"""The projection runner on real PostgreSQL and JetStream: order, checkpoints, failures, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from commands.postgres_store import PostgresEventStore
from domain.envelope import RecordedEvent
from domain.events import Event
from domain.tenancy.events import EnvironmentCreated
from projections import directory
from projections.rebuild import rebuild
from projections.runner import ProjectionError, ProjectionRunner, RunnerOptions, consumer_name
from readmodels.db import wait_for_position
from stitchd.embedded import NatsProcess
from tests.conftest import restart_nats
from tests.integration.projections.conftest import checkpoint, snapshot
from tests.integration.projections.tenancy import Tenancy

pytestmark = pytest.mark.integration
BOUND = 60.0  # generous: the suite may share two cores with others
FAST = RunnerOptions(fetch_timeout=0.2, backoff_initial=0.01, backoff_max=0.05)


class Recording:
    """The directory projection, remembering the positions it was given."""

    NAME = directory.NAME
    TABLES = directory.TABLES

    def __init__(self) -> None:
        self.positions: list[int] = []

    async def apply(self, tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent) -> None:
        await directory.apply(tx, event, recorded)
        self.positions.append(recorded.position)


class FailingOn(Recording):
    """Fails on creating the environment with a given name (a bug in the projection, say)."""

    def __init__(self, environment_name: str) -> None:
        super().__init__()
        self.environment_name = environment_name

    async def apply(self, tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent) -> None:
        if isinstance(event, EnvironmentCreated) and event.name == self.environment_name:
            raise ValueError("projection bug")
        await super().apply(tx, event, recorded)


class Hanging(Recording):
    """Hangs forever before applying its n-th event (so the task can be killed mid-batch)."""

    def __init__(self, nth: int) -> None:
        super().__init__()
        self.nth = nth
        self.reached = asyncio.Event()

    async def apply(self, tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent) -> None:
        if len(self.positions) + 1 == self.nth:
            self.reached.set()
            await asyncio.Event().wait()
        await super().apply(tx, event, recorded)


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def _until(pg_url: str, position: int) -> None:
    assert await wait_for_position(pg_url, position, BOUND, names=[directory.NAME])


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_runner_applies_every_event_once_in_position_order(
    pg_url: str, store: PostgresEventStore, relay: None, js: JetStreamContext
) -> None:
    tenancy = Tenancy(store)
    await tenancy.populate()
    projection = Recording()
    task = asyncio.create_task(ProjectionRunner(projection, database_url=pg_url, js=js, options=FAST).run())
    await _until(pg_url, tenancy.last_position)
    await tenancy.populate(orgs=1)
    await _until(pg_url, tenancy.last_position)
    await _stop(task)
    assert projection.positions == list(range(1, tenancy.last_position + 1))
    assert await checkpoint(pg_url, directory.NAME) == tenancy.last_position


async def test_redelivered_messages_are_skipped_by_the_checkpoint(
    pg_url: str, store: PostgresEventStore, relay: None, js: JetStreamContext
) -> None:
    tenancy = Tenancy(store)
    await tenancy.populate()
    first = asyncio.create_task(ProjectionRunner(Recording(), database_url=pg_url, js=js, options=FAST).run())
    await _until(pg_url, tenancy.last_position)
    await _stop(first)
    before = await snapshot(pg_url, directory.TABLES)
    await js.delete_consumer("STITCHD_EVENTS", consumer_name(directory))  # JetStream will redeliver all
    again = Recording()
    second = asyncio.create_task(ProjectionRunner(again, database_url=pg_url, js=js, options=FAST).run())
    await tenancy.org("late")
    await _until(pg_url, tenancy.last_position)
    await _stop(second)
    assert again.positions == [tenancy.last_position]
    after = await snapshot(pg_url, directory.TABLES)
    assert after["rm_projects"] == before["rm_projects"]
    assert len(after["rm_orgs"]) == len(before["rm_orgs"]) + 1


async def test_a_failing_event_stops_the_projection_just_before_it(
    pg_url: str, store: PostgresEventStore, relay: None, js: JetStreamContext
) -> None:
    tenancy = Tenancy(store)
    org = await tenancy.org()
    project = await tenancy.project(org)
    await tenancy.environment(org, project, "first")
    await tenancy.environment(org, project, "second")
    failing_position = tenancy.last_position
    await tenancy.environment(org, project, "third")
    options = RunnerOptions(fetch_timeout=0.2, backoff_initial=0.01, max_attempts=3)
    runner = ProjectionRunner(FailingOn("second"), database_url=pg_url, js=js, options=options)
    with pytest.raises(ProjectionError, match=f"after position {failing_position - 1}"):
        await runner.run()
    assert await checkpoint(pg_url, directory.NAME) == failing_position - 1
    names = [row[3] for row in (await snapshot(pg_url, ("rm_environments",)))["rm_environments"]]
    assert names == ["first"]


async def test_killed_mid_batch_then_restarted_equals_a_fresh_rebuild(
    pg_url: str, store: PostgresEventStore, relay: None, js: JetStreamContext
) -> None:
    tenancy = Tenancy(store)
    await tenancy.populate()
    hanging = Hanging(nth=tenancy.last_position // 2)
    task = asyncio.create_task(ProjectionRunner(hanging, database_url=pg_url, js=js, options=FAST).run())
    await asyncio.wait_for(hanging.reached.wait(), BOUND)
    await _stop(task)  # killed inside the transaction: nothing of that batch may be visible
    killed_at = await checkpoint(pg_url, directory.NAME)
    assert killed_at < tenancy.last_position
    assert sum(map(len, (await snapshot(pg_url, directory.TABLES)).values())) <= killed_at
    restarted = asyncio.create_task(
        ProjectionRunner(directory, database_url=pg_url, js=js, options=FAST).run()
    )
    await _until(pg_url, tenancy.last_position)
    await _stop(restarted)
    live = await snapshot(pg_url, directory.TABLES)
    assert await rebuild(pg_url, directory) == tenancy.last_position
    assert await snapshot(pg_url, directory.TABLES) == live


async def test_events_jetstream_no_longer_has_are_caught_up_from_postgres(
    pg_url: str, store: PostgresEventStore, relay: None, js: JetStreamContext
) -> None:
    tenancy = Tenancy(store)
    await tenancy.populate(orgs=1)
    await _published(js, tenancy.last_position)
    await js.purge_stream("STITCHD_EVENTS")  # as if retention had dropped them
    org = await tenancy.org("after the purge")
    projection = Recording()
    task = asyncio.create_task(ProjectionRunner(projection, database_url=pg_url, js=js, options=FAST).run())
    await _until(pg_url, tenancy.last_position)
    await _stop(task)
    assert projection.positions == list(range(1, tenancy.last_position + 1))
    orgs = (await snapshot(pg_url, ("rm_orgs",)))["rm_orgs"]
    assert org in [row[0] for row in orgs]


async def _published(js: JetStreamContext, position: int) -> None:
    """Wait until the relay has published `position` events."""
    for _ in range(200):
        if (await js.stream_info("STITCHD_EVENTS")).state.messages >= position:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("relay did not publish")


async def test_wait_for_position_answers_false_when_projections_lag(
    pg_url: str, store: PostgresEventStore
) -> None:
    await Tenancy(store).org()
    assert not await wait_for_position(pg_url, 1, 0.3, names=[directory.NAME])


async def test_the_runner_carries_on_after_nats_server_restarts(
    pg_url: str,
    store: PostgresEventStore,
    relay: None,
    js: JetStreamContext,
    nats_process: NatsProcess,
    tmp_path: Path,
) -> None:
    tenancy = Tenancy(store)
    await tenancy.org("before")
    task = asyncio.create_task(ProjectionRunner(Recording(), database_url=pg_url, js=js, options=FAST).run())
    await _until(pg_url, tenancy.last_position)
    nats_process.stop()
    await tenancy.org("while nats is down")
    restarted = restart_nats(nats_process, tmp_path / "nats")
    try:
        await tenancy.org("after")
        await _until(pg_url, tenancy.last_position)
        await _published(js, tenancy.last_position)  # the relay is connected again before the teardown
        assert not task.done()
    finally:
        await _stop(task)
        restarted.stop()
    names = sorted(row[1] for row in (await snapshot(pg_url, ("rm_orgs",)))["rm_orgs"])
    assert names == ["after", "before", "while nats is down"]


async def _reset_directory(pg_url: str, js: JetStreamContext) -> None:
    """Forget the projection: empty tables, checkpoint 0, no consumer (the events stay)."""
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer("STITCHD_EVENTS", consumer_name(directory))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute("TRUNCATE rm_orgs, rm_projects, rm_environments")
        await conn.execute("DELETE FROM checkpoints WHERE name = 'proj:directory'")


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
KINDS = st.sampled_from(["org", "project", "environment"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(renames=st.lists(st.tuples(KINDS, NAMES), max_size=6), kill=st.integers(0, 10_000))
async def test_killed_anywhere_then_restarted_always_equals_a_rebuild(
    pg_url: str,
    store: PostgresEventStore,
    relay: None,
    js: JetStreamContext,
    renames: list[tuple[str, str]],
    kill: int,
) -> None:
    await _reset_directory(pg_url, js)
    tenancy = Tenancy(store)
    org = await tenancy.org()
    project = await tenancy.project(org)
    env = await tenancy.environment(org, project)
    for kind, name in renames:
        await tenancy.rename(kind, {"org": org, "project": project, "environment": env}[kind], name)
    hanging = Hanging(nth=1 + kill % tenancy.last_position)  # the store keeps every example's events
    task = asyncio.create_task(ProjectionRunner(hanging, database_url=pg_url, js=js, options=FAST).run())
    await asyncio.wait_for(hanging.reached.wait(), BOUND)
    await _stop(task)
    restarted = asyncio.create_task(
        ProjectionRunner(directory, database_url=pg_url, js=js, options=FAST).run()
    )
    await _until(pg_url, tenancy.last_position)
    await _stop(restarted)
    live = await snapshot(pg_url, directory.TABLES)
    await rebuild(pg_url, directory)
    assert await snapshot(pg_url, directory.TABLES) == live
