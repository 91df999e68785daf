"""Batch writes of ingest messages into ClickHouse; duplicates are harmless (see clickhouse_schema).

A failed insert is one of two things. The store could not be reached (a connection error):
SinkUnavailableError, retry the same batch later. The store refused the batch (any other error, from
ClickHouse or from turning a row into its column types): SinkRejectedError, which may be one bad row,
so the consumer splits the batch to find it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from schemas.ingest import ExposureMsg, MetricEventMsg
from stats_worker.clickhouse_schema import DEFAULT_DATABASE, EXPOSURES, METRIC_EVENTS, checked_database

METRIC_COLUMNS: Final = [
    "environment_id",
    "metric_key",
    "event_id",
    "context_type",
    "context_key",
    "value",
    "timestamp_ms",
    "received_at_ms",
]
EXPOSURE_COLUMNS: Final = [
    "environment_id",
    "flag_key",
    "event_id",
    "variant_key",
    "context_type",
    "context_key",
    "sequence",
    "timestamp_ms",
]


class SinkUnavailableError(RuntimeError):
    """The store could not be reached; the caller should retry the batch later."""


class SinkRejectedError(RuntimeError):
    """The store refused the batch: some row in it (or the store's schema) is wrong."""


class IngestSink(Protocol):
    """Where decoded ingest batches go; `insert` returns only once the rows are stored."""

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None: ...


def metric_row(m: MetricEventMsg) -> list[object]:
    """The ClickHouse row of a metric event; booleans become 0.0/1.0, None stays NULL."""
    value = None if m.value is None else float(m.value)
    return [
        m.environment_id,
        m.metric_key,
        m.event_id,
        m.context_type,
        m.context_key,
        value,
        m.timestamp_ms,
        m.received_at_ms,
    ]


def exposure_row(e: ExposureMsg) -> list[object]:
    """The ClickHouse row of an exposure."""
    return [
        e.environment_id,
        e.flag_key,
        e.event_id,
        e.variant_key,
        e.context_type,
        e.context_key,
        e.sequence,
        e.timestamp_ms,
    ]


class ClickHouseSink:
    """Inserts metric events and exposures, each kind in one INSERT per batch."""

    def __init__(self, client: Client, database: str = DEFAULT_DATABASE) -> None:
        self._client = client
        self._db = checked_database(database)

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None:
        """Store both lists; raises SinkUnavailableError or SinkRejectedError (nothing is acked then)."""
        try:
            if metrics:
                self._client.insert(
                    f"{self._db}.{METRIC_EVENTS}",
                    [metric_row(m) for m in metrics],
                    column_names=METRIC_COLUMNS,
                )
            if exposures:
                self._client.insert(
                    f"{self._db}.{EXPOSURES}",
                    [exposure_row(e) for e in exposures],
                    column_names=EXPOSURE_COLUMNS,
                )
        except (OperationalError, OSError) as exc:
            raise SinkUnavailableError(str(exc)) from exc
        except (ClickHouseError, ValueError, TypeError, OverflowError, struct.error) as exc:
            raise SinkRejectedError(f"{type(exc).__name__}: {exc}") from exc
