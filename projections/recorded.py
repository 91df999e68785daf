"""What a projection sees of a stored event besides the fact itself, and the projection module contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec
import psycopg

from domain.events import Event


class RecordedMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """Who and where (the store's `metadata` column); mirrors commands.eventstore.Metadata field for field."""

    actor: str = "system"
    org_id: UUID | None = None
    project_id: UUID | None = None
    environment_id: UUID | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    command_id: UUID | None = None


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """A stored event's envelope (position, ids, metadata); mirrors commands.eventstore.RecordedEvent.

    Projections may not import `commands` (layering), so the runner hands them this shape instead.
    """

    position: int
    stream_id: UUID
    stream_type: str
    version: int
    event_id: UUID
    type: str
    data: bytes
    metadata: RecordedMetadata
    recorded_at: datetime


class Projection(Protocol):
    """A projection module: `NAME`, the rm_* `TABLES` it owns, and `apply` (policy only, no commit)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802 -- a module constant, read-only here so modules match

    @property
    def TABLES(self) -> tuple[str, ...]: ...  # noqa: N802

    async def apply(self, tx: psycopg.AsyncConnection[Any], event: Event, recorded: Recorded) -> None: ...
