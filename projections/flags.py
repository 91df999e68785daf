"""Flag read models: rm_flag_definitions (project level) and rm_flags (complete definition per environment).

Definition events rewrite the embedded FlagDefinition of every configured environment of the flag, so a
row of rm_flags is always evaluable on its own (the SDK sync cache reads it as is).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
import psycopg

from domain.conditions.ast import And, Condition, Leaf, Not, Op, Or
from domain.envelope import RecordedEvent
from domain.events import Event
from domain.flags.events import (
    FlagArchived,
    FlagConfigCreated,
    FlagConfigDeleted,
    FlagCreated,
    FlagDeleted,
    FlagDetailsUpdated,
    FlagDisabled,
    FlagEnabled,
    FlagFallthroughChanged,
    FlagHashingChanged,
    FlagOffVariantChanged,
    FlagRestored,
    FlagRulesReplaced,
    FlagVariantAdded,
    FlagVariantRemoved,
    FlagVariantUpdated,
)
from domain.flags.model import FlagConfig, FlagDefinition, Rule, ValueType, Variant

NAME = "flags"
TABLES = ("rm_flag_definitions", "rm_flags")
STREAM_TYPES = ("flag", "flag_config")

Tx = psycopg.AsyncConnection[Any]
_DEFINITION = msgspec.json.Decoder(FlagDefinition)
_VARIANTS = msgspec.json.Decoder(tuple[Variant, ...])
_SEGMENT_OPS = (Op.IN_SEGMENT, Op.NOT_IN_SEGMENT)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else msgspec.json.encode(value)


def condition_segments(condition: Condition) -> set[str]:
    """Segment keys an in_segment / not_in_segment leaf of the condition names."""
    match condition:
        case Leaf(op=op, value=value) if op in _SEGMENT_OPS:
            if isinstance(value, str):
                return {value}
            return {str(v) for v in value} if isinstance(value, tuple) else set()
        case Leaf():
            return set()
        case And(children=children) | Or(children=children):
            return set().union(*(condition_segments(c) for c in children))
        case Not(child=child):
            return condition_segments(child)


def rule_segments(rules: tuple[Rule, ...]) -> list[str]:
    """Sorted segment keys the rules reference."""
    return sorted(set().union(*(condition_segments(r.condition) for r in rules)))


async def apply(tx: Tx, event: Event, recorded: RecordedEvent) -> None:
    """Fold one flag or flag-config event into the rm tables (other streams are ignored)."""
    if recorded.stream_type not in STREAM_TYPES:
        return
    match event:
        case FlagCreated():
            await _definition_created(tx, event, recorded)
        case FlagDetailsUpdated(name=name, description=description):
            await _definition_update(tx, recorded, event, "name = %s, description = %s", [name, description])
        case FlagVariantAdded() | FlagVariantUpdated() | FlagVariantRemoved():
            await _variants_changed(tx, event, recorded)
        case FlagArchived() | FlagRestored():
            await _archived(tx, event, recorded, isinstance(event, FlagArchived))
        case FlagDeleted():
            await _definition_deleted(tx, recorded)
        case FlagConfigCreated():
            await _config_created(tx, event, recorded)
        case FlagConfigDeleted():
            await tx.execute("DELETE FROM rm_flags WHERE config_stream_id = %s", (recorded.stream_id,))
        case _:
            await _config_changed(tx, event, recorded)


async def _definition_created(tx: Tx, e: FlagCreated, r: RecordedEvent) -> None:
    await tx.execute(
        "INSERT INTO rm_flag_definitions (project_id, flag_key, stream_id, org_id, value_type, variants,"
        " name, description, archived, version, position, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, false, %s, %s, %s, %s)"
        " ON CONFLICT (project_id, flag_key) DO UPDATE SET stream_id = EXCLUDED.stream_id,"
        " value_type = EXCLUDED.value_type, variants = EXCLUDED.variants, name = EXCLUDED.name,"
        " description = EXCLUDED.description, archived = false, version = EXCLUDED.version,"
        " position = EXCLUDED.position, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
        (e.project_id, e.key, r.stream_id, r.metadata.org_id, e.value_type.value, _json(e.variants), e.name,
         e.description, e.version, r.position, e.occurred_at, e.occurred_at),
    )  # fmt: skip


async def _definition_update(tx: Tx, r: RecordedEvent, e: Event, assignments: str, params: list[Any]) -> None:
    await tx.execute(
        f"UPDATE rm_flag_definitions SET {assignments}, version = %s, position = %s, updated_at = %s"
        " WHERE stream_id = %s",
        (*params, e.version, r.position, e.occurred_at, r.stream_id),
    )


def _with_variant_change(variants: tuple[Variant, ...], event: Event) -> tuple[Variant, ...]:
    match event:
        case FlagVariantAdded(variant=v):
            return (*variants, v)
        case FlagVariantUpdated(variant=v):
            return tuple(v if x.key == v.key else x for x in variants)
        case FlagVariantRemoved(variant_key=key):
            return tuple(x for x in variants if x.key != key)
    return variants


async def _definition_row(tx: Tx, stream_id: UUID) -> tuple[UUID, str, tuple[Variant, ...]] | None:
    cur = await tx.execute(
        "SELECT project_id, flag_key, variants::text FROM rm_flag_definitions WHERE stream_id = %s",
        (stream_id,),
    )
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1], _VARIANTS.decode(_bytes(row[2])))


async def _variants_changed(tx: Tx, e: Event, r: RecordedEvent) -> None:
    found = await _definition_row(tx, r.stream_id)
    if found is None:
        return
    project_id, key, variants = found
    new = _with_variant_change(variants, e)
    await _definition_update(tx, r, e, "variants = %s::jsonb", [_json(new)])
    await _rewrite_environments(
        tx, project_id, key, r, e.version, lambda d: msgspec.structs.replace(d, variants=new)
    )


async def _archived(tx: Tx, e: Event, r: RecordedEvent, archived: bool) -> None:
    found = await _definition_row(tx, r.stream_id)
    await _definition_update(tx, r, e, "archived = %s", [archived])
    if found is not None:
        project_id, key, _ = found
        await tx.execute(
            "UPDATE rm_flags SET archived = %s WHERE project_id = %s AND flag_key = %s",
            (archived, project_id, key),
        )
        await _rewrite_environments(
            tx, project_id, key, r, e.version, lambda d: msgspec.structs.replace(d, archived=archived)
        )


async def _rewrite_environments(
    tx: Tx, project_id: UUID, key: str, r: RecordedEvent, version: int, change: Any
) -> None:
    """Apply a definition-level change to the embedded FlagDefinition of every configured environment."""
    cur = await tx.execute(
        "SELECT environment_id, definition::text FROM rm_flags WHERE project_id = %s AND flag_key = %s",
        (project_id, key),
    )
    for environment_id, raw in await cur.fetchall():
        definition = change(_DEFINITION.decode(_bytes(raw)))
        await tx.execute(
            "UPDATE rm_flags SET definition = %s::jsonb, definition_version = %s, position = %s,"
            " updated_at = %s WHERE environment_id = %s AND flag_key = %s",
            (_json(definition), version, r.position, r.recorded_at, environment_id, key),
        )


async def _definition_deleted(tx: Tx, r: RecordedEvent) -> None:
    found = await _definition_row(tx, r.stream_id)
    await tx.execute("DELETE FROM rm_flag_definitions WHERE stream_id = %s", (r.stream_id,))
    if found is not None:
        await tx.execute("DELETE FROM rm_flags WHERE project_id = %s AND flag_key = %s", (found[0], found[1]))


async def _config_created(tx: Tx, e: FlagConfigCreated, r: RecordedEvent) -> None:
    cur = await tx.execute(
        "SELECT value_type, variants::text, archived, version FROM rm_flag_definitions"
        " WHERE project_id = %s AND flag_key = %s",
        (e.project_id, e.key),
    )
    row = await cur.fetchone()
    value_type, variants, archived, definition_version = (
        (ValueType(row[0]), _VARIANTS.decode(_bytes(row[1])), bool(row[2]), int(row[3]))
        if row is not None
        else (ValueType.BOOL, (), False, 0)
    )
    definition = FlagDefinition(
        key=e.key, project_id=e.project_id, environment_id=e.environment_id, value_type=value_type,
        variants=variants, config=e.config, version=e.version, archived=archived,
    )  # fmt: skip
    await tx.execute(
        "INSERT INTO rm_flags (environment_id, flag_key, project_id, org_id, config_stream_id, definition,"
        " enabled, archived, segment_keys, version, definition_version, position, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (environment_id, flag_key) DO UPDATE SET definition = EXCLUDED.definition,"
        " config_stream_id = EXCLUDED.config_stream_id, enabled = EXCLUDED.enabled,"
        " archived = EXCLUDED.archived, segment_keys = EXCLUDED.segment_keys, version = EXCLUDED.version,"
        " definition_version = EXCLUDED.definition_version, position = EXCLUDED.position,"
        " created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
        (e.environment_id, e.key, e.project_id, r.metadata.org_id, r.stream_id, _json(definition),
         e.config.enabled, archived, rule_segments(e.config.rules), e.version, definition_version, r.position,
         e.occurred_at, e.occurred_at),
    )  # fmt: skip


def evolve_config(config: FlagConfig, event: Event) -> FlagConfig:
    """A config after one change event (creation and deletion are handled by the caller)."""
    replace = msgspec.structs.replace
    match event:
        case FlagEnabled():
            return replace(config, enabled=True)
        case FlagDisabled():
            return replace(config, enabled=False)
        case FlagOffVariantChanged(off_variant=off):
            return replace(config, off_variant=off)
        case FlagRulesReplaced(rules=rules):
            return replace(config, rules=rules)
        case FlagFallthroughChanged(fallthrough=serve):
            return replace(config, fallthrough=serve)
        case FlagHashingChanged(hashing=hashing):
            return replace(config, hashing=hashing)
    return config


async def _config_changed(tx: Tx, e: Event, r: RecordedEvent) -> None:
    cur = await tx.execute(
        "SELECT definition::text FROM rm_flags WHERE config_stream_id = %s", (r.stream_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return  # not a flag-config event, or its config was deleted
    old = _DEFINITION.decode(_bytes(row[0]))
    config = evolve_config(old.config, e)
    definition = msgspec.structs.replace(old, config=config, version=e.version)
    await tx.execute(
        "UPDATE rm_flags SET definition = %s::jsonb, enabled = %s, segment_keys = %s, version = %s,"
        " position = %s, updated_at = %s WHERE config_stream_id = %s",
        (_json(definition), config.enabled, rule_segments(config.rules), e.version, r.position, e.occurred_at,
         r.stream_id),
    )  # fmt: skip
