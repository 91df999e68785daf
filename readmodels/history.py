"""History by replay (DESIGN section 10): audit pages and as-of states folded from the `events` table.

Nothing here has its own table: an entry's before/after difference is computed by folding the event's
stream with the domain's evolve function up to that event, so the audit cannot disagree with the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.auth_providers import provider as auth_providers
from domain.envelope import (
    ACTOR_IS,
    ANY_IN_STREAMS,
    ENVIRONMENT_IS,
    POSITION_AT,
    SELECT_EVENTS,
    RecordedEvent,
    recorded_from_row,
)
from domain.event_definitions import event_definition as event_definitions
from domain.events import Event
from domain.experiments import experiment as experiments
from domain.flags import flag as flags
from domain.flags import flag_config as flag_configs
from domain.segments import segment as segments
from readmodels.db import ReadDb, fetch_one
from readmodels.diff import Change, diff
from readmodels.rows import dict_rows, tuple_rows

# evolve(state | None, event) -> state, per stream type; unknown stream types merge event fields.
Fold = Callable[[Any, Any], Any]
MAX_LIMIT = 500
_ENVELOPE_FIELDS = ("stream_id", "version", "occurred_at", "type")
_NOISE = ("version", "updated_at")  # change with every event; the entry itself carries them
# credential digests and sealed secrets never leave through the audit
_SECRETS = frozenset({"key_hash", "password_hash", "client_secret"})
REDACTED = "[redacted]"

# The domain's own folds, by the stream type the handlers append with.
FOLDS: Mapping[str, Fold] = {
    "flag": flags.evolve,
    "flag_config": flag_configs.evolve,
    "segment": segments.evolve,
    "event_definition": event_definitions.evolve,
    "experiment": experiments.evolve,
    "auth_provider": auth_providers.evolve,
}


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event with who, when, what and the state difference it made."""

    position: int
    stream_id: UUID
    stream_type: str
    version: int
    type: str
    actor: str
    recorded_at: datetime
    environment_id: UUID | None
    changes: list[Change]


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass `next_cursor` as `before_position` for the next page (None at the end)."""

    entries: list[AuditEntry]
    next_cursor: int | None


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which events: an environment's or some streams', optionally by actor and time window [since, until)."""

    environment_id: UUID | None = None
    stream_ids: tuple[UUID, ...] | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_position: int | None = None
    limit: int = 50


def merge_fold(state: Any, event: Event) -> Any:
    """Fallback fold: the union of every event's fields (for stream types without a domain evolve)."""
    fields = {k: v for k, v in msgspec.to_builtins(event).items() if k not in _ENVELOPE_FIELDS}
    return {**(state or {}), **fields}


def _fold_of(folds: Mapping[str, Fold], stream_type: str) -> Fold:
    fold: Fold = folds.get(stream_type, merge_fold)
    return fold


def state_document(state: Any) -> Any:
    """A folded state as JSON builtins without per-event noise (None when the object does not exist)."""
    if state is None:
        return None
    doc = _redact(msgspec.to_builtins(state))
    return {k: v for k, v in doc.items() if k not in _NOISE} if isinstance(doc, dict) else doc


def _redact(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: REDACTED if k in _SECRETS else _redact(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [_redact(v) for v in doc]
    return doc


async def _select(db: ReadDb, where: list[str], params: list[Any], tail: str) -> list[RecordedEvent]:
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = await tuple_rows(db, SELECT_EVENTS + clause + tail, params)
    return [recorded_from_row(row) for row in rows]


def _where(f: AuditFilter) -> tuple[list[str], list[Any]]:
    checks: list[tuple[str, Any]] = [
        (ENVIRONMENT_IS, None if f.environment_id is None else str(f.environment_id)),
        ("stream_id = ANY(%s)", None if f.stream_ids is None else list(f.stream_ids)),
        (ACTOR_IS, f.actor),
        ("recorded_at >= %s", f.since),
        ("recorded_at < %s", f.until),
        ("position < %s", f.before_position),
    ]
    used = [(sql, value) for sql, value in checks if value is not None]
    return [sql for sql, _ in used], [value for _, value in used]


async def stream_events(
    db: ReadDb, stream_id: UUID, *, up_to_position: int | None = None
) -> list[RecordedEvent]:
    """A stream's stored events in version order, optionally only those at or before a position."""
    where: list[str] = ["stream_id = %s"]
    params: list[Any] = [stream_id]
    if up_to_position is not None:
        where.append("position <= %s")
        params.append(up_to_position)
    return await _select(db, where, params, " ORDER BY version")


class _Exists(msgspec.Struct, frozen=True):
    found: bool


async def any_events(db: ReadDb, stream_ids: Sequence[UUID]) -> bool:
    """Whether any of these streams has ever recorded an event (a deleted object still has history)."""
    row = await fetch_one(db, ANY_IN_STREAMS, [list(stream_ids)], _Exists)
    return row is not None and row.found


def fold_with_changes(
    events: Sequence[RecordedEvent], folds: Mapping[str, Fold] = FOLDS
) -> dict[int, list[Change]]:
    """position -> the changes each event of one stream made to the folded state."""
    state: Any = None
    changes: dict[int, list[Change]] = {}
    for stored in events:
        after = _fold_of(folds, stored.stream_type)(state, stored.event())
        changes[stored.position] = diff(state_document(state), state_document(after))
        state = after
    return changes


async def audit_page(db: ReadDb, f: AuditFilter, folds: Mapping[str, Fold] = FOLDS) -> AuditPage:
    """A page of events matching `f`, newest first, each with the difference it made to its object."""
    limit = max(1, min(f.limit, MAX_LIMIT))
    where, params = _where(f)
    page = await _select(db, where, [*params, limit + 1], " ORDER BY position DESC LIMIT %s")
    more, page = len(page) > limit, page[:limit]
    changes: dict[int, list[Change]] = {}
    for sid in {s.stream_id for s in page}:
        last = max(s.position for s in page if s.stream_id == sid)
        changes |= fold_with_changes(await stream_events(db, sid, up_to_position=last), folds)
    entries = [
        AuditEntry(
            position=s.position,
            stream_id=s.stream_id,
            stream_type=s.stream_type,
            version=s.version,
            type=s.type,
            actor=s.metadata.actor,
            recorded_at=s.recorded_at,
            environment_id=s.metadata.environment_id,
            changes=changes.get(s.position, []),
        )
        for s in page
    ]
    return AuditPage(entries=entries, next_cursor=page[-1].position if more and page else None)


async def position_at(db: ReadDb, at: datetime) -> int:
    """The last position recorded at or before `at` (0 when none)."""
    rows = await dict_rows(db, POSITION_AT, (at,))
    return int(rows[0]["p"])


async def state_as_of(
    db: ReadDb, stream_id: UUID, *, position: int, folds: Mapping[str, Fold] = FOLDS
) -> tuple[Any, int, int]:
    """(folded state or None, stream version, position of its last event) at or before `position`."""
    state: Any = None
    version = last = 0
    for stored in await stream_events(db, stream_id, up_to_position=position):
        state = _fold_of(folds, stored.stream_type)(state, stored.event())
        version, last = stored.version, stored.position
    return state, version, last
