"""Translation between the flag HTTP bodies (schemas.http_flags) and the domain's flag model."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from uuid import UUID

from commands.flags import PatchFlagDetails
from commands.streams import Scope
from domain.events import Command
from domain.flags.commands import SetFallthrough, SetFlagEnabled, SetOffVariant
from domain.flags.flag import Flag
from domain.flags.model import (
    Allocation,
    Bucket,
    FlagConfig,
    FlagDefinition,
    HashSpec,
    Rule,
    Serve,
    ValueType,
    Variant,
)
from gateway.errors import InvalidArgument
from schemas.http_flags import (
    AllocationBody,
    AllocationView,
    BucketView,
    ContextHashSpecView,
    CreateFlagBody,
    FlagView,
    HashingConfigBody,
    HashingConfigView,
    RuleBody,
    RuleView,
    ServeBody,
    ServeView,
    UpdateFlagBody,
    VariantBody,
    VariantView,
)

CONTEXT_KEY = "key"  # a hashing config naming the context key itself rather than a parameter


def variant(body: VariantBody) -> Variant:
    return Variant(key=body.key, value=body.value, name=body.name, description=body.description)


def allocation(body: AllocationBody) -> Allocation:
    return Allocation(
        buckets=tuple(Bucket(b.variant_key, b.weight_milli) for b in body.buckets),
        hash_spec={ct: tuple(spec.parameter_names) for ct, spec in body.context_hash_specs.items()},
    )


def serve(body: ServeBody) -> Serve:
    alloc = allocation(body.allocation) if body.allocation is not None else None
    return Serve(variant_key=body.variant_key, allocation=alloc)


def rules(bodies: list[RuleBody]) -> tuple[Rule, ...]:
    """Domain rules in order; a blank id becomes `rule-<n>` (1-based position) so repeats are stable."""
    return tuple(
        Rule(id=b.id or f"rule-{i}", condition=b.condition, serve=serve(b.serve), description=b.description)
        for i, b in enumerate(bodies, start=1)
    )


def hash_spec(configs: list[HashingConfigBody]) -> HashSpec:
    """The seed's hashing configs as a HashSpec: parameters per context type in `order`."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for c in configs:
        grouped[c.parameter_type].append((c.order, c.parameter_key))
    return {
        ct: tuple(name for _, name in sorted(items) if name not in ("", CONTEXT_KEY))
        for ct, items in grouped.items()
    }


def hashing_view(spec: HashSpec) -> list[HashingConfigView]:
    """A HashSpec as the seed's list of FlagHashingConfig."""
    out: list[HashingConfigView] = []
    for ct in sorted(spec):
        names = spec[ct] or (CONTEXT_KEY,)
        out.extend(
            HashingConfigView(parameter_key=n, parameter_type=ct, order=i) for i, n in enumerate(names)
        )
    return out


def serve_view(s: Serve) -> ServeView:
    if s.allocation is None:
        return ServeView(variant_key=s.variant_key)
    a = s.allocation
    return ServeView(
        allocation=AllocationView(
            buckets=[BucketView(variant_key=b.variant_key, weight_milli=b.weight_milli) for b in a.buckets],
            context_hash_specs={
                ct: ContextHashSpecView(parameter_names=list(p)) for ct, p in a.hash_spec.items()
            },
        )
    )


def flag_view(
    d: FlagDefinition,
    flag: Flag,
    *,
    position: int,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> FlagView:
    """A flag as one environment sees it: `d` its evaluation definition there, `flag` the project-level
    state (the aggregate's fold, so a new project-level field needs no change outside this view)."""
    c: FlagConfig = d.config
    return FlagView(
        key=d.key,
        project_id=d.project_id,
        environment_id=d.environment_id,
        name=flag.name,
        description=flag.description,
        value_type=d.value_type.value,
        variants=[
            VariantView(key=v.key, value=v.value, name=v.name, description=v.description) for v in d.variants
        ],
        enabled=c.enabled,
        off_variant=c.off_variant,
        fallthrough=serve_view(c.fallthrough),
        rules=[
            RuleView(id=r.id, condition=r.condition, serve=serve_view(r.serve), description=r.description)
            for r in c.rules
        ],
        hashing=hashing_view(c.hashing),
        archived=d.archived,
        version=d.version,
        definition_version=flag.version,
        position=position,
        created_at=created_at,
        updated_at=updated_at,
    )


def value_type(raw: str) -> ValueType:
    try:
        return ValueType(raw.lower().removeprefix("flag_value_type_"))
    except ValueError:
        raise InvalidArgument(f"unknown value_type {raw!r}: use bool, int, double, string or json") from None


def initial_config(data: CreateFlagBody) -> FlagConfig:
    """A new flag's config here: the body's values over the default (disabled, first variant)."""
    first = data.variants[0].key if data.variants else ""
    return FlagConfig(
        enabled=data.enabled,
        off_variant=data.off_variant or first,
        fallthrough=serve(data.fallthrough) if data.fallthrough else Serve(variant_key=first),
        rules=rules(data.rules),
    )


def update_commands(data: UpdateFlagBody, scope: Scope, key: str, command_id: UUID) -> list[Command]:
    """The commands a flag PUT amounts to, config first, then the project-level details."""
    cid, project, env = command_id, scope.project_id, scope.environment_id
    cmds: list[Command] = []
    if data.enabled is not None:
        cmds.append(SetFlagEnabled(command_id=cid, project_id=project, environment_id=env, key=key,
                                   enabled=data.enabled))  # fmt: skip
    if data.off_variant:
        cmds.append(SetOffVariant(command_id=cid, project_id=project, environment_id=env, key=key,
                                  off_variant=data.off_variant))  # fmt: skip
    if data.fallthrough:
        cmds.append(SetFallthrough(command_id=cid, project_id=project, environment_id=env, key=key,
                                   fallthrough=serve(data.fallthrough)))  # fmt: skip
    if data.name is not None or data.description is not None:
        cmds.append(PatchFlagDetails(command_id=cid, project_id=project, key=key, name=data.name,
                                     description=data.description))  # fmt: skip
    return cmds
