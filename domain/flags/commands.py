"""Flag intents. Definition commands name `(project_id, key)`; config commands `(environment_id, key)`.

`expected_version` is the seed's optimistic-locking version: when set, it must equal the stream version.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from domain.events import Command
from domain.flags.model import FlagConfig, HashSpec, Rule, Serve, ValueType, Variant


class CreateFlag(Command, frozen=True, kw_only=True, tag="flag.create"):
    project_id: UUID
    key: str
    value_type: ValueType
    variants: tuple[Variant, ...]
    name: str = ""
    description: str = ""


class UpdateFlagDetails(Command, frozen=True, kw_only=True, tag="flag.update_details"):
    project_id: UUID
    key: str
    name: str
    description: str
    expected_version: int | None = None


class AddVariant(Command, frozen=True, kw_only=True, tag="flag.add_variant"):
    project_id: UUID
    key: str
    variant: Variant
    expected_version: int | None = None


class UpdateVariant(Command, frozen=True, kw_only=True, tag="flag.update_variant"):
    project_id: UUID
    key: str
    variant: Variant
    expected_version: int | None = None


class RemoveVariant(Command, frozen=True, kw_only=True, tag="flag.remove_variant"):
    project_id: UUID
    key: str
    variant_key: str
    expected_version: int | None = None


class ArchiveFlag(Command, frozen=True, kw_only=True, tag="flag.archive"):
    project_id: UUID
    key: str
    expected_version: int | None = None


class RestoreFlag(Command, frozen=True, kw_only=True, tag="flag.restore"):
    project_id: UUID
    key: str
    expected_version: int | None = None


class DeleteFlag(Command, frozen=True, kw_only=True, tag="flag.delete"):
    project_id: UUID
    key: str
    expected_version: int | None = None


class ConfigureFlag(Command, frozen=True, kw_only=True, tag="flag_config.configure"):
    """Replace the whole environment configuration; the decider records only what changed."""

    project_id: UUID
    environment_id: UUID
    key: str
    config: FlagConfig
    expected_version: int | None = None


class SetFlagEnabled(Command, frozen=True, kw_only=True, tag="flag_config.set_enabled"):
    project_id: UUID
    environment_id: UUID
    key: str
    enabled: bool
    expected_version: int | None = None


class SetOffVariant(Command, frozen=True, kw_only=True, tag="flag_config.set_off_variant"):
    project_id: UUID
    environment_id: UUID
    key: str
    off_variant: str
    expected_version: int | None = None


class ReplaceFlagRules(Command, frozen=True, kw_only=True, tag="flag_config.replace_rules"):
    project_id: UUID
    environment_id: UUID
    key: str
    rules: tuple[Rule, ...]
    expected_version: int | None = None


class SetFallthrough(Command, frozen=True, kw_only=True, tag="flag_config.set_fallthrough"):
    project_id: UUID
    environment_id: UUID
    key: str
    fallthrough: Serve
    expected_version: int | None = None


class SetFlagHashing(Command, frozen=True, kw_only=True, tag="flag_config.set_hashing"):
    project_id: UUID
    environment_id: UUID
    key: str
    hashing: HashSpec = msgspec.field(default_factory=dict)
    expected_version: int | None = None


class DeleteFlagConfig(Command, frozen=True, kw_only=True, tag="flag_config.delete"):
    project_id: UUID
    environment_id: UUID
    key: str
    expected_version: int | None = None


FlagCommand = (
    CreateFlag
    | UpdateFlagDetails
    | AddVariant
    | UpdateVariant
    | RemoveVariant
    | ArchiveFlag
    | RestoreFlag
    | DeleteFlag
)
FlagConfigCommand = (
    ConfigureFlag
    | SetFlagEnabled
    | SetOffVariant
    | ReplaceFlagRules
    | SetFallthrough
    | SetFlagHashing
    | DeleteFlagConfig
)
