"""Start-up of the stats worker's ingest side: ClickHouse tables first, then the JetStream consumer.

The process's composition root (in `stitchd/`) applies the JetStream streams (`ensure_streams`), opens
one ClickHouse client (`clickhouse_schema.open_client`; with chdb, one per data directory per process)
and then awaits `start_ingest(...).run()`.
"""

from __future__ import annotations

import asyncio

from clickhouse_connect.driver.client import Client
from nats.js import JetStreamContext

from stats_worker.clickhouse_schema import DEFAULT_DATABASE, ensure_schema
from stats_worker.consumer import ConsumerSettings, IngestConsumer
from stats_worker.sink import ClickHouseSink


async def start_ingest(
    js: JetStreamContext,
    client: Client,
    *,
    database: str = DEFAULT_DATABASE,
    settings: ConsumerSettings | None = None,
) -> IngestConsumer:
    """Create or migrate the ClickHouse tables, then a consumer ready to `run()`."""
    await asyncio.to_thread(ensure_schema, client, database)
    return IngestConsumer(js, ClickHouseSink(client, database), settings)
