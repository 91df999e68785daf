"""The SDK's background tasks survive what used to kill them: a value the flush cannot encode (now refused
at `track()`), an unexpected error while flushing, a sync message the SDK cannot apply."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stitchd_sdk import AsyncSdkClient, SdkOptions
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.sync import SyncLoop
from stitchd_sdk.tracking import metric_value
from stitchd_sdk.types import SyncUpdate

from schemas.numbers import INT64_MAX, INT64_MIN
from tests.unit.sdk.conftest import SEQ
from tests.unit.sdk.fakes import SDK_KEY, FakeGateway, ServerThread, delta, eventually, string_flag


async def connect(server: ServerThread, options: SdkOptions) -> AsyncSdkClient:
    return await AsyncSdkClient.connect(
        server.url, "http://gateway.test", SDK_KEY, timeout=20, options=options
    )


@pytest.mark.parametrize("value", [Decimal("1.5"), "3", b"3", [1], complex(1, 1), object()])
async def test_a_value_that_is_not_a_number_is_a_type_error_at_the_call_site(
    server: ServerThread, options: SdkOptions, value: object
) -> None:
    async with await connect(server, options) as client:
        with pytest.raises(TypeError, match="metric value"):
            client.track("revenue", ("user", "u1"), value)  # type: ignore[arg-type]
        assert client.tracking_stats().queued == 0


@pytest.mark.parametrize(
    ("metric", "value", "timestamp"),
    [("revenue", math.nan, None), ("revenue", math.inf, None), ("revenue", -math.inf, None),
     ("revenue", 2**63, None), ("revenue", -(2**63) - 1, None), ("", 1, None), ("k" * 257, 1, None),
     ("revenue", 1, -1), ("revenue", 1, 2**63)],
)  # fmt: skip
async def test_an_event_the_gateway_would_refuse_is_a_value_error_at_the_call_site(
    server: ServerThread, options: SdkOptions, metric: str, value: float, timestamp: int | None
) -> None:
    async with await connect(server, options) as client:
        with pytest.raises(ValueError):
            client.track(metric, ("user", "u1"), value, timestamp_ms=timestamp)
        assert client.tracking_stats().queued == 0


def test_numeric_types_are_normalised_to_plain_python_numbers() -> None:
    numpy = pytest.importorskip("numpy")
    cases = [(numpy.float64(2.5), 2.5), (numpy.float32(0.5), 0.5), (numpy.int64(7), 7),
             (Fraction(1, 4), 0.25), (True, True), (None, None)]  # fmt: skip
    for given_value, plain in cases:
        normal = metric_value(given_value)
        assert normal == plain
        assert type(normal) is type(plain)


@given(st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True))
def test_metric_value_accepts_exactly_what_a_64_bit_column_holds(value: float) -> None:
    fits = INT64_MIN <= value <= INT64_MAX if isinstance(value, int) else math.isfinite(value)
    try:
        metric_value(value)
    except ValueError:
        assert not fits
    else:
        assert fits


class FailFirstPost(httpx.AsyncBaseTransport):
    """The first events post hits a bug (not an HTTP error), later ones go through."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.failed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events/batch") and not self.failed:
            self.failed = True
            raise RuntimeError("a bug")
        return await self.inner.handle_async_request(request)


async def test_the_flush_task_logs_an_unexpected_error_and_goes_on(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    broken = FailFirstPost(gateway.transport)
    opts = dataclasses.replace(options, flush_max_events=1, send_exposures=False, async_http_transport=broken)
    async with await connect(server, opts) as client:
        client.track("click", ("user", "u1"))
        await eventually(lambda: broken.failed)
        await eventually(lambda: client.tracking_stats().failed_flushes >= 1)
        client.track("click", ("user", "u2"))
        await eventually(lambda: len(gateway.calls("/events/batch")) == 1)
        assert all(not t.done() for t in client._tasks)
        stats = client.tracking_stats()
        assert (stats.sent, stats.dropped) == (1, 1)


async def test_the_sync_task_survives_an_update_it_cannot_apply_and_starts_over(
    server: ServerThread, options: SdkOptions
) -> None:
    seen: list[SyncUpdate] = []

    def on_update(update: SyncUpdate) -> None:
        seen.append(update)
        if len(seen) == 2:
            raise KeyError("a bug applying the delta")

    loop = SyncLoop(server.url, SDK_KEY, DefinitionStore(), options, on_update)
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(loop.ready.wait(), 20)
        server.service.sessions[0].push(delta(SEQ + 1, string_flag("new", "x")))
        await eventually(lambda: len(server.service.sessions) == 2)  # reconnected, for a snapshot
        assert server.service.sessions[1].request.since_sequence == 0
        await eventually(lambda: len(seen) == 3 and seen[2].is_snapshot)
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
