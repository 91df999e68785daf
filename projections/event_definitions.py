"""rm_event_definitions: an environment's registered metric keys and their value types.

The row is the folded domain state (domain.event_definitions.event_definition.evolve) read back,
evolved by one event and written; a deleted definition has no row.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.envelope import RecordedEvent
from domain.event_definitions import event_definition as evd
from domain.event_definitions.events import EventDefinitionCreated, MetricValueType
from domain.events import Event

NAME = "event_definitions"
TABLES = ("rm_event_definitions",)
STREAM_TYPE = "event_definition"

Tx = psycopg.AsyncConnection[Any]
_UPSERT = """
INSERT INTO rm_event_definitions (environment_id, event_key, stream_id, project_id, org_id, value_type,
    description, version, position, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (environment_id, event_key) DO UPDATE SET stream_id = EXCLUDED.stream_id,
    value_type = EXCLUDED.value_type, description = EXCLUDED.description, version = EXCLUDED.version,
    position = EXCLUDED.position, updated_at = EXCLUDED.updated_at
"""


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one event-definition event (other streams are ignored)."""
    if recorded.stream_type != STREAM_TYPE:
        return
    created = isinstance(event, EventDefinitionCreated)
    state = None if created else await _load(tx, recorded.stream_id)
    if state is None and not created:
        return  # deleted
    if created:
        await tx.execute("DELETE FROM rm_event_definitions WHERE stream_id = %s", (recorded.stream_id,))
    new = evd.evolve(state, event)  # type: ignore[arg-type]
    if new.deleted:
        await tx.execute("DELETE FROM rm_event_definitions WHERE stream_id = %s", (recorded.stream_id,))
        return
    meta = recorded.metadata
    params = (
        new.environment_id, new.key, new.id, meta.project_id, meta.org_id, new.value_type.value,
        new.description, new.version, recorded.position, event.occurred_at, event.occurred_at,
    )  # fmt: skip
    await tx.execute(_UPSERT, params)


async def _load(tx: Tx, stream_id: UUID) -> evd.EventDefinition | None:
    cur = await tx.execute(
        "SELECT stream_id, version, environment_id, event_key, value_type, description"
        " FROM rm_event_definitions WHERE stream_id = %s",
        (stream_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    id_, version, environment_id, key, value_type, description = row
    return evd.EventDefinition(
        id=id_, version=version, environment_id=environment_id, key=key,
        value_type=MetricValueType(value_type), description=description,
    )  # fmt: skip
