"""Flag read models: rm_flag_definitions (project level) and rm_flags (complete definition per environment).

Both store the domain's folded state: an event is applied by reading the state back from its row,
calling the aggregate's `evolve` (domain.flags.flag, domain.flags.flag_config) and writing the result.
A definition event rewrites the embedded FlagDefinition of every configured environment of the flag, so
a row of rm_flags is always evaluable on its own (the SDK sync cache reads it as is). A row exists while
its aggregate lives: a deleted flag or configuration has none.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.flags.events import FlagConfigCreated, FlagConfigEvent, FlagCreated, FlagEvent
from domain.flags.model import FlagDefinition, Rule, ValueType, Variant
from domain.flags.validation import segment_refs

NAME = "flags"
TABLES = ("rm_flag_definitions", "rm_flags")
STREAM_TYPES = ("flag", "flag_config")

Tx = psycopg.AsyncConnection[Any]
_DEFINITION = msgspec.json.Decoder(FlagDefinition)
_VARIANTS = msgspec.json.Decoder(tuple[Variant, ...])


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else msgspec.json.encode(value)


def rule_segments(rules: tuple[Rule, ...]) -> list[str]:
    """Sorted segment keys the rules reference."""
    return sorted(set().union(*(segment_refs(r.condition) for r in rules)))


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one flag or flag-config event into the rm tables (other streams are ignored)."""
    if recorded.stream_type == "flag":
        await _flag_event(tx, event, recorded)  # type: ignore[arg-type]
    elif recorded.stream_type == "flag_config":
        await _config_event(tx, event, recorded)  # type: ignore[arg-type]


async def _flag_event(tx: Tx, event: FlagEvent, r: RecordedEvent) -> None:
    created = isinstance(event, FlagCreated)
    state = None if created else await _load_flag(tx, r.stream_id)
    if state is None and not created:
        return  # the flag was deleted; its rows went with it
    if created:
        await _delete_flag(tx, r.stream_id)  # a re-created key starts afresh
    flag = dfn.evolve(state, event)
    if flag.deleted:
        await _delete_flag(tx, r.stream_id)
        return
    await _save_flag(tx, flag, event, r)
    for config in await _configs_of(tx, flag.project_id, flag.key):
        await _save_config(tx, flag, config, event, r)


async def _config_event(tx: Tx, event: FlagConfigEvent, r: RecordedEvent) -> None:
    created = isinstance(event, FlagConfigCreated)
    state = None if created else await _load_config(tx, r.stream_id)
    if state is None and not created:
        return  # the configuration (or its flag) was deleted
    config = cfg.evolve(state, event)
    flag = await _load_flag(tx, dfn.flag_stream(config.project_id, config.key))
    if config.deleted or flag is None:
        await tx.execute("DELETE FROM rm_flags WHERE config_stream_id = %s", (r.stream_id,))
        return
    if created:
        await tx.execute("DELETE FROM rm_flags WHERE config_stream_id = %s", (r.stream_id,))
    await _save_config(tx, flag, config, event, r)


_FLAG_COLUMNS = (
    "stream_id, version, project_id, flag_key, value_type, variants::text, name, description, archived"
)


async def _load_flag(tx: Tx, stream_id: UUID) -> dfn.Flag | None:
    cur = await tx.execute(
        f"SELECT {_FLAG_COLUMNS} FROM rm_flag_definitions WHERE stream_id = %s", (stream_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    id_, version, project_id, key, value_type, variants, name, description, archived = row
    return dfn.Flag(
        id=id_, version=version, project_id=project_id, key=key, value_type=ValueType(value_type),
        variants=_VARIANTS.decode(_bytes(variants)), name=name, description=description, archived=archived,
    )  # fmt: skip


async def _save_flag(tx: Tx, f: dfn.Flag, e: Event, r: RecordedEvent) -> None:
    await tx.execute(
        "INSERT INTO rm_flag_definitions (project_id, flag_key, stream_id, org_id, value_type, variants,"
        " name, description, archived, version, position, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (project_id, flag_key) DO UPDATE SET value_type = EXCLUDED.value_type,"
        " variants = EXCLUDED.variants, name = EXCLUDED.name, description = EXCLUDED.description,"
        " archived = EXCLUDED.archived, version = EXCLUDED.version, position = EXCLUDED.position,"
        " updated_at = EXCLUDED.updated_at",
        (f.project_id, f.key, f.id, r.metadata.org_id, f.value_type.value, _json(f.variants), f.name,
         f.description, f.archived, f.version, r.position, e.occurred_at, e.occurred_at),
    )  # fmt: skip


async def _delete_flag(tx: Tx, stream_id: UUID) -> None:
    cur = await tx.execute(
        "DELETE FROM rm_flag_definitions WHERE stream_id = %s RETURNING project_id, flag_key", (stream_id,)
    )
    row = await cur.fetchone()
    if row is not None:
        await tx.execute("DELETE FROM rm_flags WHERE project_id = %s AND flag_key = %s", (row[0], row[1]))


def _config_of(row: tuple[Any, ...]) -> cfg.FlagEnvConfig:
    stream_id, version, definition = row
    d = _DEFINITION.decode(_bytes(definition))
    return cfg.FlagEnvConfig(
        id=stream_id, version=version, project_id=d.project_id, environment_id=d.environment_id, key=d.key,
        config=d.config,
    )  # fmt: skip


async def _load_config(tx: Tx, stream_id: UUID) -> cfg.FlagEnvConfig | None:
    cur = await tx.execute(
        "SELECT config_stream_id, version, definition::text FROM rm_flags WHERE config_stream_id = %s",
        (stream_id,),
    )
    row = await cur.fetchone()
    return None if row is None else _config_of(tuple(row))


async def _configs_of(tx: Tx, project_id: UUID, key: str) -> list[cfg.FlagEnvConfig]:
    cur = await tx.execute(
        "SELECT config_stream_id, version, definition::text FROM rm_flags"
        " WHERE project_id = %s AND flag_key = %s",
        (project_id, key),
    )
    return [_config_of(tuple(row)) for row in await cur.fetchall()]


async def _save_config(tx: Tx, f: dfn.Flag, c: cfg.FlagEnvConfig, e: Event, r: RecordedEvent) -> None:
    definition: FlagDefinition = cfg.definition_of(f, c, c.environment_id)
    await tx.execute(
        "INSERT INTO rm_flags (environment_id, flag_key, project_id, org_id, config_stream_id, definition,"
        " enabled, archived, segment_keys, version, definition_version, position, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (environment_id, flag_key) DO UPDATE SET definition = EXCLUDED.definition,"
        " config_stream_id = EXCLUDED.config_stream_id, enabled = EXCLUDED.enabled,"
        " archived = EXCLUDED.archived, segment_keys = EXCLUDED.segment_keys, version = EXCLUDED.version,"
        " definition_version = EXCLUDED.definition_version, position = EXCLUDED.position,"
        " updated_at = EXCLUDED.updated_at",
        (c.environment_id, c.key, c.project_id, r.metadata.org_id, c.id, _json(definition),
         c.config.enabled, f.archived, rule_segments(c.config.rules), c.version, f.version, r.position,
         e.occurred_at, e.occurred_at),
    )  # fmt: skip
