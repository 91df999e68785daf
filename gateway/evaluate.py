"""SDK routes answered from memory: evaluate, evaluate-all, segments list-check and batch-list-check.

Answers come from the gateway's DefinitionsCache (flags, segments, list memberships, SDK keys folded from
the event log), with no database round trip, except a list check on a list too large for the cache's
member budget that misses its answer LRU: one rm_segment_members query once it reached the cache.
The composition root may install a JetStream-followed cache with `install_definitions`; otherwise the
first SDK request builds one over `deps.event_log` that polls the log every `POLL_SECONDS` and is restarted
if it stops. Server-side evaluations emit exposures (DESIGN section 9) to the installed ExposureSink,
buffered and fire-and-forget; with no sink installed (ingestion not configured) they are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from litestar import Controller, Litestar, Request, post
from litestar.params import FromPath, JSONBody
from psycopg_pool import AsyncConnectionPool

from domain.context import ContextSet
from domain.flags.model import EvaluationResult, Reason
from gateway.auth.guards import SDK_KEY
from gateway.auth.principals import MAX_CREDENTIAL_LENGTH, SDK_KEY_HEADER, deps_of
from gateway.errors import InvalidArgument, NotFound, Unauthenticated, Unavailable
from gateway.exposure_buffer import ExposureBuffer, ExposureSink, log_task_failure
from gateway.positions import requested_position
from readmodels.checkpoints import CheckpointWatcher
from readmodels.definitions import DEFAULT_HISTORY_BYTES, DefinitionsCache, EventLog
from readmodels.definitions_large import SEGMENTS_PROJECTION, MemberFetch, read_model_fetch
from readmodels.definitions_log import follow, start_following
from schemas.http_sdk import (
    MAX_BATCH_CHECKS,
    BatchListCheckBody,
    BatchListCheckView,
    ContextsBody,
    EvaluateAllBody,
    EvaluateAllView,
    EvaluateBody,
    EvaluationView,
    ListCheckBody,
    ListCheckResult,
    ListCheckView,
    evaluation_view,
)
from schemas.ingest import ExposureMsg
from telemetry import metrics

log = logging.getLogger("stitchd.gateway.evaluate")

DEFINITIONS_STATE = "definitions"
EXPOSURES_STATE = "exposure_sink"
SEGMENTS_WATCHER_STATE = "segments_checkpoint_watcher"
POLL_SECONDS = 0.25
LARGE_LIST_WAIT = 5.0  # bound on waiting for rm_segment_members to reach the cache's position
AnyRequest = Request[Any, Any, Any]


class _Definitions:
    """The lazily built cache of a gateway app and the follower keeping it current."""

    def __init__(self, events: EventLog, *, history_bytes: int) -> None:
        self.cache = DefinitionsCache(history_bytes=history_bytes)
        self.events = events
        self._follower: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.loaded = False  # caught up once (the start-up probe)

    async def current(self) -> DefinitionsCache:
        """The cache, (re)starting its follower when it is not running."""
        if self._follower is None or self._follower.done():
            self._ready = asyncio.Event()
            follower = follow(
                self.cache, self.events, nats_url=None, poll_interval=POLL_SECONDS, ready=self._ready
            )
            self._follower = asyncio.create_task(follower, name="gateway-definitions")
            self._follower.add_done_callback(log_task_failure)
        if not self._ready.is_set():
            await self.cache.catch_up(self.events)
        self.loaded = True
        return self.cache


def install_definitions(
    app: Litestar, cache: DefinitionsCache, exposures: ExposureSink | None = None
) -> None:
    """Use a cache the composition root keeps current (e.g. `follow` with NATS), and an exposure sink."""
    app.state[DEFINITIONS_STATE] = cache
    if exposures is not None:
        app.state[EXPOSURES_STATE] = exposures


async def start_definitions(
    app: Litestar, events: EventLog, *, nats_url: str | None, history_bytes: int = DEFAULT_HISTORY_BYTES
) -> asyncio.Task[None]:
    """For the gateway's composition root: install a JetStream-followed cache in `app` once it has caught
    up; returns the follower task (cancel it at shutdown)."""
    cache = DefinitionsCache(history_bytes=history_bytes)
    follower = await start_following(cache, events, nats_url=nats_url)
    install_definitions(app, cache)
    return follower


def definitions_loaded(state: Any) -> bool:
    """Whether the app's cache has been caught up with the log at least once."""
    found = state.get(DEFINITIONS_STATE)
    return isinstance(found, DefinitionsCache) or (isinstance(found, _Definitions) and found.loaded)


async def definitions_of(request: AnyRequest) -> DefinitionsCache:
    """The app's DefinitionsCache (installed, or built on first use over the event log)."""
    state = request.app.state
    found = state.get(DEFINITIONS_STATE)
    if isinstance(found, DefinitionsCache):
        return found
    if not isinstance(found, _Definitions):
        deps = deps_of(request)
        found = _Definitions(deps.event_log, history_bytes=deps.settings.definition_history_bytes)
        state[DEFINITIONS_STATE] = found
    return await found.current()


def _exposures(request: AnyRequest) -> ExposureBuffer | None:
    state = request.app.state
    buffer = state.get("exposure_buffer")
    if isinstance(buffer, ExposureBuffer):
        return buffer
    sink = state.get(EXPOSURES_STATE) or getattr(state.get("deps"), "exposures", None)
    if not isinstance(sink, ExposureSink):
        return None
    state["exposure_buffer"] = buffer = ExposureBuffer(
        sink, max_pending=deps_of(request).settings.exposure_buffer_max
    )
    return buffer


async def sdk_environment(request: AnyRequest, env_id: UUID, cache: DefinitionsCache) -> UUID:
    """The path's environment if the x-sdk-key unlocks it: 401 for a missing or unknown key, else 404."""
    raw = (request.headers.get(SDK_KEY_HEADER) or "").strip()
    if not raw:
        raise Unauthenticated("missing x-sdk-key header")
    if len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("sdk key not found")
    owner = await cache.resolve_key(raw, deps_of(request).event_log)  # rate-limited, misses remembered
    if owner is None:
        raise Unauthenticated("sdk key not found")
    if owner[0] != env_id:
        raise NotFound(f"environment {env_id} not found")
    return env_id


async def _prepared(request: AnyRequest, env_id: UUID) -> DefinitionsCache:
    cache = await definitions_of(request)
    await sdk_environment(request, env_id, cache)
    position = await requested_position(request)
    if position is not None:
        await cache.reach(position, deps_of(request).event_log)
    return cache


def _member_fetch(request: AnyRequest) -> MemberFetch:
    """Large lists' memberships from the read model once it reached the cache (read-your-writes).

    The read pool is looked up only when a large list is actually fetched: evaluations over small
    lists need nothing but the cache.
    """

    async def fetch(
        environment_id: UUID, position: int, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bool]:
        lagging = Unavailable("list memberships are not caught up yet; retry")
        db = deps_of(request).db
        read = read_model_fetch(db, LARGE_LIST_WAIT, lagging, _segments_watcher(request, db))
        return await read(environment_id, position, pairs)

    return fetch


def _segments_watcher(request: AnyRequest, db: AsyncConnectionPool[Any]) -> CheckpointWatcher:
    """The app's one waiter on the segments projection: waiting evaluations share one connection."""
    state = request.app.state
    watcher = state.get(SEGMENTS_WATCHER_STATE)
    if not isinstance(watcher, CheckpointWatcher):
        watcher = state[SEGMENTS_WATCHER_STATE] = CheckpointWatcher(db, [SEGMENTS_PROJECTION])
    return watcher


def _contexts(body: ContextsBody) -> ContextSet:
    contexts = body.context_set()
    if isinstance(contexts, str):
        raise InvalidArgument(contexts)
    return contexts


def view(result: EvaluationResult, cache: DefinitionsCache, env_id: UUID) -> EvaluationView:
    """The HTTP answer for one evaluation (counted in the evaluations metric)."""
    env = cache.environment(env_id)
    flag = env.flags.get(result.flag_key) if env is not None else None
    metrics.count_evaluation(str(env_id), None if flag is None else result.flag_key, result.variant_key)
    return evaluation_view(result, is_enabled=flag is not None and flag.definition.config.enabled)


def _exposure(env_id: UUID, result: EvaluationResult, contexts: ContextSet) -> ExposureMsg | None:
    if result.variant_key is None or result.reason is Reason.ERROR or not contexts.contexts:
        return None
    primary = contexts.contexts[0]
    return ExposureMsg(
        event_id=str(uuid4()),
        environment_id=str(env_id),
        flag_key=result.flag_key,
        variant_key=result.variant_key,
        context_type=primary.context_type,
        context_key=primary.key,
        sequence=result.sequence,
        timestamp_ms=time.time_ns() // 1_000_000,
    )


class EvaluateController(Controller):
    path = "/v1/environments/{env_id:uuid}"
    tags = ["sdk"]
    security = SDK_KEY

    @post("/evaluate", status_code=200)
    async def evaluate(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[EvaluateBody]
    ) -> EvaluationView:
        """Evaluate one flag for a context (or several, `contexts`); emits an exposure."""
        cache = await _prepared(request, env_id)
        contexts = _contexts(data)
        await cache.prefetch_large(env_id, contexts, _member_fetch(request))
        result = cache.evaluate(env_id, data.flag_key, contexts)
        buffer = _exposures(request)
        exposure = _exposure(env_id, result, contexts) if buffer is not None else None
        if buffer is not None and exposure is not None:
            buffer.add(exposure)
        return view(result, cache, env_id)

    @post("/evaluate-all", status_code=200)
    async def evaluate_all(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[EvaluateAllBody]
    ) -> EvaluateAllView:
        """Every flag for one context set, with reasons (no exposures: nothing was shown yet)."""
        cache = await _prepared(request, env_id)
        contexts = _contexts(data)
        await cache.prefetch_large(env_id, contexts, _member_fetch(request))
        results = cache.evaluate_all(env_id, contexts)
        return EvaluateAllView(
            flags=[view(r, cache, env_id) for r in results], sequence=cache.sequence(env_id)
        )

    @post("/segments/list-check", status_code=200)
    async def list_check(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[ListCheckBody]
    ) -> ListCheckView:
        """Whether a context is a member of a list segment (404 when no list segment has that key)."""
        cache = await _prepared(request, env_id)
        check = (data.segment_key, data.context_type, data.context_key)
        [member] = await cache.check_members(env_id, [check], _member_fetch(request))
        if member is None:
            raise NotFound(f"list segment {data.segment_key!r} not found")
        return ListCheckView(is_member=member)

    @post("/segments/batch-list-check", status_code=200)
    async def batch_list_check(
        self, request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[BatchListCheckBody]
    ) -> BatchListCheckView:
        """Membership for many (segment, context) pairs, in request order."""
        if len(data.checks) > MAX_BATCH_CHECKS:
            raise InvalidArgument(f"at most {MAX_BATCH_CHECKS} checks per request")
        cache = await _prepared(request, env_id)
        wanted = [(c.segment_key, c.context_type, c.context_key) for c in data.checks]
        members = await cache.check_members(env_id, wanted, _member_fetch(request))
        results = []
        for check, member in zip(data.checks, members, strict=True):
            result = ListCheckResult(
                segment_key=check.segment_key,
                context_type=check.context_type,
                context_key=check.context_key,
                is_member=bool(member),
                found=member is not None,
            )
            results.append(result)
        return BatchListCheckView(results=results)


# --- shared with other SDK-key front ends (gateway/ofrep.py): the same evaluation and exposure path ---
async def evaluate_one(
    request: AnyRequest, cache: DefinitionsCache, env_id: UUID, flag_key: str, contexts: ContextSet
) -> EvaluationResult:
    """One server-side evaluation exactly as /evaluate does it, exposure included."""
    await cache.prefetch_large(env_id, contexts, _member_fetch(request))
    result = cache.evaluate(env_id, flag_key, contexts)
    buffer = _exposures(request)
    exposure = _exposure(env_id, result, contexts) if buffer is not None else None
    if buffer is not None and exposure is not None:
        buffer.add(exposure)
    return result


async def evaluate_every(
    request: AnyRequest, cache: DefinitionsCache, env_id: UUID, contexts: ContextSet
) -> list[EvaluationResult]:
    """Every flag for one context set as /evaluate-all does it (no exposures)."""
    await cache.prefetch_large(env_id, contexts, _member_fetch(request))
    return cache.evaluate_all(env_id, contexts)
