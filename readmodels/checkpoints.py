"""Read-your-writes waits on an in-process notification: one LISTEN connection serves every waiter.

`readmodels.db.wait_for_position` holds a connection per waiter for the whole wait; with many waiters
(a burst of writes, or clients sending X-Stitchd-Min-Position while projections lag) that starves the
pool. A `CheckpointWatcher` instead borrows a single pool connection while anybody waits, LISTENs on
the projection runner's checkpoint channel (with a polling fallback), keeps the lowest checkpoint in
memory and wakes every waiter through one asyncio.Condition. It returns the connection when the last
waiter is gone, so an idle gateway holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolClosed

from readmodels.db import CHECKPOINT_CHANNEL, lowest_checkpoint

log = logging.getLogger("stitchd.checkpoints")
POLL_INTERVAL = 0.25  # fallback when a notification is missed
RETRY_AFTER = 0.5  # after a database error, before the next attempt


class CheckpointWatcher:
    """The lowest checkpoint of the named projections (all when None), shared by every waiter."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        names: Sequence[str] | None = None,
        *,
        poll: float = POLL_INTERVAL,
    ) -> None:
        self._pool = pool
        self._names = list(names) if names is not None else None
        self._poll = poll
        self.lowest = 0
        self._changed = asyncio.Condition()
        self._waiters = 0
        self._task: asyncio.Task[None] | None = None

    async def wait(self, position: int, within: float) -> bool:
        """Wait until every named checkpoint is >= position; False after `within` seconds."""
        if self.lowest >= position:
            return True
        self._waiters += 1
        self._start()
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: self.lowest >= position)
        except TimeoutError:
            return False
        finally:
            self._waiters -= 1
        return True

    __call__ = wait  # a gateway PositionWaiter

    @property
    def waiters(self) -> int:
        """How many calls are waiting now."""
        return self._waiters

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="checkpoint-watcher")

    async def _watch(self) -> None:
        """Follow the checkpoints while anybody waits; database errors are logged and retried."""
        while self._waiters:
            try:
                async with self._pool.connection() as conn:
                    await self._listen(conn)
            except PoolClosed:
                return  # shutting down: the waiters time out
            except psycopg.Error as exc:
                log.warning("checkpoint watcher: %s; retrying", exc)
                await asyncio.sleep(RETRY_AFTER)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not conn.autocommit:
            await conn.rollback()
            await conn.set_autocommit(True)
        await conn.execute(f"LISTEN {CHECKPOINT_CHANNEL}")
        try:
            while self._waiters:
                await self._publish(await lowest_checkpoint(conn, self._names))
                async for _ in conn.notifies(timeout=self._poll, stop_after=1):
                    pass
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(f"UNLISTEN {CHECKPOINT_CHANNEL}")

    async def _publish(self, lowest: int) -> None:
        advanced, self.lowest = lowest > self.lowest, lowest  # a rebuild may move it back
        if advanced:
            async with self._changed:
                self._changed.notify_all()
