"""POST /v1/environments/{env_id}/events and /events/batch: metric events into JetStream STITCHD_INGEST.

Validation reads the gateway's in-memory DefinitionsCache (event definitions folded from the event log):
an unknown key or a value of the wrong type is counted in `rejected_keys` and never published. There is
no Postgres round trip per event; an SDK key is checked against the same cache. Only a request naming a
key the cache does not know triggers a catch-up read of the log, through the cache's rate-limited
`refresh` (the same limit as unknown SDK keys: a definition created a moment ago). The answer comes
after JetStream acknowledged every accepted event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody

from domain.event_definitions.events import MetricValueType
from gateway.auth.guards import SDK_KEY_OR_BEARER, provide_env_scope
from gateway.auth.principals import SDK_KEY_HEADER, deps_of
from gateway.deps import IngestPublisher
from gateway.errors import PermissionDenied, Unavailable
from gateway.evaluate import definitions_of, sdk_environment
from gateway.positions import requested_position
from readmodels.definitions import DefinitionsCache
from schemas.http_ingest import EventBatchBody, IngestResult, MetricEventBody
from schemas.ingest import MetricEventMsg
from schemas.numbers import MetricValue
from telemetry import metrics

AnyRequest = Request[Any, Any, Any]
TypeOf = Callable[[str], MetricValueType | None]


def now_ms() -> int:
    """Wall-clock epoch milliseconds (event times are client-facing, not the gateway's test clock)."""
    return time.time_ns() // 1_000_000


def value_fits(value: MetricValue, value_type: MetricValueType) -> bool:
    """Whether a value may be recorded under a metric of that type; None (an occurrence) always fits."""
    if value is None:
        return True
    if value_type is MetricValueType.BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if value_type is MetricValueType.INT:
        return isinstance(value, int)
    return isinstance(value, int | float)


def metric_messages(
    environment_id: UUID, events: Sequence[MetricEventBody], type_of: TypeOf, received_ms: int
) -> tuple[list[MetricEventMsg], list[str]]:
    """The events to publish and the distinct rejected keys, in first-seen order."""
    accepted: list[MetricEventMsg] = []
    rejected: dict[str, None] = {}
    env = str(environment_id)
    for e in events:
        value_type = type_of(e.metric_key)
        if value_type is None or not value_fits(e.value, value_type):
            rejected[e.metric_key] = None
            continue
        accepted.append(
            MetricEventMsg(
                event_id=e.event_id or uuid4().hex,
                environment_id=env,
                metric_key=e.metric_key,
                context_type=e.context_type,
                context_key=e.context_key,
                value=e.value,
                timestamp_ms=received_ms if e.timestamp_ms is None else e.timestamp_ms,
                received_at_ms=received_ms,
            )
        )
    return accepted, list(rejected)


async def ingest_environment(request: AnyRequest, env_id: UUID) -> DefinitionsCache:
    """Authenticate (x-sdk-key from memory, else a bearer JWT of a writer) and return the cache."""
    cache = await definitions_of(request)
    if request.headers.get(SDK_KEY_HEADER) is not None:
        await sdk_environment(request, env_id, cache)
    else:
        scope = await provide_env_scope(request, env_id)
        if scope.caller is not None and not scope.caller.can_write:
            raise PermissionDenied("viewers cannot ingest events")
    position = await requested_position(request)
    if position is not None:
        await cache.reach(position, deps_of(request).event_log)
    return cache


def publisher_of(request: AnyRequest) -> IngestPublisher:
    """The gateway's JetStream publisher; 502 when ingestion is not configured for this gateway."""
    publisher = deps_of(request).ingest
    if publisher is None:
        raise Unavailable("event ingestion is not configured on this gateway")
    return publisher


async def _type_lookup(request: AnyRequest, cache: DefinitionsCache, env_id: UUID, keys: set[str]) -> TypeOf:
    """Key -> registered type; refreshes the cache (throttled) when some key is unknown."""
    if any(cache.event_type(env_id, k) is None for k in keys):
        await cache.refresh(deps_of(request).event_log)
    return lambda key: cache.event_type(env_id, key)


async def ingest(request: AnyRequest, env_id: UUID, events: Sequence[MetricEventBody]) -> IngestResult:
    """Validate, publish the accepted events and wait for their acks."""
    cache = await ingest_environment(request, env_id)
    publisher = publisher_of(request)
    type_of = await _type_lookup(request, cache, env_id, {e.metric_key for e in events})
    accepted, rejected = metric_messages(env_id, events, type_of, now_ms())
    await publisher.publish(accepted)
    metrics.count_ingest("metric", "accepted", len(accepted))
    metrics.count_ingest("metric", "rejected", len(events) - len(accepted))
    return IngestResult(accepted_count=len(accepted), rejected_keys=rejected)


class IngestController(Controller):
    path = "/v1/environments/{env_id:uuid}"
    tags = ["ingest"]
    security = SDK_KEY_OR_BEARER

    @post("/events", status_code=200)
    async def ingest_event(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[MetricEventBody]
    ) -> IngestResult:
        """Record one metric event (x-sdk-key or bearer JWT); answers after JetStream acknowledged it."""
        return await ingest(request, env_id, [data])

    @post("/events/batch", status_code=200)
    async def ingest_batch(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[EventBatchBody]
    ) -> IngestResult:
        """Record many metric events; unknown or mistyped keys are reported in `rejected_keys`."""
        return await ingest(request, env_id, data.events)
