"""`AsyncSdkClient`: the SDK for asyncio code.

Getters are coroutines: evaluation is in-process and synchronous, but when a flag reaches a list
segment whose membership is not cached, the client awaits one batch list-check for every missed
membership and evaluates again (at most `_MAX_ROUNDS` times; a membership that still cannot be
fetched counts as "not a member"). A flag without list segments never awaits the network.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from types import TracebackType
from typing import Self, TypeVar

import httpx

from domain.context import Context, ContextSet
from domain.flags.model import EvaluationResult, FlagValue
from schemas.generated.stitchd.flags import v1 as flags_pb
from stitchd_sdk import evaluator as kinds
from stitchd_sdk.contexts import ContextsLike, ContextTuple, to_context, to_context_set
from stitchd_sdk.evaluator import Evaluator, Kind
from stitchd_sdk.lfu import LfuCache, MembershipKey
from stitchd_sdk.lookup import RecordMisses
from stitchd_sdk.persist import CacheWriter, cache_file, cache_key_hash, newest_file_snapshot
from stitchd_sdk.rest import AsyncRest, RestPaths
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.sync import SyncLoop
from stitchd_sdk.tracking import MetricValue, Tracker
from stitchd_sdk.types import (
    EvaluationDetails,
    SdkError,
    SdkOptions,
    SdkState,
    Status,
    SyncUpdate,
    TrackingStats,
)

log = logging.getLogger("stitchd_sdk")

T = TypeVar("T")
_MAX_ROUNDS = 4
_PREWARM_BATCH = 500
Listener = Callable[[SyncUpdate], None]
OFFLINE_GRPC_URL = "offline.invalid:1"  # never dialled: offline clients open no stream
OFFLINE_REST_URL = "http://offline.invalid"


class AsyncSdkClient:
    """Synced definitions, in-process evaluation, list-segment cache and event tracking."""

    def __init__(
        self,
        grpc_url: str | Sequence[str],
        rest_url: str,
        sdk_key: str,
        options: SdkOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A client not yet started: `await start()` (or use `connect`, or `async with`)."""
        self.options = options or SdkOptions()
        self.store = DefinitionStore()
        self.cache = LfuCache(self.options.cache_capacity)
        self.tracker = Tracker(self.options)
        exposures = self.options.send_exposures and not self.options.offline
        self.evaluator = Evaluator(self.store, self.cache, self.tracker, exposures)
        self.paths = RestPaths(rest_url, sdk_key, lambda: self.store.sequence)
        self.paths.environment_id = self.options.environment_id
        http = httpx.AsyncClient(
            transport=self.options.async_http_transport, timeout=self.options.http_timeout_s
        )
        self.rest = AsyncRest(self.paths, http)
        self._sync = SyncLoop(grpc_url, sdk_key, self.store, self.options, self._on_update, clock)
        self._key_hash = cache_key_hash(sdk_key)
        self.cache_writer = self._cache_writer(sdk_key)
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @classmethod
    async def offline(cls, path: str, options: SdkOptions | None = None) -> AsyncSdkClient:
        """A client evaluating the definitions document at `path` only: no stream, nothing sent."""
        opts = dataclasses.replace(options or SdkOptions(), offline=True, bootstrap_path=path)
        client = cls(OFFLINE_GRPC_URL, OFFLINE_REST_URL, "", opts)
        await client.start()
        return client

    def _cache_writer(self, sdk_key: str) -> CacheWriter | None:
        opts = self.options
        if opts.offline or opts.cache_dir is None:
            return None
        path = cache_file(opts.cache_dir, sdk_key)
        return CacheWriter(self.store, path, self._key_hash, opts.cache_max_bytes)

    @classmethod
    async def connect(
        cls,
        grpc_url: str | Sequence[str],
        rest_url: str,
        sdk_key: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the documented API; bounds only the first snapshot
        options: SdkOptions | None = None,
    ) -> AsyncSdkClient:
        """A started client holding the first snapshot; SdkError if none arrives within `timeout`."""
        client = cls(grpc_url, rest_url, sdk_key, options)
        await client.start(timeout)
        return client

    async def start(self, timeout: float | None = None, *, wait: bool = True) -> None:  # noqa: ASYNC109
        """Open the sync stream and the flusher; wait (bounded) for the first snapshot.

        Definitions from a file (the cache, or `bootstrap_path`) are applied first; then the stream is
        awaited at most `file_start_wait_s` (it resumes from their sequence) and never required.
        `wait=False` (a relay that must start while the platform is away) returns at once.
        """
        from_file = self._apply_file()
        if self.options.offline:
            if not from_file:
                raise SdkError(
                    f"offline mode needs a readable definitions file ({self.options.bootstrap_path})"
                )
            return
        self._tasks = [
            asyncio.create_task(self._sync.run(), name="stitchd-sdk-sync"),
            asyncio.create_task(self.tracker.run(self.rest), name="stitchd-sdk-flush"),
        ]
        if self.cache_writer is not None:
            self._tasks.append(asyncio.create_task(self.cache_writer.run(), name="stitchd-sdk-cache"))
        if not wait:
            return
        if from_file:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.options.file_start_wait_s):
                    await self._sync.attempted.wait()
            return
        await self._await_snapshot(self.options.connect_timeout_s if timeout is None else timeout)

    async def _await_snapshot(self, wait: float) -> None:
        try:
            async with asyncio.timeout(wait):
                await self._sync.ready.wait()
        except TimeoutError:
            await self.aclose()
            raise SdkError(f"no definitions snapshot within {wait}s") from None
        if self._sync.fatal is not None:
            await self.aclose()
            raise self._sync.fatal

    def _apply_file(self) -> bool:
        """Apply the newest trustworthy definitions file (this key's cache, the bootstrap document)."""
        cache_path = None if self.cache_writer is None else self.cache_writer.path
        snapshot = newest_file_snapshot(self.options, cache_path, self._key_hash)
        if snapshot is None:
            return False
        self.store.apply(snapshot)
        self.paths.environment_id = self.paths.environment_id or self.store.current.environment_id
        return True

    async def __aenter__(self) -> Self:
        if not self._tasks:
            await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop syncing, flush what is buffered (one attempt), release connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self.cache_writer is not None:
            await self.cache_writer.write_now()
        if self.paths.environment_id and not self.options.offline:
            await self.tracker.flush(self.rest)
        await self.rest.aclose()

    # Typed getters: the value, or the caller's default on any error.
    async def bool_value(self, flag_key: str, contexts: ContextsLike, default: bool) -> bool:
        """A bool flag's value."""
        return (await self._details(flag_key, contexts, default, kinds.BOOL)).value

    async def int_value(self, flag_key: str, contexts: ContextsLike, default: int) -> int:
        """An int flag's value."""
        return (await self._details(flag_key, contexts, default, kinds.INT)).value

    async def float_value(self, flag_key: str, contexts: ContextsLike, default: float) -> float:
        """A double (or int) flag's value as a float."""
        return (await self._details(flag_key, contexts, default, kinds.FLOAT)).value

    async def str_value(self, flag_key: str, contexts: ContextsLike, default: str) -> str:
        """A string flag's value."""
        return (await self._details(flag_key, contexts, default, kinds.STR)).value

    async def json_value(self, flag_key: str, contexts: ContextsLike, default: FlagValue) -> FlagValue:
        """A flag's value as a JSON document (any value type)."""
        return (await self._details(flag_key, contexts, default, kinds.JSON)).value

    async def bool_details(
        self, flag_key: str, contexts: ContextsLike, default: bool
    ) -> EvaluationDetails[bool]:
        """Value, variant, reason, rule, error and sequence of a bool flag."""
        return await self._details(flag_key, contexts, default, kinds.BOOL)

    async def int_details(
        self, flag_key: str, contexts: ContextsLike, default: int
    ) -> EvaluationDetails[int]:
        """Details of an int flag."""
        return await self._details(flag_key, contexts, default, kinds.INT)

    async def float_details(
        self, flag_key: str, contexts: ContextsLike, default: float
    ) -> EvaluationDetails[float]:
        """Details of a double (or int) flag."""
        return await self._details(flag_key, contexts, default, kinds.FLOAT)

    async def str_details(
        self, flag_key: str, contexts: ContextsLike, default: str
    ) -> EvaluationDetails[str]:
        """Details of a string flag."""
        return await self._details(flag_key, contexts, default, kinds.STR)

    async def json_details(
        self, flag_key: str, contexts: ContextsLike, default: FlagValue
    ) -> EvaluationDetails[FlagValue]:
        """Details of any flag, its value as a JSON document."""
        return await self._details(flag_key, contexts, default, kinds.JSON)

    async def _details(
        self, flag_key: str, contexts: ContextsLike, default: T, kind: Kind
    ) -> EvaluationDetails[T]:
        context_set = to_context_set(contexts)
        misses = RecordMisses()
        details = self.evaluator.typed(flag_key, context_set, default, kind, misses)
        rounds = 0
        while misses.missed and rounds < _MAX_ROUNDS and await self._resolve(misses.missed):
            rounds += 1
            misses = RecordMisses()
            details = self.evaluator.typed(flag_key, context_set, default, kind, misses)
        self.evaluator.expose(flag_key, details, context_set)
        return details

    async def result(self, flag_key: str, contexts: ContextSet, *, expose: bool) -> EvaluationResult:
        """The domain result of one evaluation, memberships fetched as by the getters (a relay's use:
        `stitchd edge` answers /evaluate and OFREP with it); the exposure only when `expose`."""
        misses = RecordMisses()
        result = self.evaluator.raw(flag_key, contexts, misses)
        rounds = 0
        while misses.missed and rounds < _MAX_ROUNDS and await self._resolve(misses.missed):
            rounds += 1
            misses = RecordMisses()
            result = self.evaluator.raw(flag_key, contexts, misses)
        if expose:
            details = EvaluationDetails(result.value, result.variant_key, result.reason, result.rule_id,
                                        result.error_code, result.sequence)  # fmt: skip
            self.evaluator.expose(flag_key, details, contexts)
        return result

    async def _resolve(self, keys: list[MembershipKey]) -> int:
        """Fetch and cache memberships; how many were learned."""
        unique = list(dict.fromkeys(keys))
        answers = await self.rest.batch_list_check(unique)
        learned = [(key, member) for key, member in zip(unique, answers, strict=True) if member is not None]
        self.cache.prewarm(learned)
        return len(learned)

    async def prewarm(self, keys: Iterable[MembershipKey]) -> int:
        """Fetch (segment_key, context_type, context_key) memberships into the cache; how many were cached."""
        items = list(keys)
        learned = 0
        for start in range(0, len(items), _PREWARM_BATCH):
            learned += await self._resolve(items[start : start + _PREWARM_BATCH])
        return learned

    def track(
        self,
        metric_key: str,
        context: Context | ContextTuple,
        value: MetricValue = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue a metric event (sent in the background); thread-safe, never blocks. TypeError for a value
        that is not a number, ValueError for one the gateway would refuse (NaN, beyond int64, ...)."""
        self.tracker.track(metric_key, to_context(context), value, timestamp_ms)

    async def flush(self) -> bool:
        """Send buffered events now; False when a transient failure kept some queued."""
        return await self.tracker.flush(self.rest)

    def status(self) -> Status:
        """fresh / stale / disconnected / refused / cached / offline and the last applied sequence."""
        status = self._sync.status()
        return dataclasses.replace(status, state=SdkState.OFFLINE) if self.options.offline else status

    @property
    def broadcaster(self) -> tuple[str, int]:
        """The (host, port) of the broadcaster the definitions stream from (of those listed)."""
        return self._sync.address

    def tracking_stats(self) -> TrackingStats:
        """Queued, sent and dropped event counts."""
        return self.tracker.stats()

    def add_message_tap(self, tap: Callable[[flags_pb.SyncResponse], None]) -> None:
        """Call `tap(msg)` with every sync message (heartbeats and duplicates too) just before the
        store applies it (`store` still holds the previous state)."""
        self._sync.taps.append(tap)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` (on the SDK's event loop) after each applied snapshot or delta."""
        self._listeners.append(listener)

    def _on_update(self, update: SyncUpdate) -> None:
        if self.cache_writer is not None:
            self.cache_writer.changed()
        if update.is_snapshot:
            self.cache.clear()
        else:
            for key in {*update.changed_list_segment_keys, *update.removed_segment_keys}:
                self.cache.invalidate_segment(key)
            for key in update.upserted_segment_keys:
                self.cache.invalidate_segment(key)
        if not self.paths.environment_id:
            self.paths.environment_id = self.store.current.environment_id
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                # An application callback must not stop definition sync; its failure is logged, not hidden.
                log.exception("SDK update listener failed")
