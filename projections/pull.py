"""Pulling wake-ups from JetStream: a fetch that never swallows a cancellation, and a forgiving ack."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger("stitchd.projections")
BACKOFF = 0.2


async def fetch(sub: JetStreamContext.PullSubscription, batch: int, wait: float, name: str) -> list[Msg]:
    """The next batch (waiting up to `wait` s); empty on timeout or while NATS reconnects (a closed
    connection raises)."""
    fetching = asyncio.ensure_future(sub.fetch(batch, timeout=wait))
    try:
        await asyncio.wait({fetching})
    except asyncio.CancelledError:
        # nats-py's fetch can swallow a cancellation (its inner wait_for on 3.11): never wait on it
        fetching.cancel()
        fetching.add_done_callback(_retrieve)
        raise
    try:
        return fetching.result()
    except TimeoutError:  # nats raises its own subclass or the builtin, depending on the path
        return []
    except nats.errors.ConnectionClosedError:
        raise
    except nats.errors.Error as exc:
        log.warning("projection %s: fetch failed (%s); retrying", name, exc)
        await asyncio.sleep(BACKOFF)
        return []


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned fetch's outcome as seen (it no longer matters)."""
    if not task.cancelled():
        task.exception()


async def ack(msg: Msg) -> None:
    """Ack after commit; a lost ack only means a redelivery, which the checkpoint skips."""
    try:
        await msg.ack()
    except nats.errors.Error as exc:
        log.warning("ack of %s failed (%s); it will be redelivered and skipped", msg.subject, exc)
