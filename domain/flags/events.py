"""Flag facts: the project-level definition ("flag.*") and per-environment configuration ("flag_config.*")."""

from __future__ import annotations

from uuid import UUID

import msgspec

from domain.events import Event
from domain.flags.model import FlagConfig, HashSpec, Rule, Serve, ValueType, Variant


class FlagCreated(Event, frozen=True, kw_only=True, tag="flag.created"):
    """A flag in a project; stream `stream_id("flag", project_id, key)`. The first variant is the default."""

    project_id: UUID
    key: str
    value_type: ValueType
    variants: tuple[Variant, ...]
    name: str = ""
    description: str = ""


class FlagDetailsUpdated(Event, frozen=True, kw_only=True, tag="flag.details_updated"):
    name: str
    description: str


class FlagVariantAdded(Event, frozen=True, kw_only=True, tag="flag.variant_added"):
    variant: Variant


class FlagVariantUpdated(Event, frozen=True, kw_only=True, tag="flag.variant_updated"):
    """The variant with `variant.key` now has this value, name and description."""

    variant: Variant


class FlagVariantRemoved(Event, frozen=True, kw_only=True, tag="flag.variant_removed"):
    variant_key: str


class FlagArchived(Event, frozen=True, kw_only=True, tag="flag.archived"):
    pass


class FlagRestored(Event, frozen=True, kw_only=True, tag="flag.restored"):
    pass


class FlagDeleted(Event, frozen=True, kw_only=True, tag="flag.deleted"):
    """The key is free again; a later FlagCreated on the same stream starts a new flag."""


class FlagConfigCreated(Event, frozen=True, kw_only=True, tag="flag_config.created"):
    """A flag's configuration in one environment; stream `stream_id("flag_config", environment_id, key)`."""

    project_id: UUID
    environment_id: UUID
    key: str
    config: FlagConfig


class FlagEnabled(Event, frozen=True, kw_only=True, tag="flag_config.enabled"):
    pass


class FlagDisabled(Event, frozen=True, kw_only=True, tag="flag_config.disabled"):
    pass


class FlagOffVariantChanged(Event, frozen=True, kw_only=True, tag="flag_config.off_variant_changed"):
    off_variant: str


class FlagRulesReplaced(Event, frozen=True, kw_only=True, tag="flag_config.rules_replaced"):
    rules: tuple[Rule, ...]


class FlagFallthroughChanged(Event, frozen=True, kw_only=True, tag="flag_config.fallthrough_changed"):
    fallthrough: Serve


class FlagHashingChanged(Event, frozen=True, kw_only=True, tag="flag_config.hashing_changed"):
    hashing: HashSpec = msgspec.field(default_factory=dict)


class FlagConfigDeleted(Event, frozen=True, kw_only=True, tag="flag_config.deleted"):
    """The environment falls back to no configuration; a later command creates a fresh one."""


FlagEvent = (
    FlagCreated
    | FlagDetailsUpdated
    | FlagVariantAdded
    | FlagVariantUpdated
    | FlagVariantRemoved
    | FlagArchived
    | FlagRestored
    | FlagDeleted
)
FlagConfigEvent = (
    FlagConfigCreated
    | FlagEnabled
    | FlagDisabled
    | FlagOffVariantChanged
    | FlagRulesReplaced
    | FlagFallthroughChanged
    | FlagHashingChanged
    | FlagConfigDeleted
)
