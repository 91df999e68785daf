"""Convert evaluation contexts between the domain (`domain.context`) and `stitchd.common.v1.Context`."""

from __future__ import annotations

from collections.abc import Iterable

import betterproto

from domain.context import Context, ContextSet, ParamValue
from schemas.generated.stitchd.common import v1 as common_pb
from schemas.wire import INT64, WireFormatError


def _param_to_proto(name: str, value: ParamValue) -> common_pb.ParameterValue:
    match value:
        case bool():
            return common_pb.ParameterValue(bool_value=value)
        case int() if value in INT64:
            return common_pb.ParameterValue(int_value=value)
        case float():
            return common_pb.ParameterValue(double_value=value)
        case str():
            return common_pb.ParameterValue(string_value=value)
    raise WireFormatError(f"parameter {name!r} has no wire form: {type(value).__name__} out of range")


def context_to_proto(ctx: Context) -> common_pb.Context:
    """The wire form; private parameter names travel sorted so equal contexts encode equally."""
    return common_pb.Context(
        context_type=ctx.context_type,
        key=ctx.key,
        parameters={name: _param_to_proto(name, value) for name, value in ctx.parameters.items()},
        private_parameters=sorted(ctx.private_parameters),
    )


def context_from_proto(msg: common_pb.Context) -> Context:
    """The domain form; a semver travels as a string, an unset parameter value means a missing one."""
    parameters: dict[str, ParamValue] = {}
    for name, param in msg.parameters.items():
        kind, value = betterproto.which_one_of(param, "kind")
        if kind and isinstance(value, bool | int | float | str):
            parameters[name] = value
    return Context(
        context_type=msg.context_type,
        key=msg.key,
        parameters=parameters,
        private_parameters=frozenset(msg.private_parameters),
    )


def context_set_to_proto(contexts: ContextSet) -> list[common_pb.Context]:
    """Every context of the set, in order (for `SyncRequest.contexts` and evaluate calls)."""
    return [context_to_proto(ctx) for ctx in contexts.contexts]


def context_set_from_proto(msgs: Iterable[common_pb.Context]) -> ContextSet:
    """A context set from wire contexts, in order."""
    return ContextSet(tuple(context_from_proto(msg) for msg in msgs))
