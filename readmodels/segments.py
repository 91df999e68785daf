"""Segment queries over rm_segments and rm_segment_members (shared by the gateway and the broadcaster)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from domain.flags.model import ListSegmentMeta, RuleSegment
from readmodels.db import ReadDb
from readmodels.rows import dict_rows, json_bytes

SegmentKind = Literal["rule", "list"]


class SegmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One segment of an environment; exactly one of `rule` / `list_meta` is set, by `kind`."""

    id: UUID
    environment_id: UUID
    key: str
    kind: SegmentKind
    context_type: str
    name: str
    description: str
    rule: RuleSegment | None
    list_meta: ListSegmentMeta | None
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


class Members(msgspec.Struct, frozen=True, kw_only=True):
    """A list segment's included and excluded context keys, sorted."""

    included: list[str]
    excluded: list[str]


_COLUMNS = (
    "segment_id, environment_id, segment_key, kind, context_type, name, description,"
    " definition::text AS definition, version, position, created_at, updated_at"
)
_RULE = msgspec.json.Decoder(RuleSegment)
_META = msgspec.json.Decoder(ListSegmentMeta)


def _row(r: dict[str, Any]) -> SegmentRow:
    raw = json_bytes(r["definition"])
    return SegmentRow(
        id=r["segment_id"],
        environment_id=r["environment_id"],
        key=r["segment_key"],
        kind=r["kind"],
        context_type=r["context_type"],
        name=r["name"],
        description=r["description"],
        rule=_RULE.decode(raw) if r["kind"] == "rule" else None,
        list_meta=_META.decode(raw) if r["kind"] == "list" else None,
        version=int(r["version"]),
        position=int(r["position"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def segments_in_environment(db: ReadDb, *, environment_id: UUID) -> list[SegmentRow]:
    """Every segment of the environment, ordered by key."""
    query = f"SELECT {_COLUMNS} FROM rm_segments WHERE environment_id = %s ORDER BY segment_key"
    return [_row(r) for r in await dict_rows(db, query, (environment_id,))]


async def segment_by_key(db: ReadDb, *, environment_id: UUID, key: str) -> SegmentRow | None:
    """One segment, or None."""
    query = f"SELECT {_COLUMNS} FROM rm_segments WHERE environment_id = %s AND segment_key = %s"
    rows = await dict_rows(db, query, (environment_id, key))
    return _row(rows[0]) if rows else None


async def rule_and_list_segments(
    db: ReadDb, *, environment_id: UUID
) -> tuple[list[RuleSegment], list[ListSegmentMeta]]:
    """The environment's segment definitions as SDK sync ships them."""
    rows = await segments_in_environment(db, environment_id=environment_id)
    return [r.rule for r in rows if r.rule], [r.list_meta for r in rows if r.list_meta]


async def segment_members(db: ReadDb, *, environment_id: UUID, key: str) -> Members:
    """Included and excluded keys of a list segment (empty lists for an unknown segment)."""
    rows = await dict_rows(
        db,
        "SELECT list, context_key FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s"
        " ORDER BY context_key",
        (environment_id, key),
    )
    return Members(
        included=[r["context_key"] for r in rows if r["list"] == "included"],
        excluded=[r["context_key"] for r in rows if r["list"] == "excluded"],
    )


async def list_memberships(
    db: ReadDb, *, environment_id: UUID, checks: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], bool]:
    """(segment_key, context_key) -> member: on the included list and not on the excluded list."""
    if not checks:
        return {}
    rows = await dict_rows(
        db,
        "SELECT segment_key, context_key, bool_and(list = 'included') AS member FROM rm_segment_members"
        " WHERE environment_id = %s AND (segment_key, context_key) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[])) GROUP BY segment_key, context_key",
        (environment_id, [s for s, _ in checks], [c for _, c in checks]),
    )
    found = {(r["segment_key"], r["context_key"]): bool(r["member"]) for r in rows}
    return {pair: found.get(pair, False) for pair in checks}


async def existing_segment_keys(db: ReadDb, *, environment_id: UUID, keys: Sequence[str]) -> frozenset[str]:
    """Which of `keys` name segments of the environment."""
    rows = await dict_rows(
        db,
        "SELECT segment_key FROM rm_segments WHERE environment_id = %s AND segment_key = ANY(%s)",
        (environment_id, list(keys)),
    )
    return frozenset(r["segment_key"] for r in rows)


async def segment_graph(db: ReadDb, *, environment_id: UUID) -> dict[str, frozenset[str]]:
    """Every live segment key of the environment -> the segment keys its condition names."""
    rows = await dict_rows(
        db, "SELECT segment_key, segment_refs FROM rm_segments WHERE environment_id = %s", (environment_id,)
    )
    return {r["segment_key"]: frozenset(r["segment_refs"]) for r in rows}


async def member_counts(db: ReadDb, *, environment_id: UUID, key: str) -> tuple[int, int]:
    """(included, excluded) list sizes of a list segment."""
    rows = await dict_rows(
        db,
        "SELECT count(*) FILTER (WHERE list = 'included') AS inc,"
        " count(*) FILTER (WHERE list = 'excluded') AS exc"
        " FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s",
        (environment_id, key),
    )
    return int(rows[0]["inc"]), int(rows[0]["exc"])
