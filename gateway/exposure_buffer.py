"""The evaluate routes' exposures: collected per request, handed to the sink in background batches."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable

from schemas.ingest import ExposureMsg
from telemetry import metrics

log = logging.getLogger("stitchd.gateway.exposures")


@runtime_checkable
class ExposureSink(Protocol):
    """Where server-side evaluations report exposures (the ingest helper's JetStream adapter)."""

    async def record(self, exposure: ExposureMsg) -> None: ...


class ExposureBuffer:
    """Collects exposures from requests and hands them to the sink in the background, in batches."""

    def __init__(self, sink: ExposureSink, *, max_batch: int = 500) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self._pending: list[ExposureMsg] = []
        self._flushing: asyncio.Task[None] | None = None

    def add(self, exposure: ExposureMsg) -> None:
        """Queue one exposure; never waits for the sink."""
        self._pending.append(exposure)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
            self._flushing.add_done_callback(log_task_failure)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the requests of this loop turn add theirs first
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            results = await asyncio.gather(*(self.sink.record(e) for e in batch), return_exceptions=True)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:  # best effort: an evaluation never fails or waits because reporting did
                log.warning("dropped %d of %d exposures", len(failed), len(batch), exc_info=failed[0])
                metrics.count_exposure_dropped(len(failed))


def log_task_failure(task: asyncio.Task[None]) -> None:
    """Done-callback for background tasks: a failure is logged, never lost silently."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
