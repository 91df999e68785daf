"""The environment definitions document: every flag with the segments it references, as an SDK has it.

One shape for every reader of "what did this environment serve": the `definitions` routes (now or as of
a sequence or a time), their diff, and `stitchd export`. It is built by the same fold the SDK sync and
the gateway's DefinitionsCache use (readmodels.definitions_fold.Folder), over the environment's events up
to a position, so `as_of_sequence=N` is exactly what an SDK at sequence N held.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import msgspec

from domain.codec import decode_event
from domain.events import Event
from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from readmodels.db import ReadDb
from readmodels.definitions_fold import RELEVANT_PREFIXES, Folder
from readmodels.diff import Change, diff
from readmodels.rows import dict_rows

# The events that can change an environment's definitions: its own streams' and its project's flags'.
_EVENTS = (
    "SELECT position, type, data::text AS data FROM events"
    " WHERE position <= %(upto)s AND (metadata->>'environment_id' = %(env)s"
    "  OR (stream_type = 'flag' AND metadata->>'project_id' = %(project)s))"
    " ORDER BY position"
)


class DefinitionsDocument(msgspec.Struct, frozen=True, kw_only=True):
    """What an environment's SDKs see at `sequence` (the last definition change at or before the
    position asked for; 0 before the environment existed), each part sorted by key."""

    environment_id: UUID
    sequence: int
    flags: tuple[FlagDefinition, ...] = ()
    rule_segments: tuple[RuleSegment, ...] = ()
    list_segments: tuple[ListSegmentMeta, ...] = ()


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
    rows = await dict_rows(
        db, _EVENTS, {"upto": position, "env": str(environment_id), "project": str(project_id)}
    )
    events = (
        (int(r["position"]), decode_event(r["type"], r["data"].encode()))
        for r in rows
        if r["type"].startswith(RELEVANT_PREFIXES)
    )
    return document_of(environment_id, events)


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
