"""rm_experiments (the folded experiment, as columns and as `state`) and rm_experiment_iterations.

`stats_interval_minutes` is a column (migration 0007) because the stats worker schedules by it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event
from domain.experiments import experiment as exp
from domain.experiments.events import ExperimentCreated

NAME = "experiments"
TABLES = ("rm_experiments", "rm_experiment_iterations")
STREAM_TYPE = "experiment"

Tx = psycopg.AsyncConnection[Any]
_STATE = msgspec.json.Decoder(exp.Experiment)
_UPSERT = """
INSERT INTO rm_experiments (id, environment_id, project_id, org_id, name, description, flag_key, status,
    variant_keys, control_variant, weights, metric_keys, traffic_allocation, stats_interval_minutes, state,
    version, position, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
    status = EXCLUDED.status, variant_keys = EXCLUDED.variant_keys,
    control_variant = EXCLUDED.control_variant, weights = EXCLUDED.weights,
    metric_keys = EXCLUDED.metric_keys,
    traffic_allocation = EXCLUDED.traffic_allocation,
    stats_interval_minutes = EXCLUDED.stats_interval_minutes, state = EXCLUDED.state,
    version = EXCLUDED.version, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at
"""
_ITERATION = """
INSERT INTO rm_experiment_iterations (id, experiment_id, environment_id, iteration_number, started_at,
    ended_at, metric_keys, variant_keys, weights, traffic_allocation, position)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)
ON CONFLICT (id) DO UPDATE SET ended_at = EXCLUDED.ended_at
"""


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one experiment event (other streams are ignored)."""
    if recorded.stream_type != STREAM_TYPE:
        return
    if isinstance(event, ExperimentCreated):
        state = exp.evolve(None, event)
    else:
        cur = await tx.execute("SELECT state::text FROM rm_experiments WHERE id = %s", (recorded.stream_id,))
        row = await cur.fetchone()
        if row is None:
            return  # deleted
        state = exp.evolve(_STATE.decode(_bytes(row[0])), event)  # type: ignore[arg-type]
    if state.deleted:
        await tx.execute("DELETE FROM rm_experiment_iterations WHERE experiment_id = %s", (state.id,))
        await tx.execute("DELETE FROM rm_experiments WHERE id = %s", (state.id,))
        return
    await _save(tx, state, recorded)


async def _save(tx: Tx, s: exp.Experiment, r: RecordedEvent) -> None:
    params = (
        s.id, s.environment_id, r.metadata.project_id, r.metadata.org_id, s.name, s.description, s.flag_key,
        s.status.value, list(s.variant_keys), s.control_variant, _json(s.weights), list(s.metric_keys),
        s.traffic_allocation, s.stats_interval_minutes, _json(s), s.version, r.position, s.created_at,
        s.updated_at,
    )  # fmt: skip
    await tx.execute(_UPSERT, params)
    for i in s.iterations:
        await tx.execute(
            _ITERATION,
            (i.id, s.id, s.environment_id, i.number, i.started_at, i.ended_at, list(i.metric_keys),
             list(i.variant_keys), _json(i.weights), i.traffic_allocation, r.position),
        )  # fmt: skip
