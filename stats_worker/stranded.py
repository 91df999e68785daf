"""Messages JetStream gave up on: when a message's last delivery (`max_deliver`) is never acked, because
the worker crashed or hung on it each time, the server stops delivering it and says so in a
MAX_DELIVERIES advisory. The worker copies that message to STITCHD_DLQ, so none is dropped silently.

Advisories are plain NATS messages, seen only while a worker listens (the server only gives up on a
message while a worker fetches, so one does); workers share them in a queue group, and the dead
letter's `Nats-Msg-Id` makes a repeat harmless.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import msgspec
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.dead_letters import Original, dead_letter

ADVISORY: Final = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
QUEUE: Final = "stitchd-max-deliveries"

log = logging.getLogger(__name__)


class MaxDeliveries(msgspec.Struct, frozen=True):
    """The part of `io.nats.jetstream.advisory.v1.max_deliver` used here."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int = 0


_DECODER: Final = msgspec.json.Decoder(MaxDeliveries)


async def rescue(js: JetStreamContext, advisory: bytes) -> int | None:
    """Dead-letter the message an advisory names; its stream sequence, None when it is gone already."""
    notice = _DECODER.decode(advisory)
    try:
        raw = await js.get_msg(notice.stream, notice.stream_seq)
    except NotFoundError:
        return None  # removed by retention meanwhile: nothing left to keep
    original = Original(
        subject=raw.subject or "",
        headers=raw.headers,
        stream=notice.stream,
        sequence=notice.stream_seq,
        deliveries=notice.deliveries,
    )
    reason = (
        f"JetStream gave up after {notice.deliveries} deliveries without an ack (the worker failed on it)"
    )
    at_ms = time.time_ns() // 1_000_000
    await dead_letter(js, original, raw.data or b"", consumer=notice.consumer, reason=reason, at_ms=at_ms)
    return notice.stream_seq


async def follow(nc: NatsClient, js: JetStreamContext, *, stream: str, consumer: str) -> Subscription:
    """Subscribe to the consumer's MAX_DELIVERIES advisories until the subscription is dropped."""

    async def on_advisory(msg: Msg) -> None:
        try:
            seq = await rescue(js, msg.data)
        except (msgspec.DecodeError, nats.errors.Error, TimeoutError) as exc:
            log.error("could not dead-letter a message JetStream gave up on (%s)", exc)
            return
        if seq is not None:
            log.warning("dead-lettered %s #%d: JetStream gave up on it", stream, seq)

    return await nc.subscribe(ADVISORY.format(stream=stream, consumer=consumer), queue=QUEUE, cb=on_advisory)
