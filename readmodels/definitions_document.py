"""The environment definitions document: every flag with the segments it references, as an SDK has it.

The read side of "what did this environment serve": the `definitions` routes (now or as of a sequence
or a time) and `stitchd export` answer it as the one document format (schemas/definitions_document.py,
via gateway.definitions_source); their diff compares two of these. It is built by the same fold the
SDK sync and the gateway's DefinitionsCache use (readmodels.definitions_fold.Folder), over the
environment's events up to a position, so `as_of_sequence=N` is exactly what an SDK at sequence N held.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import msgspec

from domain.envelope import READ_DEFINITION_EVENTS, decode_recorded, recorded_from_row
from domain.events import Event
from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from readmodels.db import ReadDb, connection
from readmodels.definitions_fold import RELEVANT_PREFIXES, Folder
from readmodels.diff import Change, diff


class DefinitionsDocument(msgspec.Struct, frozen=True, kw_only=True):
    """What an environment's SDKs see at `sequence` (the last definition change at or before the
    position asked for; 0 before the environment existed), each part sorted by key."""

    environment_id: UUID
    sequence: int
    flags: tuple[FlagDefinition, ...] = ()
    rule_segments: tuple[RuleSegment, ...] = ()
    list_segments: tuple[ListSegmentMeta, ...] = ()
    recorded_at_ms: int = 0  # when the change at `sequence` was recorded (definitions_as_of sets it)


class ObjectChanges(msgspec.Struct, frozen=True, kw_only=True):
    """One flag's or segment's changed fields between two documents (`object`: "flag:<key>" ...)."""

    object: str
    changes: list[Change]


class DefinitionsDiff(msgspec.Struct, frozen=True, kw_only=True):
    from_sequence: int
    to_sequence: int
    objects: list[ObjectChanges]


def document_of(environment_id: UUID, events: Iterable[tuple[int, Event]]) -> DefinitionsDocument:
    """Fold `(position, event)` pairs in position order; the environment's document after them."""
    folder = Folder(history_limit=0)
    for position, event in events:
        folder.apply(position, event)
    env = folder.envs.get(environment_id)
    if env is None:
        return DefinitionsDocument(environment_id=environment_id, sequence=0)
    snap = env.snapshot()
    return DefinitionsDocument(
        environment_id=environment_id, sequence=snap.sequence, flags=snap.flags,
        rule_segments=snap.rule_segments, list_segments=snap.list_segments,
    )  # fmt: skip


async def definitions_as_of(
    db: ReadDb, *, environment_id: UUID, project_id: UUID, position: int
) -> DefinitionsDocument:
    """The environment's document as of store `position` (read from `events`, folded as the SDKs do)."""
    params = {"upto": position, "env": str(environment_id), "project": str(project_id)}
    async with connection(db) as conn:
        cur = await conn.execute(READ_DEFINITION_EVENTS, params)
        rows = [recorded_from_row(row) for row in await cur.fetchall()]
    events = ((r.position, decode_recorded(r)) for r in rows if r.type.startswith(RELEVANT_PREFIXES))
    doc = document_of(environment_id, events)
    at = [r.recorded_at for r in rows if r.position == doc.sequence]
    return msgspec.structs.replace(doc, recorded_at_ms=int(at[0].timestamp() * 1000)) if at else doc


def _objects(doc: DefinitionsDocument) -> dict[str, Any]:
    parts: dict[str, Any] = {f"flag:{f.key}": f for f in doc.flags}
    parts |= {f"segment:{s.key}": s for s in doc.rule_segments}
    parts |= {f"segment:{s.key}": s for s in doc.list_segments}
    return {name: msgspec.to_builtins(value) for name, value in parts.items()}


def diff_documents(before: DefinitionsDocument, after: DefinitionsDocument) -> DefinitionsDiff:
    """Per object and field, what changed from `before` to `after` (an absent side is null)."""
    old, new = _objects(before), _objects(after)
    objects = [
        ObjectChanges(object=name, changes=changes)
        for name in sorted(set(old) | set(new))
        if (changes := diff(old.get(name), new.get(name)))
    ]
    return DefinitionsDiff(from_sequence=before.sequence, to_sequence=after.sequence, objects=objects)
