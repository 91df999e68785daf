"""Issue 9 item 13: the gateway's exposure buffer and the definitions cache's delta history are bounded
(oldest dropped and counted), whatever a sink that stopped or a tenant that writes a lot does."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.exposure_buffer import ExposureBuffer
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
