"""The real services start and answer."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from stitchd.jetstream import EVENTS_STREAM, INGEST_STREAM

pytestmark = pytest.mark.integration


def test_postgres_database_is_migrated(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    assert rows
    assert rows[0][0].startswith("0001_")


async def test_jetstream_streams_exist(nats_js: Any) -> None:
    for name in (EVENTS_STREAM, INGEST_STREAM):
        info = await nats_js.stream_info(name)
        assert info.config.name == name
    ack = await nats_js.publish("stitchd.ingest.env.metric", b"x", headers={"Nats-Msg-Id": "m1"})
    again = await nats_js.publish("stitchd.ingest.env.metric", b"x", headers={"Nats-Msg-Id": "m1"})
    assert again.duplicate
    assert ack.seq == again.seq


def test_chdb_database_is_usable(chdb_client: Any, ch_database: str) -> None:
    chdb_client.command(f"CREATE TABLE {ch_database}.t (a UInt32) ENGINE = MergeTree ORDER BY a")
    chdb_client.insert(f"{ch_database}.t", [[1], [2]], column_names=["a"])
    assert chdb_client.query(f"SELECT sum(a) FROM {ch_database}.t").result_rows == [(3,)]
