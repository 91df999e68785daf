"""Metric events and exposures: buffered from any thread, flushed in batches by one background task.

Only a context's type and key leave the process, never its parameters (so private parameters cannot).
Each buffer is bounded: when full the oldest item is dropped and counted. A batch the gateway could
not take for a transient reason goes back to the front of its buffer and is retried on the next flush;
a batch it refused (4xx) is dropped and counted. `track()` checks each event against the gateway's own
body schema at the call site (TypeError for a value that is not a number, ValueError for one out of
range), so no queued event can make the gateway refuse its batch-mates or the flush task fail. The
flush task logs an unexpected error and goes on after a back-off; it never dies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import msgspec

from domain.context import Context
from schemas.http_ingest import MetricEventBody
from schemas.numbers import INT64_MAX, INT64_MIN
from stitchd_sdk.rest import AsyncRest, PostOutcome
from stitchd_sdk.sync import backoff_delay
from stitchd_sdk.types import SdkOptions, TrackingStats

log = logging.getLogger("stitchd_sdk")
Item = dict[str, Any]
MetricValue = bool | int | float | None
EVENTS_ROUTE = ("events/batch", "events")
EXPOSURES_ROUTE = ("exposures/batch", "exposures")


def metric_value(value: object) -> MetricValue:
    """`value` as a plain bool, int64 or finite float (numpy scalars, Fractions... converted);
    TypeError if it is not a real number (a Decimal, a string), ValueError if it is out of range."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not INT64_MIN <= number <= INT64_MAX:
            raise ValueError(f"metric value {number} does not fit in 64 bits")
        return number
    if isinstance(value, numbers.Real):  # Decimal is not one: converting it would silently round
        real = float(value)
        if not math.isfinite(real):
            raise ValueError(f"metric value must be finite, not {real}")
        return real
    raise TypeError(f"metric value must be a bool, an int or a float, not {type(value).__name__}")


def checked_event(item: Item) -> Item:
    """The item if the gateway would accept it as a metric event (its body schema); else ValueError."""
    try:
        msgspec.convert(item, MetricEventBody)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid metric event: {exc}") from None
    return item


class Outbox:
    """A bounded FIFO of pending items; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[Item] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.dropped = 0
        self.sent = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Item) -> int:
        """Append, dropping the oldest when full; returns the new length."""
        with self._lock:
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            return len(self._items)

    def take(self, limit: int) -> list[Item]:
        """Remove and return up to `limit` oldest items."""
        with self._lock:
            count = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(count)]

    def put_back(self, items: list[Item]) -> None:
        """Return unsent items to the front; the oldest go first when that overfills the buffer."""
        with self._lock:
            room = self._capacity - len(self._items)
            keep = items[len(items) - room :] if room < len(items) else items
            self.dropped += len(items) - len(keep)
            self._items.extendleft(reversed(keep))

    def count(self, *, sent: int = 0, dropped: int = 0) -> None:
        """Record the fate of items taken out."""
        with self._lock:
            self.sent += sent
            self.dropped += dropped


class ExposureDedup:
    """Remembers (flag, variant, context type, context key) for a window; bounded, thread-safe."""

    def __init__(self, window_s: float, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[tuple[str, str, str, str], float] = OrderedDict()
        self._window = window_s
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()

    def first_time(self, key: tuple[str, str, str, str]) -> bool:
        """True when `key` was not seen within the window (and records it now)."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen < self._window:
                return False
            self._seen[key] = now
            self._seen.move_to_end(key)
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True


class Tracker:
    """Buffers metric events and exposures and flushes them through `AsyncRest`."""

    def __init__(self, options: SdkOptions, wall_clock: Callable[[], float] = time.time) -> None:
        self.metrics = Outbox(options.max_buffered_events)
        self.exposures = Outbox(options.max_buffered_events)
        self._dedup = ExposureDedup(options.exposure_dedup_window_s, options.exposure_dedup_capacity)
        self._batch = options.flush_max_events
        self._interval = options.flush_interval_s
        self._backoff = (options.backoff_initial_s, options.backoff_max_s)
        self._wall_clock = wall_clock
        self._wake: Callable[[], None] = lambda: None
        self._wake_pending = False  # one wake-up per flush, not one per event past the threshold
        self.failed_flushes = 0
        self.rejected = 0  # metric events the gateway refused by key (unregistered or mistyped)

    def track(self, metric_key: str, context: Context, value: object, timestamp_ms: int | None) -> None:
        """Queue one metric event; TypeError or ValueError here, at the call site, if it is malformed."""
        item: Item = {
            "event_id": uuid.uuid4().hex,
            "metric_key": metric_key,
            "context_type": context.context_type,
            "context_key": context.key,
            "timestamp_ms": self._now_ms() if timestamp_ms is None else timestamp_ms,
        }
        number = metric_value(value)
        if number is not None:
            item["value"] = number
        self._queued(self.metrics.add(checked_event(item)))

    def expose(self, flag_key: str, variant_key: str, context: Context, sequence: int) -> None:
        """Queue an exposure unless the same one was queued within the dedup window."""
        if not self._dedup.first_time((flag_key, variant_key, context.context_type, context.key)):
            return
        item: Item = {
            "flag_key": flag_key,
            "variant_key": variant_key,
            "context_type": context.context_type,
            "context_key": context.key,
            "sequence": sequence,
            "timestamp_ms": self._now_ms(),
        }
        self._queued(self.exposures.add(item))

    def stats(self) -> TrackingStats:
        """Counters over both buffers."""
        return TrackingStats(
            queued=len(self.metrics) + len(self.exposures),
            sent=self.metrics.sent + self.exposures.sent,
            dropped=self.metrics.dropped + self.exposures.dropped,
            failed_flushes=self.failed_flushes,
            rejected=self.rejected,
        )

    async def flush(self, rest: AsyncRest) -> bool:
        """Send everything buffered in batches; False when a transient failure left items queued."""
        ok_metrics = await self._drain(rest, self.metrics, EVENTS_ROUTE)
        ok_exposures = await self._drain(rest, self.exposures, EXPOSURES_ROUTE)
        return ok_metrics and ok_exposures

    async def run(self, rest: AsyncRest) -> None:
        """Flush every interval, or sooner when a buffer reaches a batch; until cancelled."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:  # may be called from any thread
            loop.call_soon_threadsafe(wake.set)

        self._wake = wake_up
        errors = 0
        while True:
            with suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await wake.wait()
            wake.clear()
            self._wake_pending = False
            try:
                await self.flush(rest)
                errors = 0
            except Exception:  # a bug must not end tracking for the life of the process
                errors += 1
                self.failed_flushes += 1
                log.exception("SDK event flush failed; retrying after a back-off")
                await asyncio.sleep(backoff_delay(errors, *self._backoff))

    async def _drain(self, rest: AsyncRest, outbox: Outbox, route: tuple[str, str]) -> bool:
        while batch := outbox.take(self._batch):
            try:
                outcome, rejected = await rest.post_batch(route[0], route[1], batch)
            except asyncio.CancelledError:
                outbox.put_back(batch)  # close() cancelled a background flush: its final flush sends these
                raise
            except Exception:
                outbox.count(dropped=len(batch))  # a batch that breaks the sender must not block the rest
                raise
            if outcome is PostOutcome.RETRY:
                outbox.put_back(batch)
                self.failed_flushes += 1
                return False
            if outcome is PostOutcome.REFUSED:
                outbox.count(dropped=len(batch))
                self.failed_flushes += 1
            else:
                refused = sum(1 for item in batch if item.get("metric_key") in rejected) if rejected else 0
                outbox.count(sent=len(batch) - refused)
                self.rejected += refused
        return True

    def _queued(self, length: int) -> None:
        if length >= self._batch and not self._wake_pending:
            self._wake_pending = True
            self._wake()

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)
