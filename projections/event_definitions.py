"""rm_event_definitions: an environment's registered metric keys and their value types."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.envelope import RecordedEvent
from domain.event_definitions.events import (
    EventDefinitionCreated,
    EventDefinitionDeleted,
    EventDefinitionUpdated,
)
from domain.events import Event

NAME = "event_definitions"
TABLES = ("rm_event_definitions",)
STREAM_TYPE = "event_definition"

_UPSERT = """
INSERT INTO rm_event_definitions (environment_id, event_key, stream_id, project_id, org_id, value_type,
    description, version, position, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (environment_id, event_key) DO UPDATE SET stream_id = EXCLUDED.stream_id,
    value_type = EXCLUDED.value_type, description = EXCLUDED.description, version = EXCLUDED.version,
    position = EXCLUDED.position, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
"""


async def apply(tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent) -> None:
    """Fold one event-definition event (other streams are ignored)."""
    if recorded.stream_type != STREAM_TYPE:
        return
    match event:
        case EventDefinitionCreated(environment_id=env, key=key, value_type=t, description=d, version=v):
            at = event.occurred_at
            meta = recorded.metadata
            params = (
                env,
                key,
                recorded.stream_id,
                meta.project_id,
                meta.org_id,
                t.value,
                d,
                v,
                recorded.position,
                at,
                at,
            )
            await tx.execute(_UPSERT, params)
        case EventDefinitionUpdated(description=d, version=v):
            await tx.execute(
                "UPDATE rm_event_definitions SET description = %s, version = %s, position = %s,"
                " updated_at = %s WHERE stream_id = %s",
                (d, v, recorded.position, event.occurred_at, recorded.stream_id),
            )
        case EventDefinitionDeleted():
            await tx.execute("DELETE FROM rm_event_definitions WHERE stream_id = %s", (recorded.stream_id,))
