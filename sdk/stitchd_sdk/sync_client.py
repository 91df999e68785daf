"""`SdkClient`: the SDK for plain synchronous code.

An `AsyncSdkClient` runs on a private event loop in a daemon thread (sync stream, flusher). Getters
run in the caller's thread against the same immutable definitions: no hop to the loop, no lock. A
list-segment membership that is not cached is fetched right there with a blocking list-check and
cached (see `docs/sdk.md`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from domain.context import Context
from domain.flags.model import FlagValue
from stitchd_sdk import evaluator as kinds
from stitchd_sdk.client import AsyncSdkClient, Listener
from stitchd_sdk.contexts import ContextsLike, ContextTuple, to_context_set
from stitchd_sdk.evaluator import FetchNow, Kind
from stitchd_sdk.lfu import MembershipKey
from stitchd_sdk.rest import SyncRest
from stitchd_sdk.tracking import MetricValue
from stitchd_sdk.types import EvaluationDetails, SdkOptions, Status, TrackingStats

T = TypeVar("T")


class SdkClient:
    """Connects on construction (waiting up to `timeout` for the first snapshot); `close()` when done."""

    def __init__(
        self,
        grpc_url: str | Sequence[str],
        rest_url: str,
        sdk_key: str,
        *,
        timeout: float | None = None,
        options: SdkOptions | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stitchd-sdk", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            connect = AsyncSdkClient.connect(grpc_url, rest_url, sdk_key, timeout=timeout, options=options)
            self._client = self._call(connect)
        except BaseException:
            self._stop_loop()
            raise
        opts = self._client.options
        http = httpx.Client(transport=opts.http_transport, timeout=opts.http_timeout_s)
        self._rest = SyncRest(self._client.paths, http)
        self._fetch = FetchNow(self._rest.list_check, self._client.cache)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop syncing, flush buffered events (one attempt), stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._client.aclose())
        finally:
            self._rest.close()
            self._stop_loop()

    def bool_value(self, flag_key: str, contexts: ContextsLike, default: bool) -> bool:
        """A bool flag's value, or `default`."""
        return self._details(flag_key, contexts, default, kinds.BOOL).value

    def int_value(self, flag_key: str, contexts: ContextsLike, default: int) -> int:
        """An int flag's value, or `default`."""
        return self._details(flag_key, contexts, default, kinds.INT).value

    def float_value(self, flag_key: str, contexts: ContextsLike, default: float) -> float:
        """A double (or int) flag's value as a float, or `default`."""
        return self._details(flag_key, contexts, default, kinds.FLOAT).value

    def str_value(self, flag_key: str, contexts: ContextsLike, default: str) -> str:
        """A string flag's value, or `default`."""
        return self._details(flag_key, contexts, default, kinds.STR).value

    def json_value(self, flag_key: str, contexts: ContextsLike, default: FlagValue) -> FlagValue:
        """Any flag's value as a JSON document, or `default`."""
        return self._details(flag_key, contexts, default, kinds.JSON).value

    def bool_details(self, flag_key: str, contexts: ContextsLike, default: bool) -> EvaluationDetails[bool]:
        """Value, variant, reason, rule, error and sequence of a bool flag."""
        return self._details(flag_key, contexts, default, kinds.BOOL)

    def int_details(self, flag_key: str, contexts: ContextsLike, default: int) -> EvaluationDetails[int]:
        """Details of an int flag."""
        return self._details(flag_key, contexts, default, kinds.INT)

    def float_details(
        self, flag_key: str, contexts: ContextsLike, default: float
    ) -> EvaluationDetails[float]:
        """Details of a double (or int) flag."""
        return self._details(flag_key, contexts, default, kinds.FLOAT)

    def str_details(self, flag_key: str, contexts: ContextsLike, default: str) -> EvaluationDetails[str]:
        """Details of a string flag."""
        return self._details(flag_key, contexts, default, kinds.STR)

    def json_details(
        self, flag_key: str, contexts: ContextsLike, default: FlagValue
    ) -> EvaluationDetails[FlagValue]:
        """Details of any flag, its value as a JSON document."""
        return self._details(flag_key, contexts, default, kinds.JSON)

    def track(
        self,
        metric_key: str,
        context: Context | ContextTuple,
        value: MetricValue = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Queue a metric event (sent in the background); never blocks. TypeError for a value that is not
        a number, ValueError for one the gateway would refuse (NaN, beyond int64, an empty key...)."""
        self._client.track(metric_key, context, value, timestamp_ms)

    def flush(self) -> bool:
        """Send buffered events now; False when a transient failure kept some queued."""
        return self._call(self._client.flush())

    def prewarm(self, keys: Iterable[MembershipKey]) -> int:
        """Fetch (segment_key, context_type, context_key) memberships into the cache; how many were cached."""
        return self._call(self._client.prewarm(list(keys)))

    def status(self) -> Status:
        """fresh / stale / disconnected and the last applied sequence."""
        return self._client.status()

    def tracking_stats(self) -> TrackingStats:
        """Queued, sent and dropped event counts."""
        return self._client.tracking_stats()

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` (on the SDK's thread) after each applied snapshot or delta."""
        self._client.add_listener(listener)

    @property
    def async_client(self) -> AsyncSdkClient:
        """The client underneath (its coroutines must run on the SDK's own loop)."""
        return self._client

    def _details(self, flag_key: str, contexts: ContextsLike, default: T, kind: Kind) -> EvaluationDetails[T]:
        context_set = to_context_set(contexts)
        details = self._client.evaluator.typed(flag_key, context_set, default, kind, self._fetch)
        self._client.evaluator.expose(flag_key, details, context_set)
        return details

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
