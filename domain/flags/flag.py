"""The project-level flag definition aggregate (key, value type, variants, archived, deleted).

Archived flags keep serving but refuse definition changes until restored. Deleting frees the key: a
later CreateFlag on the same stream starts a new flag at the next version.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from domain.errors import (
    FlagAlreadyExists,
    FlagIsArchived,
    FlagNotArchived,
    FlagNotFound,
    TooFewVariants,
    UnknownVariant,
    VariantAlreadyExists,
    VariantInUse,
    check_version,
)
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    CreateFlag,
    DeleteFlag,
    RemoveVariant,
    RestoreFlag,
    UpdateFlagDetails,
    UpdateVariant,
)
from domain.flags.events import (
    FlagArchived,
    FlagCreated,
    FlagDeleted,
    FlagDetailsUpdated,
    FlagEvent,
    FlagRestored,
    FlagVariantAdded,
    FlagVariantRemoved,
    FlagVariantUpdated,
)
from domain.flags.model import ValueType, Variant
from domain.flags.validation import check_variant, check_variants
from domain.ids import check_key, stream_id

FlagRef = (
    UpdateFlagDetails | AddVariant | UpdateVariant | RemoveVariant | ArchiveFlag | RestoreFlag | DeleteFlag
)
_E = TypeVar("_E", bound=FlagEvent)


class Flag(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    project_id: UUID
    key: str
    value_type: ValueType
    variants: tuple[Variant, ...]
    name: str = ""
    description: str = ""
    archived: bool = False
    deleted: bool = False

    @property
    def variant_keys(self) -> frozenset[str]:
        """Keys of the current variants."""
        return frozenset(v.key for v in self.variants)


def flag_stream(project_id: UUID, key: str) -> UUID:
    """The definition stream of a flag key in a project."""
    return stream_id("flag", project_id, key)


def live_flag(flag: Flag | None, key: str) -> Flag:
    """The flag, or FlagNotFound when it never existed or was deleted."""
    if flag is None or flag.deleted:
        raise FlagNotFound(f"flag {key!r} not found")
    return flag


def _editable(flag: Flag | None, cmd: FlagRef, *, archived_ok: bool = False) -> Flag:
    current = live_flag(flag, cmd.key)
    check_version(current.version, cmd.expected_version)
    if current.archived and not archived_ok:
        raise FlagIsArchived(f"flag {cmd.key!r} is archived")
    return current


def create_flag(flag: Flag | None, cmd: CreateFlag, now: datetime) -> list[FlagEvent]:
    """A new flag; refused when the key is taken (a deleted flag's key is free)."""
    if flag is not None and not flag.deleted:
        raise FlagAlreadyExists(f"flag {cmd.key!r} already exists")
    check_key(cmd.key, what="flag key")
    check_variants(cmd.value_type, cmd.variants)
    return [
        FlagCreated(
            stream_id=flag_stream(cmd.project_id, cmd.key),
            version=1 if flag is None else flag.version + 1,
            occurred_at=now,
            project_id=cmd.project_id,
            key=cmd.key,
            value_type=cmd.value_type,
            variants=cmd.variants,
            name=cmd.name.strip(),
            description=cmd.description,
        )
    ]


def update_flag_details(flag: Flag | None, cmd: UpdateFlagDetails, now: datetime) -> list[FlagEvent]:
    """Change name and description; unchanged values are a no-op."""
    current = _editable(flag, cmd)
    name = cmd.name.strip()
    if (name, cmd.description) == (current.name, current.description):
        return []
    return [_next(current, now, FlagDetailsUpdated, name=name, description=cmd.description)]


def add_variant(flag: Flag | None, cmd: AddVariant, now: datetime) -> list[FlagEvent]:
    """Add a variant with a fresh key; the same variant again is a no-op."""
    current = _editable(flag, cmd)
    if cmd.variant in current.variants:
        return []
    if cmd.variant.key in current.variant_keys:
        raise VariantAlreadyExists(f"variant {cmd.variant.key!r} already exists")
    check_variant(current.value_type, cmd.variant)
    return [_next(current, now, FlagVariantAdded, variant=cmd.variant)]


def update_variant(flag: Flag | None, cmd: UpdateVariant, now: datetime) -> list[FlagEvent]:
    """Replace an existing variant's value, name and description."""
    current = _editable(flag, cmd)
    if cmd.variant.key not in current.variant_keys:
        raise UnknownVariant(f"unknown variant {cmd.variant.key!r}")
    if cmd.variant in current.variants:
        return []
    check_variant(current.value_type, cmd.variant)
    return [_next(current, now, FlagVariantUpdated, variant=cmd.variant)]


def remove_variant(
    flag: Flag | None, cmd: RemoveVariant, now: datetime, *, in_use: frozenset[str] = frozenset()
) -> list[FlagEvent]:
    """Remove a variant no environment refers to (`in_use`, from the handler) and not the last one."""
    current = _editable(flag, cmd)
    if cmd.variant_key not in current.variant_keys:
        return []
    if cmd.variant_key in in_use:
        raise VariantInUse(f"variant {cmd.variant_key!r} is still used by an environment")
    if len(current.variants) == 1:
        raise TooFewVariants("a flag needs at least one variant")
    return [_next(current, now, FlagVariantRemoved, variant_key=cmd.variant_key)]


def archive_flag(flag: Flag | None, cmd: ArchiveFlag, now: datetime) -> list[FlagEvent]:
    """Archive; archiving an archived flag is a no-op."""
    current = _editable(flag, cmd, archived_ok=True)
    return [] if current.archived else [_next(current, now, FlagArchived)]


def restore_flag(flag: Flag | None, cmd: RestoreFlag, now: datetime) -> list[FlagEvent]:
    """Undo an archive; refused for a flag that is not archived."""
    current = _editable(flag, cmd, archived_ok=True)
    if not current.archived:
        raise FlagNotArchived(f"flag {cmd.key!r} is not archived")
    return [_next(current, now, FlagRestored)]


def delete_flag(flag: Flag | None, cmd: DeleteFlag, now: datetime) -> list[FlagEvent]:
    """Delete (archived or not); the handler deletes the environment configurations too."""
    current = _editable(flag, cmd, archived_ok=True)
    return [_next(current, now, FlagDeleted)]


def _next(flag: Flag, now: datetime, kind: type[_E], **fields: Any) -> _E:
    return kind(stream_id=flag.id, version=flag.version + 1, occurred_at=now, **fields)


def _replace_variant(variants: tuple[Variant, ...], new: Variant) -> tuple[Variant, ...]:
    return tuple(new if v.key == new.key else v for v in variants)


def evolve(state: Flag | None, event: FlagEvent) -> Flag:
    """Fold one fact; never refuses."""
    match event:
        case FlagCreated(stream_id=id_, version=v, project_id=p, key=k, value_type=t, variants=vs):
            return Flag(
                id=id_,
                version=v,
                project_id=p,
                key=k,
                value_type=t,
                variants=vs,
                name=event.name,
                description=event.description,
            )
        case FlagDetailsUpdated(version=v, name=name, description=description):
            assert state is not None
            return msgspec.structs.replace(state, version=v, name=name, description=description)
        case FlagVariantAdded(version=v, variant=variant):
            assert state is not None
            return msgspec.structs.replace(state, version=v, variants=(*state.variants, variant))
        case FlagVariantUpdated(version=v, variant=variant):
            assert state is not None
            return msgspec.structs.replace(
                state, version=v, variants=_replace_variant(state.variants, variant)
            )
        case FlagVariantRemoved(version=v, variant_key=key):
            assert state is not None
            variants = tuple(x for x in state.variants if x.key != key)
            return msgspec.structs.replace(state, version=v, variants=variants)
        case FlagArchived(version=v) | FlagRestored(version=v):
            assert state is not None
            return msgspec.structs.replace(state, version=v, archived=isinstance(event, FlagArchived))
        case FlagDeleted(version=v):
            assert state is not None
            return msgspec.structs.replace(state, version=v, deleted=True)


def replay(events: Iterable[FlagEvent]) -> Flag | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
