"""The evaluate routes' exposures: collected per request, handed to the sink in background batches.

The queue is bounded (`max_pending`, GatewaySettings.exposure_buffer_max): while the sink is slow or
down, the oldest exposures are dropped, counted in `dropped`, and a warning says so at most every
`DROP_LOG_SECONDS` (issue 9 item 13: an unbounded list grew by 80 MiB a second with the sink down).
Memory is at most `max_pending + max_batch` exposures, each a few hundred bytes (its keys are bounded
by the request bodies).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from schemas.ingest import ExposureMsg
from telemetry import metrics

log = logging.getLogger("stitchd.gateway.exposures")
DEFAULT_MAX_PENDING = 10_000
DROP_LOG_SECONDS = 10.0


@runtime_checkable
class ExposureSink(Protocol):
    """Where server-side evaluations report exposures (the ingest helper's JetStream adapter)."""

    async def record(self, exposure: ExposureMsg) -> None: ...


class ExposureBuffer:
    """Collects exposures from requests and hands them to the sink in the background, in batches."""

    def __init__(
        self,
        sink: ExposureSink,
        *,
        max_batch: int = 500,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self.dropped = 0  # exposures lost because the queue was full (oldest first)
        self.failed = 0  # exposures the sink refused
        self._pending: deque[ExposureMsg] = deque(maxlen=max(1, max_pending))
        self._flushing: asyncio.Task[None] | None = None
        self._clock = clock
        self._logged_dropped = 0
        self._logged_at: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, exposure: ExposureMsg) -> None:
        """Queue one exposure (dropping the oldest when full); never waits for the sink."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            metrics.count_exposure_dropped()
            self._report_drops()
        self._pending.append(exposure)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
            self._flushing.add_done_callback(log_task_failure)

    def _report_drops(self) -> None:
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < DROP_LOG_SECONDS:
            return
        log.warning(
            "exposure buffer full (%d): dropped %d oldest exposures since the last report, %d in all",
            self._pending.maxlen,
            self.dropped - self._logged_dropped,
            self.dropped,
        )
        self._logged_at, self._logged_dropped = now, self.dropped

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the requests of this loop turn add theirs first
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            results = await asyncio.gather(*(self.sink.record(e) for e in batch), return_exceptions=True)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:  # best effort: an evaluation never fails or waits because reporting did
                self.failed += len(failed)
                log.warning("dropped %d of %d exposures", len(failed), len(batch), exc_info=failed[0])
                metrics.count_exposure_dropped(len(failed))


def log_task_failure(task: asyncio.Task[None]) -> None:
    """Done-callback for background tasks: a failure is logged, never lost silently."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
