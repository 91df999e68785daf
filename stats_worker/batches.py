"""A fetched batch of ingest messages: decoded, de-duplicated by full identity, stored row by row's fate.

Identity is (environment, kind, key, event id), the ClickHouse sorting key: event ids are chosen by
clients, so two tenants (or a metric and an exposure) may use the same one. Messages of one identity are
equal copies (redeliveries, re-publishes) and share one row and its fate. `store_isolating` inserts the
rows and, when the store refuses them, bisects to the rows it refuses: one bad row never fails the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
from nats.aio.msg import Msg

from schemas.ingest import ExposureMsg, IngestKind, IngestMsg, MetricEventMsg, decode, kind_of
from stats_worker.sink import IngestSink, SinkRejectedError

Identity = tuple[str, IngestKind, str, str]
Row = TypeVar("Row", MetricEventMsg, ExposureMsg)


def identity(item: IngestMsg) -> Identity:
    """What makes an ingest message one row: environment, kind, metric or flag key, event id."""
    key = item.metric_key if isinstance(item, MetricEventMsg) else item.flag_key
    return item.environment_id, kind_of(item), key, item.event_id


@dataclass
class DecodedBatch:
    """Rows by identity with the messages carrying them, and the messages that did not decode."""

    rows: dict[Identity, IngestMsg] = field(default_factory=dict)
    carriers: dict[Identity, list[Msg]] = field(default_factory=dict)
    bad: list[tuple[Msg, str]] = field(default_factory=list)

    @property
    def good(self) -> list[Msg]:
        return [m for carried in self.carriers.values() for m in carried]

    def metrics(self) -> list[MetricEventMsg]:
        return [r for r in self.rows.values() if isinstance(r, MetricEventMsg)]

    def exposures(self) -> list[ExposureMsg]:
        return [r for r in self.rows.values() if isinstance(r, ExposureMsg)]


def decode_batch(msgs: Sequence[Msg]) -> DecodedBatch:
    """Decode each message by its subject; copies of one identity collapse into one row."""
    batch = DecodedBatch()
    for msg in msgs:
        try:
            item = decode(msg.subject, msg.data)
        except (ValueError, msgspec.DecodeError) as exc:  # ValidationError is a DecodeError
            batch.bad.append((msg, f"undecodable: {exc}"))
            continue
        key = identity(item)
        batch.rows[key] = item
        batch.carriers.setdefault(key, []).append(msg)
    return batch


def _isolate(insert: Callable[[list[Row]], None], rows: list[Row]) -> list[tuple[Row, str]]:
    """Insert `rows`; when refused, bisect: returns the single rows the store refuses, with why."""
    if not rows:
        return []
    try:
        insert(rows)
    except SinkRejectedError as exc:
        if len(rows) == 1:
            return [(rows[0], str(exc))]
        middle = len(rows) // 2
        return _isolate(insert, rows[:middle]) + _isolate(insert, rows[middle:])
    return []


def store_isolating(
    sink: IngestSink, metrics: list[MetricEventMsg], exposures: list[ExposureMsg]
) -> list[tuple[IngestMsg, str]]:
    """Store what the sink takes; the refused rows with their reasons. SinkUnavailableError propagates
    (rows stored before it are stored again on the retry, harmlessly)."""
    refused: list[tuple[IngestMsg, str]] = []
    refused += _isolate(lambda rows: sink.insert(rows, []), metrics)
    refused += _isolate(lambda rows: sink.insert([], rows), exposures)
    return refused
