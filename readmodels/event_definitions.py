"""Event-definition queries over rm_event_definitions (the gateway and ingest validation share them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from readmodels.db import ReadDb
from readmodels.rows import dict_rows


class EventDefinitionRow(msgspec.Struct, frozen=True, kw_only=True):
    """A registered metric key of an environment and its value type ("bool", "int" or "double")."""

    environment_id: UUID
    key: str
    value_type: str
    description: str
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


_SELECT = (
    "SELECT environment_id, event_key AS key, value_type, description, version, position, created_at,"
    " updated_at FROM rm_event_definitions WHERE environment_id = %s"
)


async def event_definitions(db: ReadDb, *, environment_id: UUID) -> list[EventDefinitionRow]:
    """Every event definition of the environment, ordered by key."""
    rows = await dict_rows(db, _SELECT + " ORDER BY event_key", (environment_id,))
    return msgspec.convert(rows, list[EventDefinitionRow])


async def event_definition(db: ReadDb, *, environment_id: UUID, key: str) -> EventDefinitionRow | None:
    """One event definition, or None."""
    rows = await dict_rows(db, _SELECT + " AND event_key = %s", (environment_id, key))
    return msgspec.convert(rows[0], EventDefinitionRow) if rows else None


async def metric_value_types(db: ReadDb, *, environment_id: UUID) -> dict[str, str]:
    """metric key -> value type, for ingest validation."""
    rows = await dict_rows(
        db,
        "SELECT event_key, value_type FROM rm_event_definitions WHERE environment_id = %s",
        (environment_id,),
    )
    return {r["event_key"]: r["value_type"] for r in rows}
