"""Issue 9 item 13: the gateway's exposure buffer and the definitions cache's delta history are bounded
(oldest dropped and counted), whatever a sink that stopped or a tenant that writes a lot does."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.segments.members import MAX_CONTEXT_KEY_LENGTH
from gateway.exposure_buffer import ExposureBuffer
from schemas.http_context import (
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_STRING_LENGTH,
    MAX_ATTRIBUTES,
    MAX_CONTEXT_TYPE_LENGTH,
    MAX_CONTEXTS,
)
from schemas.http_ingest import ExposureBody, MetricEventBody
from schemas.http_sdk import EvaluateAllBody, EvaluateBody, ListCheckBody
from schemas.ingest import ExposureMsg


class StuckSink:
    """A sink whose JetStream never answers: every record waits until the test ends."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()

    async def record(self, exposure: ExposureMsg) -> None:
        self.started += 1
        await self.release.wait()


def exposure(i: int) -> ExposureMsg:
    return ExposureMsg(
        event_id=f"e{i}",
        environment_id="00000000-0000-0000-0000-000000000001",
        flag_key="f",
        variant_key="on",
        context_type="user",
        context_key=f"u{i}",
        sequence=1,
        timestamp_ms=0,
    )


async def test_a_stuck_sink_keeps_the_newest_exposures_and_counts_the_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, now = StuckSink(), [0.0]
    buffer = ExposureBuffer(sink, max_batch=10, max_pending=100, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "stitchd.gateway.exposures"):
        for i in range(1000):
            buffer.add(exposure(i))
        await asyncio.sleep(0.01)  # the flusher takes one batch and waits on the sink
        for i in range(1000, 1500):
            now[0] += 0.1
            buffer.add(exposure(i))
    assert sink.started == 10  # one batch in flight
    assert len(buffer) == 100
    assert buffer.dropped == 1500 - 100 - 10
    kept = [buffer._pending[i].event_id for i in range(len(buffer))]
    assert kept == [f"e{i}" for i in range(1400, 1500)]  # the newest
    reports = [r.getMessage() for r in caplog.records if "exposure buffer full" in r.getMessage()]
    assert 2 <= len(reports) <= 7  # at first, then at most once per 10 s of the fake clock (50 s)
    sink.release.set()
    await asyncio.sleep(0.01)


# --- context sizes in SDK bodies ------------------------------------------------------------------

CONTEXT_BODIES = [
    (EvaluateBody, {"flag_key": "f"}),
    (EvaluateAllBody, {}),
    (ListCheckBody, {"segment_key": "s"}),
    (MetricEventBody, {"metric_key": "m"}),
    (ExposureBody, {"flag_key": "f", "variant_key": "v"}),
]


@pytest.mark.parametrize(("body", "extra"), CONTEXT_BODIES)
@settings(max_examples=30)
@given(length=st.integers(1, 3 * MAX_CONTEXT_KEY_LENGTH))
def test_context_keys_up_to_a_list_member_key_are_accepted_longer_refused(
    body: type[msgspec.Struct], extra: dict[str, object], length: int
) -> None:
    raw = msgspec.json.encode({**extra, "context_key": "k" * length})
    if length <= MAX_CONTEXT_KEY_LENGTH:
        msgspec.json.decode(raw, type=body)
    else:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(raw, type=body)


@pytest.mark.parametrize(("body", "extra"), CONTEXT_BODIES)
def test_context_types_are_bounded(body: type[msgspec.Struct], extra: dict[str, object]) -> None:
    raw = {**extra, "context_key": "u1", "context_type": "t" * (MAX_CONTEXT_TYPE_LENGTH + 1)}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(raw), type=body)


@pytest.mark.parametrize(
    "shape",
    [
        {"attributes": {f"a{i}": i for i in range(MAX_ATTRIBUTES + 1)}},
        {"attributes": {"a" * (MAX_ATTRIBUTE_NAME_LENGTH + 1): 1}},
        {"attributes": {"plan": "p" * (MAX_ATTRIBUTE_STRING_LENGTH + 1)}},
        {"attributes": {"n": 2**64}},
        {"private_attributes": [f"a{i}" for i in range(MAX_ATTRIBUTES + 1)]},
        {"contexts": [{"context_type": f"t{i}", "context_key": "k"} for i in range(MAX_CONTEXTS + 1)]},
        {"contexts": [{"context_type": "user", "context_key": "k", "attributes": {"x": "y" * 5000}}]},
    ],
)
def test_attributes_and_contexts_are_bounded(shape: dict[str, object]) -> None:
    body = {"flag_key": "f", **({} if "contexts" in shape else {"context_key": "u1"}), **shape}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(body), type=EvaluateBody)


def test_a_big_but_bounded_context_is_accepted() -> None:
    body = {
        "flag_key": "f",
        "context_key": "k" * MAX_CONTEXT_KEY_LENGTH,
        "attributes": {f"a{i}": "v" * MAX_ATTRIBUTE_STRING_LENGTH for i in range(MAX_ATTRIBUTES)},
    }
    decoded = msgspec.json.decode(msgspec.json.encode(body), type=EvaluateBody)
    assert len(decoded.attributes) == MAX_ATTRIBUTES
