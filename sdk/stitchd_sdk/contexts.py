"""What callers may pass as contexts, and the one context an exposure names."""

from __future__ import annotations

from collections.abc import Mapping

from domain.context import Context, ContextSet, ParamValue

ContextTuple = tuple[str, str] | tuple[str, str, Mapping[str, ParamValue]]
ContextsLike = ContextSet | Context | ContextTuple


def to_context_set(contexts: ContextsLike) -> ContextSet:
    """A ContextSet from a set, one Context, or `(context_type, key[, attributes])`; TypeError otherwise."""
    if isinstance(contexts, ContextSet):
        return contexts
    if isinstance(contexts, Context):
        return ContextSet((contexts,))
    return ContextSet((to_context(contexts),))


def to_context(context: Context | ContextTuple) -> Context:
    """One Context from a Context or `(context_type, key[, attributes])`."""
    if isinstance(context, Context):
        return context
    if isinstance(context, tuple) and len(context) in (2, 3):
        context_type, key = context[0], context[1]
        attributes = dict(context[2]) if len(context) == 3 else {}
        if isinstance(context_type, str) and isinstance(key, str):
            return Context(context_type=context_type, key=key, parameters=attributes)
    raise TypeError(f"not a context: {context!r}")


def exposure_context(contexts: ContextSet) -> Context | None:
    """The context an exposure names: the first of the set, as the gateway's /evaluate does."""
    return contexts.contexts[0] if contexts.contexts else None
