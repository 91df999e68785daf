"""Evaluation analytics: GET .../flags/{key}/usage (hourly series) and the staleness filter of the flag list.

Counts come from `rm_flag_usage`, which the stats worker rolls up from ClickHouse every minute: every
server-side evaluation that served a variant and every SDK exposure counts once (at least once: see
stats_worker.clickhouse_schema). A flag is stale when it is older than N days and was not evaluated in
any of the last N days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument, NotFound
from readmodels import flag_usage as usage
from readmodels import flags as rm
from schemas.http_usage import FlagUsageView, UsagePoint

MAX_RANGE = timedelta(days=92)
DEFAULT_RANGE = timedelta(days=1)
MAX_STALE_DAYS = 3650


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def usage_range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[from, to): defaults to the day before `to` (itself now); at most MAX_RANGE long."""
    stop = _utc(end) if end is not None else now
    begin = _utc(start) if start is not None else stop - DEFAULT_RANGE
    if begin >= stop:
        raise InvalidArgument("`from` must be before `to`")
    if stop - begin > MAX_RANGE:
        raise InvalidArgument(f"the range may span at most {MAX_RANGE.days} days")
    return begin, stop


async def stale_keys(
    deps: GatewayDeps, scope: EnvironmentScope, days: int, rows: list[rm.FlagRow]
) -> set[str]:
    """Keys among `rows` created over `days` days ago and not evaluated within them."""
    if not 1 <= days <= MAX_STALE_DAYS:
        raise InvalidArgument(f"days must be 1-{MAX_STALE_DAYS}")
    cutoff = deps.clock() - timedelta(days=days)
    recent = await usage.evaluated_since(deps.db, environment_id=scope.environment_id, since=cutoff)
    return {r.definition.key for r in rows if r.definition.key not in recent and r.created_at < cutoff}


class FlagUsageController(Controller):
    path = "/v1/environments/{env_id:uuid}/flags/{key:str}/usage"
    tags = ["flags"]
    security = BEARER

    @get("/", guards=[tenant_reader])
    async def flag_usage(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        start: Annotated[datetime | None, QueryParameter(name="from")] = None,
        end: Annotated[datetime | None, QueryParameter(name="to")] = None,
    ) -> FlagUsageView:
        """Evaluations of the flag per variant and hour in [from, to) (default: the last 24 hours)."""
        begin, stop = usage_range(start, end, deps.clock())
        env = env_scope.environment_id
        row = await rm.flag_in_environment(
            deps.db, project_id=env_scope.project_id, environment_id=env, key=key
        )
        if row is None:
            raise NotFound(f"flag {key!r} not found")
        rows = await usage.usage_series(deps.db, environment_id=env, flag_key=key, start=begin, end=stop)
        series = [UsagePoint(hour=r.hour, variant_key=r.variant_key, evaluations=r.evaluations) for r in rows]
        total = sum(p.evaluations for p in series)
        return FlagUsageView(flag_key=key, start=begin, end=stop, total=total, series=series)
