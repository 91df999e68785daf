"""Evaluation contexts: who or what a flag is evaluated for."""

from __future__ import annotations

import msgspec

# Parameter values are typed on the wire (seed ParameterValue); semver and dates travel as strings and
# are interpreted by the operator that compares them.
ParamValue = bool | int | float | str


class Context(msgspec.Struct, frozen=True, kw_only=True):
    """One context: a typed key plus parameters; private parameter names never reach logs or events."""

    context_type: str
    key: str
    parameters: dict[str, ParamValue] = msgspec.field(default_factory=dict)
    private_parameters: frozenset[str] = frozenset()


class ContextSet(msgspec.Struct, frozen=True):
    """The contexts of one evaluation, at most one per context type."""

    contexts: tuple[Context, ...] = ()

    def get(self, context_type: str) -> Context | None:
        """The context of that type, if present."""
        for ctx in self.contexts:
            if ctx.context_type == context_type:
                return ctx
        return None

    @staticmethod
    def single(context_type: str, key: str, **parameters: ParamValue) -> ContextSet:
        """A set of one context; a convenience for callers and tests."""
        return ContextSet((Context(context_type=context_type, key=key, parameters=parameters),))
