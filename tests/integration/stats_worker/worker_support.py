"""Shared set-up of the stats worker tests: an experiment in the read models, its data, polling helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from schemas.ingest import ExposureMsg, MetricEventMsg
from stats_worker.clickhouse_schema import ensure_schema
from stats_worker.jobs import JobRunner, JobSettings
from stats_worker.scheduler import Recomputer, Scheduler, ScheduleSettings
from stats_worker.sink import ClickHouseSink

START = datetime(2026, 1, 1, tzinfo=UTC)
USERS = 200
WAIT_ROUNDS = 400  # bounded polling so a broken worker fails instead of hanging; never asserted on


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Experiment:
    """An ACTIVE experiment on flag "checkout" (off = control, on), measuring purchase (bool) and revenue."""

    def __init__(self) -> None:
        self.id = uuid4()
        self.env = uuid4()

    async def insert(
        self, pool: AsyncConnectionPool[Any], *, status: str = "ACTIVE", interval_minutes: int = 60
    ) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO rm_experiments (id, environment_id, name, flag_key, status, variant_keys,"
                " control_variant, weights, metric_keys, state, version, position, created_at, updated_at,"
                " stats_interval_minutes)"
                " VALUES (%s, %s, 'Checkout', 'checkout', %s, %s, 'off', %s, %s, '{}', 2, 2, %s, %s, %s)",
                (self.id, self.env, status, ["off", "on"], Jsonb([]), ["purchase", "revenue"], START, START,
                 interval_minutes),
            )  # fmt: skip
            for key, value_type in [("purchase", "bool"), ("revenue", "double")]:
                await conn.execute(
                    "INSERT INTO rm_event_definitions (environment_id, event_key, stream_id, value_type,"
                    " version, position, created_at, updated_at) VALUES (%s, %s, %s, %s, 1, 1, %s, %s)",
                    (self.env, key, uuid4(), value_type, START, START),
                )
            await self.add_iteration(pool, 1)

    async def add_iteration(self, pool: AsyncConnectionPool[Any], number: int) -> None:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO rm_experiment_iterations (id, experiment_id, environment_id, iteration_number,"
                " started_at, metric_keys, variant_keys, weights, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 3)",
                (
                    uuid4(),
                    self.id,
                    self.env,
                    number,
                    START,
                    ["purchase", "revenue"],
                    ["off", "on"],
                    Jsonb([]),
                ),
            )

    def messages(self) -> tuple[list[ExposureMsg], list[MetricEventMsg]]:
        """Even users see "on" and buy 60 % of the time, odd users "off" and buy 30 % of the time."""
        t0 = int(START.timestamp() * 1000) + 1000
        exposures, events = [], []
        for i in range(USERS):
            variant = "on" if i % 2 == 0 else "off"
            exposures.append(exposure(self.env, i, variant, t0 + i))
            bought = (i // 2) % 10 < (6 if variant == "on" else 3)
            if bought:
                events.append(metric(self.env, f"p{i}", "purchase", i, True, t0 + USERS + i))
                events.append(metric(self.env, f"r{i}", "revenue", i, 10.0 + i % 7, t0 + USERS + i))
        return exposures, events


def exposure(env: UUID, i: int, variant: str, ts: int) -> ExposureMsg:
    return ExposureMsg(
        event_id=f"x{i}", environment_id=str(env), flag_key="checkout", variant_key=variant,
        context_type="user", context_key=f"u{i}", sequence=1, timestamp_ms=ts,
    )  # fmt: skip


def metric(env: UUID, eid: str, key: str, i: int, value: bool | float, ts: int) -> MetricEventMsg:
    return MetricEventMsg(
        event_id=eid, environment_id=str(env), metric_key=key, context_type="user", context_key=f"u{i}",
        value=value, timestamp_ms=ts, received_at_ms=ts,
    )  # fmt: skip


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await p.open(wait=True)
    yield p
    await p.close()


async def rows(pool: AsyncConnectionPool[Any], sql: str, *params: Any) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return list(await cur.fetchall())


async def result_row(
    pool: AsyncConnectionPool[Any], experiment_id: UUID, iteration: int = 1
) -> dict[str, Any]:
    found = await rows(
        pool, "SELECT * FROM rm_experiment_results WHERE experiment_id = %s AND iteration_number = %s",
        experiment_id, iteration,
    )  # fmt: skip
    assert len(found) == 1
    return found[0]


async def add_job(pool: AsyncConnectionPool[Any], exp: Experiment, created: datetime = START) -> UUID:
    job_id = uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO stats_jobs (id, experiment_id, environment_id, created_at) VALUES (%s, %s, %s, %s)",
            (job_id, exp.id, exp.env, created),
        )
    return job_id


def parts(
    pool: AsyncConnectionPool[Any],
    client: Any,
    db: str,
    clock: Clock,
    settings: ScheduleSettings | None = None,
) -> tuple[Recomputer, Scheduler, JobRunner]:
    s = settings or ScheduleSettings()
    recomputer = Recomputer(pool, client, clock=clock, settings=s, database=db)
    scheduler = Scheduler(recomputer, pool, clock=clock, settings=s)
    return recomputer, scheduler, JobRunner(recomputer, pool, clock=clock, settings=JobSettings())


def check_results(row: dict[str, Any]) -> None:
    """The seed's VariantResults and the winner of the generated data."""
    assert row["computation_status"] == "succeeded"
    assert row["error"] == ""
    by_variant = {v["variant_key"]: v for v in row["variant_results"]}
    assert [v["participant_count"] for v in row["variant_results"]] == [USERS // 2, USERS // 2]
    assert by_variant["on"]["metric_values"]["purchase"] == pytest.approx(0.6)
    assert by_variant["off"]["metric_values"]["purchase"] == pytest.approx(0.3)
    assert by_variant["on"]["p_value_present"]
    assert not by_variant["off"]["p_value_present"]
    assert 0 < by_variant["on"]["p_value"] < 0.05
    assert row["details"]["winner"] == "on"
    assert row["details"]["primary_metric"] == "purchase"
    assert row["details"]["srm"]["mismatch"] is False


async def until_stored(client: Any, db: str, env: UUID, count: int) -> None:
    sql = (
        f"SELECT (SELECT count() FROM {db}.exposures FINAL WHERE environment_id = %(e)s)"
        f" + (SELECT count() FROM {db}.metric_events FINAL WHERE environment_id = %(e)s)"
    )
    for _ in range(WAIT_ROUNDS):
        stored = await asyncio.to_thread(lambda: client.query(sql, parameters={"e": str(env)}).result_rows)
        if stored[0][0] >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"ClickHouse holds {stored[0][0]} of {count} ingested messages")


async def until_finished(pool: AsyncConnectionPool[Any], job_id: UUID) -> dict[str, Any]:
    for _ in range(WAIT_ROUNDS):
        [job] = await rows(pool, "SELECT * FROM stats_jobs WHERE id = %s", job_id)
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


async def loaded(client: Any, db: str, exp: Experiment) -> None:
    await asyncio.to_thread(ensure_schema, client, db)
    exposures, events = exp.messages()
    await asyncio.to_thread(ClickHouseSink(client, db).insert, events, exposures)


async def loaded_experiment(
    pool: AsyncConnectionPool[Any], client: Any, db: str, *, interval_minutes: int = 60
) -> Experiment:
    """An ACTIVE experiment in the read models whose generated data is stored in ClickHouse."""
    exp = Experiment()
    await exp.insert(pool, interval_minutes=interval_minutes)
    await loaded(client, db, exp)
    return exp


def next_day() -> Clock:
    """A test clock one day after the experiment started (its data is all in the past)."""
    return Clock(START + timedelta(days=1))
