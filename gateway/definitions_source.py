"""The environment definitions document at a position: what `GET .../definitions` answers and what
`stitchd export` writes (the same function, so the same document for the same sequence).

Folded from the event log as the SDK sync does (readmodels.definitions_document), then put in the one
document format the SDK bootstraps from (schemas.definitions_document).
"""

from __future__ import annotations

from uuid import UUID

from readmodels.db import ReadDb
from readmodels.definitions_document import definitions_as_of
from schemas.definitions_document import DefinitionsDocument, document_of_snapshot, snapshot_of_definitions


async def definitions_document(
    db: ReadDb, *, environment_id: UUID, project_id: UUID, position: int
) -> DefinitionsDocument:
    """The environment's document as of store `position`; `written_at_ms` is when its last change was
    recorded, so the answer depends on the position only."""
    doc = await definitions_as_of(db, environment_id=environment_id, project_id=project_id, position=position)
    snapshot = snapshot_of_definitions(
        environment_id=environment_id,
        sequence=doc.sequence,
        flags=doc.flags,
        rule_segments=doc.rule_segments,
        list_segments=doc.list_segments,
        server_timestamp_ms=doc.recorded_at_ms,
    )
    return document_of_snapshot(snapshot, written_at_ms=doc.recorded_at_ms)
