"""GET /v1/environments/{env}/sdk-connections: which definitions every SDK stream served, now or `?at=`.

The broadcasters record streams (sync_broadcaster.connections); this route compares each stream's
delivered sequence with the environment's, from the gateway's DefinitionsCache: the retained deltas
after the stream's sequence say which changes it missed, and the event store says when the first of
them was committed. A live stream that has missed a change for longer than the SDK's stale grace is
`stale`: the replica silently serving an old document shows here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument
from gateway.evaluate import definitions_of
from readmodels import history
from readmodels import sdk_connections as rm
from readmodels.definitions import DefinitionsCache
from schemas.http_sdk_connections import SdkConnectionList, SdkConnectionView

STALE_AFTER = timedelta(seconds=30)  # stitchd_sdk SdkOptions.stale_after_s
LOST_AFTER = timedelta(seconds=60)  # no message (heartbeats every 15 s) for this long: not really live
MAX_CLOSED_HOURS = 24 * 7


def missed(cache: DefinitionsCache, env: UUID, served: int, upto: float) -> tuple[int | None, int | None]:
    """(the environment's sequence at position `upto`, the first change after `served` up to it);
    (None, None) when the cache no longer holds the deltas after `served` and cannot tell."""
    current = cache.sequence(env)
    deltas = cache.deltas_since(env, served) if served > 0 else None
    if deltas is None:
        return (current, None) if current <= upto and current <= served else (None, None)
    after = [d.sequence for d in deltas if d.sequence <= upto]
    return max([served, *after]), (after[0] if after else None)


def _state(row: rm.StreamRow, at: datetime) -> str:
    if row.closed_at is not None and row.closed_at <= at:
        return "closed"
    last = row.last_sent_at or row.opened_at
    return "lost" if last < at - LOST_AFTER else "live"


def _view(
    row: rm.StreamRow, at: datetime, env_seq: int | None, next_change: datetime | None
) -> SdkConnectionView:
    state = _state(row, at)
    lag = None if env_seq is None or row.served is None else max(0, env_seq - row.served)
    seconds = (
        0.0 if lag == 0 else None if next_change is None else max(0.0, (at - next_change).total_seconds())
    )
    stale = None if seconds is None else state == "live" and seconds > STALE_AFTER.total_seconds()
    return SdkConnectionView(
        stream_id=str(row.stream_id),
        sdk_key_id=None if row.sdk_key_id is None else str(row.sdk_key_id),
        instance_id=row.instance_id,
        sdk_version=row.sdk_version,
        broadcaster=row.broadcaster,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        last_message_at=row.last_sent_at,
        state=state,
        sequence=row.served,
        lag=lag,
        lag_seconds=seconds,
        stale=stale,
    )


async def connections(
    deps: GatewayDeps, cache: DefinitionsCache, env: UUID, at: datetime | None, closed_hours: int
) -> SdkConnectionList:
    now = deps.clock()
    when = now if at is None else at
    if at is None:
        rows = await rm.streams_now(deps.db, env, closed_since=now - timedelta(hours=closed_hours))
        upto: float = math.inf
    else:
        rows = await rm.streams_at(deps.db, env, at)
        upto = await history.position_at(deps.db, at)
    seen = [(row, *missed(cache, env, row.served or 0, upto)) for row in rows]
    times = await rm.recorded_at(deps.db, [n for _, _, n in seen if n is not None])
    views = [_view(row, when, env_seq, times.get(n) if n else None) for row, env_seq, n in seen]
    current = cache.sequence(env)
    env_seq = current if current <= upto else max((s for _, s, _ in seen if s is not None), default=None)
    return SdkConnectionList(
        environment_sequence=env_seq,
        at=when,
        stale_after_seconds=STALE_AFTER.total_seconds(),
        connections=views,
    )


class SdkConnectionController(Controller):
    path = "/v1/environments/{env_id:uuid}/sdk-connections"
    tags = ["sdk"]
    security = BEARER

    @get("/", guards=[tenant_reader])
    async def sdk_connections(
        self,
        request: Request[Any, Any, Any],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        at: FromQuery[datetime | None] = None,
        closed_within_hours: Annotated[
            int, QueryParameter(ge=0, le=MAX_CLOSED_HOURS, description="Closed streams within these hours.")
        ] = 24,
    ) -> SdkConnectionList:
        """Live and recently closed SDK streams with the sequence each served and its lag; `at`: then."""
        if not 0 <= closed_within_hours <= MAX_CLOSED_HOURS:
            raise InvalidArgument(f"closed_within_hours must be 0-{MAX_CLOSED_HOURS}")
        when = None if at is None else (at.replace(tzinfo=UTC) if at.tzinfo is None else at)
        cache = await definitions_of(request)
        return await connections(deps, cache, env_scope.environment_id, when, closed_within_hours)
