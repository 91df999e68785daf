"""Flag queries over rm_flag_definitions and rm_flags (shared by the gateway and the sync broadcaster).

A project flag with no config stream in an environment is *implicitly* present there: disabled, serving
its first variant as both off variant and fallthrough, at config version 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.flags.flag import Flag
from domain.flags.model import FlagConfig, FlagDefinition, Serve, ValueType, Variant
from readmodels.db import ReadDb
from readmodels.rows import dict_rows, json_bytes


class FlagRow(msgspec.Struct, frozen=True, kw_only=True):
    """One flag as seen from one environment; `version` is the environment's config stream version."""

    definition: FlagDefinition
    flag: Flag  # the project-level state (name, description, definition version, ...), as folded
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


_SELECT = """
SELECT d.stream_id, d.project_id, d.flag_key, d.value_type, d.variants::text AS variants,
       d.name, d.description, d.archived,
       d.version AS definition_version, d.position AS d_position, d.created_at, d.updated_at AS d_updated,
       f.definition::text AS definition, f.version, f.position AS f_position, f.updated_at AS f_updated
FROM rm_flag_definitions d
LEFT JOIN rm_flags f ON f.environment_id = %(env)s AND f.flag_key = d.flag_key AND f.project_id = d.project_id
WHERE d.project_id = %(project)s
"""

_FLAG_DECODER = msgspec.json.Decoder(FlagDefinition)
_VARIANTS = msgspec.json.Decoder(tuple[Variant, ...])


def default_config(variants: tuple[Variant, ...]) -> FlagConfig:
    """The implicit config of a flag in an environment that never configured it."""
    first = variants[0].key if variants else ""
    return FlagConfig(enabled=False, off_variant=first, fallthrough=Serve(variant_key=first))


def _row(r: dict[str, Any], environment_id: UUID) -> FlagRow:
    variants = _VARIANTS.decode(json_bytes(r["variants"]))
    if r["definition"] is not None:
        stored = _FLAG_DECODER.decode(json_bytes(r["definition"]))
        config, version = stored.config, int(r["version"])
    else:
        config, version = default_config(variants), 0
    definition = FlagDefinition(
        key=r["flag_key"],
        project_id=r["project_id"],
        environment_id=environment_id,
        value_type=ValueType(r["value_type"]),
        variants=variants,
        config=config,
        version=version,
        archived=bool(r["archived"]),
    )
    updated = max(r["d_updated"], r["f_updated"]) if r["f_updated"] is not None else r["d_updated"]
    flag = Flag(
        id=r["stream_id"],
        version=int(r["definition_version"]),
        project_id=r["project_id"],
        key=r["flag_key"],
        value_type=definition.value_type,
        variants=variants,
        name=r["name"],
        description=r["description"],
        archived=definition.archived,
    )
    return FlagRow(
        definition=definition,
        flag=flag,
        version=version,
        position=max(int(r["d_position"]), int(r["f_position"] or 0)),
        created_at=r["created_at"],
        updated_at=updated,
    )


async def flags_in_environment(
    db: ReadDb, *, project_id: UUID, environment_id: UUID, include_archived: bool = True
) -> list[FlagRow]:
    """Every flag of the project as seen from the environment, ordered by key."""
    sql = _SELECT + ("" if include_archived else " AND NOT d.archived") + " ORDER BY d.flag_key"
    rows = await dict_rows(db, sql, {"env": environment_id, "project": project_id})
    return [_row(r, environment_id) for r in rows]


async def flag_in_environment(
    db: ReadDb, *, project_id: UUID, environment_id: UUID, key: str
) -> FlagRow | None:
    """One flag as seen from the environment, or None when the project has no such flag."""
    params = {"env": environment_id, "project": project_id, "key": key}
    rows = await dict_rows(db, _SELECT + " AND d.flag_key = %(key)s", params)
    return _row(rows[0], environment_id) if rows else None


async def flag_definitions(db: ReadDb, *, project_id: UUID, environment_id: UUID) -> list[FlagDefinition]:
    """The complete evaluation definitions of an environment (archived flags excluded), for SDK sync."""
    rows = await flags_in_environment(
        db, project_id=project_id, environment_id=environment_id, include_archived=False
    )
    return [r.definition for r in rows]


async def flags_using_segment(db: ReadDb, *, environment_id: UUID, segment_key: str) -> list[str]:
    """Keys of the environment's flags whose rules reference the segment."""
    rows = await dict_rows(
        db,
        "SELECT flag_key FROM rm_flags WHERE environment_id = %s AND segment_keys @> ARRAY[%s]::text[]"
        " ORDER BY flag_key",
        (environment_id, segment_key),
    )
    return [r["flag_key"] for r in rows]


async def flag_environments(db: ReadDb, *, project_id: UUID, key: str) -> list[UUID]:
    """Environments holding a config of the project's flag."""
    rows = await dict_rows(
        db, "SELECT environment_id FROM rm_flags WHERE project_id = %s AND flag_key = %s", (project_id, key)
    )
    return [r["environment_id"] for r in rows]
