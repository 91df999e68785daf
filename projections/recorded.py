"""The projection module contract; a projection sees a stored event as domain.envelope.RecordedEvent."""

from __future__ import annotations

from typing import Any, Protocol

import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event


class Projection(Protocol):
    """A projection module: `NAME`, the rm_* `TABLES` it owns, and `apply` (policy only, no commit)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802 -- a module constant, read-only here so modules match

    @property
    def TABLES(self) -> tuple[str, ...]: ...  # noqa: N802

    async def apply(
        self, tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent
    ) -> None: ...
