"""Experiment queries: rm_experiments, rm_experiment_iterations, rm_experiment_results, stats_jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.experiments.schedule import DEFAULT_STATS_INTERVAL_MINUTES
from domain.flags.model import Bucket
from readmodels.db import ReadDb
from readmodels.rows import dict_rows, json_bytes


class ExperimentRow(msgspec.Struct, frozen=True, kw_only=True):
    """An experiment; `status` is DRAFT, ACTIVE, PAUSED or CONCLUDED; empty `weights` is an even split;
    `stats_interval_minutes` paces the stats worker."""

    id: UUID
    environment_id: UUID
    name: str
    description: str
    flag_key: str
    status: str
    variant_keys: list[str]
    control_variant: str
    weights: list[Bucket]
    metric_keys: list[str]
    traffic_allocation: float
    version: int
    position: int
    created_at: datetime
    updated_at: datetime
    stats_interval_minutes: int = DEFAULT_STATS_INTERVAL_MINUTES


class IterationRow(msgspec.Struct, frozen=True, kw_only=True):
    """One activation of an experiment; `ended_at` is None while it runs."""

    id: UUID
    experiment_id: UUID
    iteration_number: int
    started_at: datetime
    ended_at: datetime | None
    metric_keys: list[str]
    variant_keys: list[str]
    weights: list[Bucket]
    traffic_allocation: float


class ResultRow(msgspec.Struct, frozen=True, kw_only=True):
    """The stats worker's latest result for an experiment (its highest iteration)."""

    experiment_id: UUID
    iteration_number: int
    computation_status: str
    variant_results: list[dict[str, Any]]
    details: dict[str, Any]
    computed_at: datetime | None
    next_run_at: datetime | None
    is_stale: bool
    error: str


class StatsJobRow(msgspec.Struct, frozen=True, kw_only=True):
    """A recompute job: pending -> running -> succeeded | failed."""

    id: UUID
    experiment_id: UUID
    environment_id: UUID
    status: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    error: str


_EXPERIMENT = (
    "SELECT id, environment_id, name, description, flag_key, status, variant_keys, control_variant,"
    " weights::text AS weights, metric_keys, traffic_allocation, version, position, created_at, updated_at,"
    " stats_interval_minutes FROM rm_experiments"
)


def _weights(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r | {"weights": msgspec.json.decode(json_bytes(r["weights"]))} for r in rows]


async def experiments_in_environment(db: ReadDb, *, environment_id: UUID) -> list[ExperimentRow]:
    """Every experiment of the environment, oldest first."""
    rows = await dict_rows(
        db, _EXPERIMENT + " WHERE environment_id = %s ORDER BY created_at, id", (environment_id,)
    )
    return msgspec.convert(_weights(rows), list[ExperimentRow])


async def experiment(db: ReadDb, *, environment_id: UUID, experiment_id: UUID) -> ExperimentRow | None:
    """One experiment of the environment, or None."""
    rows = await dict_rows(
        db, _EXPERIMENT + " WHERE environment_id = %s AND id = %s", (environment_id, experiment_id)
    )
    return msgspec.convert(_weights(rows)[0], ExperimentRow) if rows else None


async def iterations(db: ReadDb, *, experiment_id: UUID) -> list[IterationRow]:
    """An experiment's iterations in order."""
    rows = await dict_rows(
        db,
        "SELECT id, experiment_id, iteration_number, started_at, ended_at, metric_keys, variant_keys,"
        " weights::text AS weights, traffic_allocation FROM rm_experiment_iterations"
        " WHERE experiment_id = %s ORDER BY iteration_number",
        (experiment_id,),
    )
    return msgspec.convert(_weights(rows), list[IterationRow])


async def latest_results(db: ReadDb, *, experiment_id: UUID) -> ResultRow | None:
    """The result row of the experiment's latest computed iteration, or None when none exists yet."""
    rows = await dict_rows(
        db,
        "SELECT experiment_id, iteration_number, computation_status,"
        " variant_results::text AS variant_results, details::text AS details, computed_at,"
        " next_run_at, is_stale, error FROM rm_experiment_results WHERE experiment_id = %s"
        " ORDER BY iteration_number DESC LIMIT 1",
        (experiment_id,),
    )
    if not rows:
        return None
    row = rows[0] | {k: msgspec.json.decode(json_bytes(rows[0][k])) for k in ("variant_results", "details")}
    return msgspec.convert(row, ResultRow)


async def stats_job(db: ReadDb, *, job_id: UUID) -> StatsJobRow | None:
    """One recompute job, or None."""
    rows = await dict_rows(
        db,
        "SELECT id, experiment_id, environment_id, status, created_at, started_at, completed_at, error"
        " FROM stats_jobs WHERE id = %s",
        (job_id,),
    )
    return msgspec.convert(rows[0], StatsJobRow) if rows else None


async def experiments_measuring(db: ReadDb, *, environment_id: UUID, metric_key: str) -> list[str]:
    """Names of the environment's ACTIVE or PAUSED experiments that measure the metric."""
    rows = await dict_rows(
        db,
        "SELECT name FROM rm_experiments WHERE environment_id = %s AND status IN ('ACTIVE', 'PAUSED')"
        " AND metric_keys @> ARRAY[%s]::text[] ORDER BY name",
        (environment_id, metric_key),
    )
    return [r["name"] for r in rows]


async def experiments_with_status(
    db: ReadDb, *, statuses: tuple[str, ...] = ("ACTIVE",)
) -> list[ExperimentRow]:
    """Experiments of every environment in the given statuses (the stats worker's schedule)."""
    rows = await dict_rows(
        db, _EXPERIMENT + " WHERE status = ANY(%s) ORDER BY created_at, id", (list(statuses),)
    )
    return msgspec.convert(_weights(rows), list[ExperimentRow])
