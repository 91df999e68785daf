"""Segment read models: rm_segments (folded state + sync shape) and rm_segment_members (list membership)."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event
from domain.flags.validation import segment_refs
from domain.segments import segment as seg
from domain.segments.events import (
    SegmentCreated,
    SegmentDeleted,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)

NAME = "segments"
TABLES = ("rm_segments", "rm_segment_members")
STREAM_TYPE = "segment"

Tx = psycopg.AsyncConnection[Any]
_STATE = msgspec.json.Decoder(seg.Segment)
_UPSERT = """
INSERT INTO rm_segments (environment_id, segment_key, segment_id, project_id, org_id, kind, context_type,
    name,
    description, definition, state, segment_refs, version, position, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s)
ON CONFLICT (environment_id, segment_key) DO UPDATE SET segment_id = EXCLUDED.segment_id,
    kind = EXCLUDED.kind,
    context_type = EXCLUDED.context_type, name = EXCLUDED.name, description = EXCLUDED.description,
    definition = EXCLUDED.definition, state = EXCLUDED.state, segment_refs = EXCLUDED.segment_refs,
    version = EXCLUDED.version, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at
"""
_ADD_MEMBERS = """
INSERT INTO rm_segment_members (environment_id, segment_key, list, context_key, position)
SELECT %s, %s, %s, k, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING
"""


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else msgspec.json.encode(value)


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one segment event into the rm tables (other events are ignored)."""
    if recorded.stream_type != STREAM_TYPE:
        return
    if isinstance(event, SegmentDeleted):
        await _delete(tx, recorded)
        return
    if isinstance(event, SegmentCreated):
        await _delete(tx, recorded)  # a re-created key starts with empty lists
        state = seg.evolve(None, event)
    else:
        cur = await tx.execute(
            "SELECT state::text FROM rm_segments WHERE segment_id = %s", (recorded.stream_id,)
        )
        row = await cur.fetchone()
        if row is None:
            return
        state = seg.evolve(_STATE.decode(_bytes(row[0])), event)  # type: ignore[arg-type]
    await _members(tx, event, recorded)
    await _save(tx, state, recorded)


async def _delete(tx: Tx, r: RecordedEvent) -> None:
    cur = await tx.execute(
        "DELETE FROM rm_segments WHERE segment_id = %s RETURNING environment_id, segment_key", (r.stream_id,)
    )
    row = await cur.fetchone()
    if row is not None:
        await tx.execute(
            "DELETE FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s", (row[0], row[1])
        )


async def _save(tx: Tx, state: seg.Segment, r: RecordedEvent) -> None:
    shape = seg.as_rule_segment(state) or seg.as_list_segment_meta(state)
    refs = sorted(segment_refs(state.condition)) if state.condition is not None else []
    params = (
        state.environment_id, state.key, state.id, r.metadata.project_id, r.metadata.org_id, state.kind.value,
        state.context_type, state.name, state.description, msgspec.json.encode(shape).decode(),
        msgspec.json.encode(state).decode(), refs, state.version, r.position, r.recorded_at, r.recorded_at,
    )  # fmt: skip
    await tx.execute(_UPSERT, params)


async def _members(tx: Tx, event: Event, r: RecordedEvent) -> None:
    cur = await tx.execute(
        "SELECT environment_id, segment_key FROM rm_segments WHERE segment_id = %s", (r.stream_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return
    env, key = row
    match event:
        case SegmentMembersAdded(included=inc, excluded=exc):
            for lst, keys in (("included", inc), ("excluded", exc)):
                await tx.execute(
                    _ADD_MEMBERS,
                    (env, key, lst, r.position, list(keys)),
                )
        case SegmentMembersRemoved(included=inc, excluded=exc):
            for lst, keys in (("included", inc), ("excluded", exc)):
                await tx.execute(
                    "DELETE FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s"
                    " AND list = %s AND context_key = ANY(%s)",
                    (env, key, lst, list(keys)),
                )
        case SegmentMembersCleared():
            await tx.execute(
                "DELETE FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s", (env, key)
            )
