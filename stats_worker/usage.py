"""Evaluation analytics roll-up: ClickHouse `flag_usage_hourly` -> Postgres `rm_flag_usage`.

Every `every` seconds the worker reads the hourly counts that changed since its watermark (ClickHouse
insert time, less `margin` for inserts still in flight) and writes their totals, replacing the hour's
row (so a re-run, or two workers, write the same numbers). Late exposures (an SDK's hour-old buffer)
land in their own hour: what moves the watermark is when they were inserted, not when they happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client
from psycopg_pool import AsyncConnectionPool

from stats_worker.clickhouse_schema import DEFAULT_DATABASE, FLAG_USAGE_HOURLY, checked_database
from telemetry import metrics

log = logging.getLogger("stitchd.stats_worker.usage")
ROLLUP = "flag_usage"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_CHANGED = """
SELECT environment_id, flag_key, variant_key, hour, sum(evaluations) AS n, max(last_inserted_at) AS last
FROM {db}.{table}
GROUP BY environment_id, flag_key, variant_key, hour
HAVING last >= {{since:DateTime64(3, 'UTC')}}
"""
_UPSERT = """
INSERT INTO rm_flag_usage (environment_id, flag_key, variant_key, hour, evaluations)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (environment_id, flag_key, hour, variant_key) DO UPDATE SET evaluations = EXCLUDED.evaluations
"""
_WATERMARK = "SELECT watermark FROM stats_rollups WHERE name = %s"
_SAVE_WATERMARK = """
INSERT INTO stats_rollups (name, watermark) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET watermark = GREATEST(stats_rollups.watermark, EXCLUDED.watermark)
"""

UsageRow = tuple[str, str, str, datetime, int]


@dataclass(frozen=True, kw_only=True)
class UsageSettings:
    every: float = 60.0
    margin: timedelta = timedelta(minutes=5)


def changed_usage(client: Client, database: str, since: datetime) -> tuple[list[UsageRow], datetime | None]:
    """Hourly totals changed since `since`, and the newest insert time among them."""
    sql = _CHANGED.format(db=checked_database(database), table=FLAG_USAGE_HOURLY)
    rows = client.query(sql, parameters={"since": since.replace(tzinfo=None)}).result_rows
    out = [(str(e), str(f), str(v), _utc(h), int(n)) for e, f, v, h, n, _ in rows]
    newest = max((_utc(r[5]) for r in rows), default=None)
    return out, newest


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UsageRollup:
    """Copies changed hourly evaluation counts into Postgres; `run` until cancelled."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        client: Client,
        *,
        database: str = DEFAULT_DATABASE,
        settings: UsageSettings | None = None,
    ) -> None:
        self._pool = pool
        self._client = client
        self._database = database
        self._settings = settings or UsageSettings()

    async def run_once(self) -> int:
        """One roll-up pass; returns how many hourly rows were written."""
        started = time.perf_counter()
        try:
            written = await self._roll_up()
        except Exception:
            metrics.observe_job(ROLLUP, time.perf_counter() - started, failed=True)
            raise
        metrics.observe_job(ROLLUP, time.perf_counter() - started, failed=False)
        return written

    async def _roll_up(self) -> int:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_WATERMARK, (ROLLUP,))).fetchone()
        since = (row[0] if row else EPOCH) - self._settings.margin
        rows, newest = await asyncio.to_thread(changed_usage, self._client, self._database, max(since, EPOCH))
        if not rows or newest is None:
            return 0
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(_UPSERT, rows)
            await conn.execute(_SAVE_WATERMARK, (ROLLUP, newest))
        return len(rows)

    async def run(self) -> None:
        """Roll up every `every` seconds until cancelled; outages are logged and waited out."""
        while True:
            try:
                await self.run_once()
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("flag usage roll-up failed (%s); retrying", exc)
            except Exception:  # a ClickHouse error must not stop the worker's other loops; it is retried
                log.exception("flag usage roll-up failed")
            await asyncio.sleep(self._settings.every)
