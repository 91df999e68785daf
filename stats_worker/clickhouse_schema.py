"""ClickHouse tables for ingest, created idempotently at start-up from versioned DDL.

De-duplication: both tables are `ReplacingMergeTree` whose sorting key ends in `event_id`, and every
read uses `FINAL`. A redelivered JetStream message is byte-for-byte the same event, so its copies share
the whole sorting key (and would share any partition derived from the row), and `FINAL` collapses them
at read time, before background merges do it for good. This is exact on embedded chdb and on a server
alike; `LIMIT 1 BY event_id` would also be exact but needs a hash set of every id, whereas `FINAL` merges
along the sorting key. Insert-block de-duplication is not relied on: redelivered batches need not match
the original batches.

Migrations are numbered; applied versions are recorded in `schema_migrations` (itself a
ReplacingMergeTree, so two workers starting at once only write the same row twice). Every statement is
`IF NOT EXISTS`, so re-running a half-applied migration is safe.
"""

from __future__ import annotations

import re
from typing import Final

import clickhouse_connect
from clickhouse_connect.driver.client import Client

DEFAULT_DATABASE: Final = "stitchd"
METRIC_EVENTS: Final = "metric_events"
EXPOSURES: Final = "exposures"
MIGRATIONS_TABLE: Final = "schema_migrations"

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_MIGRATIONS_DDL: Final = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "ingest_tables",
        (
            """
            CREATE TABLE IF NOT EXISTS {db}.metric_events (
                environment_id LowCardinality(String),
                metric_key LowCardinality(String),
                event_id String,
                context_type LowCardinality(String),
                context_key String,
                value Nullable(Float64),
                timestamp_ms Int64,
                received_at_ms Int64,
                inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
            ) ENGINE = ReplacingMergeTree
            ORDER BY (environment_id, metric_key, event_id)
            """,
            """
            CREATE TABLE IF NOT EXISTS {db}.exposures (
                environment_id LowCardinality(String),
                flag_key LowCardinality(String),
                event_id String,
                variant_key LowCardinality(String),
                context_type LowCardinality(String),
                context_key String,
                sequence Int64,
                timestamp_ms Int64,
                inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
            ) ENGINE = ReplacingMergeTree
            ORDER BY (environment_id, flag_key, event_id)
            """,
        ),
    ),
    (
        # helper-ops; numbered apart from the ingest helper's migrations so both apply after a merge.
        # Evaluations per flag, variant and hour, summed on insert by a materialized view over exposures.
        # A redelivered exposure inserted twice is counted twice here (exposures themselves de-duplicate
        # with FINAL): usage counts are at-least-once, exact unless a JetStream ack was lost.
        12,
        "flag_usage_hourly",
        (
            """
            CREATE TABLE IF NOT EXISTS {db}.flag_usage_hourly (
                environment_id LowCardinality(String),
                flag_key LowCardinality(String),
                variant_key LowCardinality(String),
                hour DateTime('UTC'),
                evaluations UInt64,
                last_inserted_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
            ) ENGINE = SummingMergeTree
            ORDER BY (environment_id, flag_key, hour, variant_key)
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flag_usage_hourly_mv TO {db}.flag_usage_hourly AS
            SELECT environment_id, flag_key, variant_key,
                   toStartOfHour(fromUnixTimestamp64Milli(timestamp_ms, 'UTC')) AS hour,
                   count() AS evaluations, max(inserted_at) AS last_inserted_at
            FROM {db}.exposures
            GROUP BY environment_id, flag_key, variant_key, hour
            """,
        ),
    ),
)
FLAG_USAGE_HOURLY: Final = "flag_usage_hourly"


def open_client(url: str) -> Client:
    """A clickhouse-connect client for `chdb:///path` (embedded; one per path per process) or `http(s)://…`."""
    return clickhouse_connect.get_client(dsn=url)


def checked_database(name: str) -> str:
    """The database name if it is a plain identifier (it is spliced into DDL); else ValueError."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid ClickHouse database name {name!r}")
    return name


def applied_versions(client: Client, database: str = DEFAULT_DATABASE) -> set[int]:
    """Versions recorded as applied."""
    db = checked_database(database)
    rows = client.query(f"SELECT DISTINCT version FROM {db}.{MIGRATIONS_TABLE}").result_rows
    return {int(r[0]) for r in rows}


def ensure_schema(client: Client, database: str = DEFAULT_DATABASE) -> list[int]:
    """Create the database and apply pending migrations in order; returns the versions applied now."""
    db = checked_database(database)
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(_MIGRATIONS_DDL.format(db=db))
    done = applied_versions(client, db)
    applied: list[int] = []
    for version, name, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            client.command(statement.format(db=db))
        client.insert(f"{db}.{MIGRATIONS_TABLE}", [[version, name]], column_names=["version", "name"])
        applied.append(version)
    return applied
