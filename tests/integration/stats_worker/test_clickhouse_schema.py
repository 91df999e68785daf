"""ClickHouse tables are created at start-up, idempotently, with migrations recorded."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js import JetStreamContext

from stats_worker.app import start_ingest
from stats_worker.clickhouse_schema import MIGRATIONS, applied_versions, ensure_schema
from stats_worker.sink import ClickHouseSink, SinkRejectedError
from tests.integration.stats_worker.test_consumer import _metric

pytestmark = pytest.mark.integration


def test_schema_is_created_once_and_recorded(chdb_client: Any, ch_database: str) -> None:
    assert ensure_schema(chdb_client, ch_database) == [v for v, _, _ in MIGRATIONS]
    assert ensure_schema(chdb_client, ch_database) == []
    assert applied_versions(chdb_client, ch_database) == {v for v, _, _ in MIGRATIONS}
    tables = chdb_client.query(f"SELECT name FROM system.tables WHERE database = '{ch_database}'").result_rows
    assert {"metric_events", "exposures", "schema_migrations"} <= {t[0] for t in tables}


def test_the_same_event_stored_twice_reads_once(chdb_client: Any, ch_database: str) -> None:
    ensure_schema(chdb_client, ch_database)
    sink = ClickHouseSink(chdb_client, ch_database)
    events = [_metric(i) for i in range(5)]
    sink.insert(events, [])
    sink.insert(events[2:], [])
    rows = chdb_client.query(f"SELECT event_id FROM {ch_database}.metric_events FINAL ORDER BY event_id")
    assert [r[0] for r in rows.result_rows] == sorted(e.event_id for e in events)


def test_inserting_without_tables_is_reported_as_refused(chdb_client: Any, ch_database: str) -> None:
    with pytest.raises(SinkRejectedError):
        ClickHouseSink(chdb_client, ch_database).insert([_metric(1)], [])


def test_database_names_are_plain_identifiers(chdb_client: Any) -> None:
    with pytest.raises(ValueError):
        ensure_schema(chdb_client, "x; DROP TABLE y")


async def test_start_ingest_creates_the_tables(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    consumer = await start_ingest(nats_js, chdb_client, database=ch_database)
    try:
        assert applied_versions(chdb_client, ch_database) == {v for v, _, _ in MIGRATIONS}
        assert await consumer.process_once() == 0  # empty stream: idle, no error
    finally:
        await consumer.close()
