"""Metric events and exposures: batching, flush on close, retries, bounds, and nothing private leaves."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import msgspec
from stitchd_sdk import AsyncSdkClient, SdkOptions
from stitchd_sdk.tracking import ExposureDedup, Outbox

from domain.context import Context
from tests.unit.sdk.conftest import SEQ
from tests.unit.sdk.fakes import SDK_KEY, FakeGateway, ServerThread, eventually

PRO = ("user", "u1", {"plan": "pro"})


async def connect(server: ServerThread, options: SdkOptions) -> AsyncSdkClient:
    return await AsyncSdkClient.connect(
        server.url, "http://gateway.test", SDK_KEY, timeout=20, options=options
    )


def flat(batches: list[dict[str, list[dict[str, object]]]], field: str) -> list[dict[str, object]]:
    return [item for batch in batches for item in batch[field]]


async def test_close_flushes_metrics_and_deduplicated_exposures(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    client = await connect(server, options)
    for _ in range(3):
        await client.bool_value("pro-only", PRO, False)
    await client.bool_value("pro-only", ("user", "u2", {"plan": "free"}), False)
    client.track("checkout", ("user", "u1"), 49.5, timestamp_ms=1_700_000_000_000)
    client.track("page_view", ("user", "u2"))
    await client.aclose()
    exposures = flat(gateway.calls("/exposures/batch"), "exposures")
    assert [(e["context_key"], e["variant_key"], e["sequence"]) for e in exposures] == [
        ("u1", "on", SEQ),
        ("u2", "off", SEQ),
    ]
    events = flat(gateway.calls("/events/batch"), "events")
    assert [(e["metric_key"], e["context_key"], e.get("value")) for e in events] == [
        ("checkout", "u1", 49.5),
        ("page_view", "u2", None),
    ]
    assert events[0]["timestamp_ms"] == 1_700_000_000_000
    assert gateway.calls("/events/batch")[0]["events"][0]["event_id"] != events[1]["event_id"]


async def test_a_full_batch_is_flushed_in_the_background(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    async with await connect(server, dataclasses.replace(options, flush_max_events=3)) as client:
        for i in range(3):
            client.track("click", ("user", f"u{i}"))
        await eventually(lambda: len(gateway.calls("/events/batch")) == 1)
        assert len(gateway.calls("/events/batch")[0]["events"]) == 3


async def test_transient_failures_are_retried_and_refusals_dropped(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    async with await connect(server, dataclasses.replace(options, send_exposures=False)) as client:
        client.track("click", ("user", "u1"))
        gateway.fail_next = [503]
        assert await client.flush() is False
        assert client.tracking_stats().queued == 1
        assert await client.flush() is True
        client.track("bad", ("user", "u1"))
        gateway.fail_next = [400]
        assert await client.flush() is True
        stats = client.tracking_stats()
        assert (stats.sent, stats.dropped, stats.queued, stats.failed_flushes) == (1, 1, 0, 2)
        assert [b["events"][0]["metric_key"] for b in gateway.calls("/events/batch")] == [
            "click",
            "click",
            "bad",
        ]


async def test_metric_keys_the_gateway_rejects_are_counted_not_retried(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    gateway.known_metrics = {"click"}
    async with await connect(server, dataclasses.replace(options, send_exposures=False)) as client:
        client.track("click", ("user", "u1"))
        client.track("typo", ("user", "u1"))
        assert await client.flush() is True
        stats = client.tracking_stats()
        assert (stats.sent, stats.rejected, stats.queued) == (1, 1, 0)


async def test_private_parameters_never_leave_the_process(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    secret = "alice@secret.example"
    ctx = Context(
        context_type="user",
        key="u1",
        parameters={"plan": "pro", "email": secret},
        private_parameters=frozenset({"email"}),
    )
    async with await connect(server, options) as client:
        assert await client.bool_value("pro-only", ctx, False) is True
        client.track("checkout", ctx, 1)
    sent = msgspec.json.encode([body for _, body in gateway.requests])
    assert secret.encode() not in sent
    assert b"pro" not in sent.replace(b"pro-only", b"")  # no parameters at all, private or not


def test_a_full_outbox_drops_the_oldest_and_counts() -> None:
    outbox = Outbox(capacity=3)
    for i in range(5):
        outbox.add({"n": i})
    assert [item["n"] for item in outbox.take(10)] == [2, 3, 4]
    assert outbox.dropped == 2


def test_put_back_keeps_order_and_the_bound() -> None:
    outbox = Outbox(capacity=3)
    outbox.add({"n": 3})
    outbox.put_back([{"n": 0}, {"n": 1}, {"n": 2}])
    assert [item["n"] for item in outbox.take(10)] == [1, 2, 3]
    assert outbox.dropped == 1


def test_exposures_repeat_only_after_the_window() -> None:
    now = [0.0]
    dedup = ExposureDedup(window_s=60, capacity=10, clock=lambda: now[0])
    key = ("f", "on", "user", "u1")
    assert dedup.first_time(key)
    now[0] = 59
    assert not dedup.first_time(key)
    now[0] = 120
    assert dedup.first_time(key)


class StallFirstPost(httpx.AsyncBaseTransport):
    """Hangs the first events post (until cancelled), then behaves like `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.stalled = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events/batch") and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()
        return await self.inner.handle_async_request(request)


async def test_a_background_flush_cut_short_by_close_is_sent_by_the_final_flush(
    server: ServerThread, options: SdkOptions, gateway: FakeGateway
) -> None:
    stall = StallFirstPost(gateway.transport)
    opts = dataclasses.replace(options, flush_max_events=1, send_exposures=False, async_http_transport=stall)
    client = await connect(server, opts)
    client.track("click", ("user", "u1"))
    await asyncio.wait_for(stall.stalled.wait(), 20)
    await client.aclose()
    assert [b["events"][0]["metric_key"] for b in gateway.calls("/events/batch")] == ["click"]
