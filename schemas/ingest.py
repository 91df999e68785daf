"""Wire shapes of metric events and exposures on JetStream `stitchd.ingest.<environment_id>.<kind>`.

Publishers set `Nats-Msg-Id` to the message's `event_id`, so JetStream drops re-publishes inside its
duplicate window and the stats worker de-duplicates in ClickHouse by the same id. Decoding is tolerant:
unknown fields are ignored, so fields may be added (each with a default) without breaking old readers.
Numbers are bounded to their ClickHouse columns (Int64, finite Float64) when decoded, so a message
published around the gateway is refused by the worker's decoder, not by its insert.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from schemas.numbers import Int64, MetricValue

INGEST_STREAM: Final = "STITCHD_INGEST"
SUBJECT_PREFIX: Final = "stitchd.ingest"
SUBJECT_FILTER: Final = SUBJECT_PREFIX + ".>"
METRIC_KIND: Final = "metric"
EXPOSURE_KIND: Final = "exposure"
IngestKind = Literal["metric", "exposure"]

_FORBIDDEN_IN_TOKEN: Final = frozenset(".*> \t\r\n")


class MetricEventMsg(msgspec.Struct, frozen=True, kw_only=True):
    """One metric event; `value` None records an occurrence (counted as 1 by the statistics)."""

    event_id: str
    environment_id: str
    metric_key: str
    context_type: str
    context_key: str
    value: MetricValue = None
    timestamp_ms: Int64
    received_at_ms: Int64


class ExposureMsg(msgspec.Struct, frozen=True, kw_only=True):
    """A context was served `variant_key` of `flag_key` under definition sequence `sequence`."""

    event_id: str
    environment_id: str
    flag_key: str
    variant_key: str
    context_type: str
    context_key: str
    sequence: Int64
    timestamp_ms: Int64


IngestMsg = MetricEventMsg | ExposureMsg

_ENCODER: Final = msgspec.json.Encoder()
_METRIC_DECODER: Final = msgspec.json.Decoder(MetricEventMsg)
_EXPOSURE_DECODER: Final = msgspec.json.Decoder(ExposureMsg)


def encode(msg: IngestMsg) -> bytes:
    """JSON bytes of one message."""
    return _ENCODER.encode(msg)


def decode_metric(data: bytes) -> MetricEventMsg:
    """Decode a metric event; raises `msgspec.DecodeError` (or `ValidationError`) on bad input."""
    return _METRIC_DECODER.decode(data)


def decode_exposure(data: bytes) -> ExposureMsg:
    """Decode an exposure; raises `msgspec.DecodeError` (or `ValidationError`) on bad input."""
    return _EXPOSURE_DECODER.decode(data)


def kind_of(msg: IngestMsg) -> IngestKind:
    """The subject kind a message is published under."""
    return METRIC_KIND if isinstance(msg, MetricEventMsg) else EXPOSURE_KIND


def subject(environment_id: str, kind: IngestKind) -> str:
    """`stitchd.ingest.<environment_id>.<kind>`; raises ValueError if the id is not one subject token."""
    if not environment_id or any(ch in _FORBIDDEN_IN_TOKEN for ch in environment_id):
        raise ValueError(f"environment id {environment_id!r} is not a valid subject token")
    if kind not in (METRIC_KIND, EXPOSURE_KIND):
        raise ValueError(f"unknown ingest kind {kind!r}")
    return f"{SUBJECT_PREFIX}.{environment_id}.{kind}"


def kind_filter(kind: IngestKind) -> str:
    """The subscription filter for one kind in every environment: `stitchd.ingest.*.<kind>`."""
    if kind not in (METRIC_KIND, EXPOSURE_KIND):
        raise ValueError(f"unknown ingest kind {kind!r}")
    return f"{SUBJECT_PREFIX}.*.{kind}"


def subject_for(msg: IngestMsg) -> str:
    """The subject a message is published on."""
    return subject(msg.environment_id, kind_of(msg))


def kind_from_subject(subj: str) -> IngestKind:
    """The kind named by an ingest subject; raises ValueError for anything else."""
    parts = subj.split(".")
    well_formed = len(parts) == 4 and ".".join(parts[:2]) == SUBJECT_PREFIX and bool(parts[2])
    if not well_formed or parts[3] not in (METRIC_KIND, EXPOSURE_KIND):
        raise ValueError(f"not an ingest subject: {subj!r}")
    return METRIC_KIND if parts[3] == METRIC_KIND else EXPOSURE_KIND


def decode(subj: str, data: bytes) -> IngestMsg:
    """Decode a message by the kind in its subject; raises ValueError or msgspec errors on bad input."""
    if kind_from_subject(subj) == METRIC_KIND:
        return decode_metric(data)
    return decode_exposure(data)
