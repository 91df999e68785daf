"""HTTP bodies of the ingest routes: /events, /events/batch and /exposures/batch (seed snake_case).

`event_id` is the client's de-duplication key (a retried request re-sends the same ids); it becomes the
JetStream `Nats-Msg-Id`, so it is restricted to header-safe characters. Constraints are enforced when
the body is decoded (400 INVALID_ARGUMENT), numbers included: a metric value is a boolean, an int64 or a
finite float64, an exposure `sequence` a non-negative int64 (schemas/numbers.py), so nothing reaches
JetStream that a 64-bit ClickHouse column cannot store.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from schemas.http_context import ContextKey, ContextType
from schemas.numbers import MetricValue, NonNegativeInt64

MAX_BATCH: Final = 5000
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
EventId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:\-]{1,128}$")]
TimestampMs = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]  # up to year 9999


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (400)."""


class MetricEventBody(Body, frozen=True, kw_only=True):
    """The seed's Ingest Event; `value` None records an occurrence, `timestamp_ms` defaults to now."""

    metric_key: Key
    context_key: ContextKey
    context_type: ContextType = "user"
    value: MetricValue = None
    timestamp_ms: TimestampMs | None = None
    event_id: EventId | None = None


class EventBatchBody(Body, frozen=True, kw_only=True):
    """The seed's Batch Ingest Events."""

    events: Annotated[list[MetricEventBody], msgspec.Meta(max_length=MAX_BATCH)]


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's IngestResponse: events accepted, and the distinct keys refused (unknown or mistyped)."""

    accepted_count: int
    rejected_keys: list[str]


class ExposureBody(Body, frozen=True, kw_only=True):
    """A context was served `variant_key` of `flag_key` under definition sequence `sequence`."""

    flag_key: Key
    variant_key: Key
    context_key: ContextKey
    context_type: ContextType = "user"
    sequence: NonNegativeInt64 = 0
    timestamp_ms: TimestampMs | None = None
    event_id: EventId | None = None


class ExposureBatchBody(Body, frozen=True, kw_only=True):
    """Exposures recorded by an SDK's in-process evaluations."""

    exposures: Annotated[list[ExposureBody], msgspec.Meta(max_length=MAX_BATCH)]


class ExposureResult(msgspec.Struct, frozen=True, kw_only=True):
    accepted_count: int
