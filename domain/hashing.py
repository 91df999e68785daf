"""Deterministic allocation: which slot of HASH_SPACE a context set falls in, and which bucket owns it.

Canonical string (frozen by golden vectors in tests/unit/domain/test_hashing.py):

    "{project_id}:{environment_id}:{flag_key}:" + "|".join("{context_type}={part}")

over the hash spec's context types in sorted order, where `part` is the context key when the spec
lists no parameters, else the listed parameters' values joined by ",". Text is escaped with a
backslash before `\\ : | = ,`; bools are "true"/"false", integral floats print as ints. The slot is
mmh3 x86 32-bit (seed 0, unsigned) of the UTF-8 bytes, mod HASH_SPACE. Buckets are laid out
cumulatively in declared order, `weight_milli * 100` slots each, so growing one bucket at the expense
of a later one only moves contexts into the grown bucket.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from uuid import UUID

import mmh3

from domain.context import ContextSet
from domain.flags.model import HASH_SPACE, TOTAL_WEIGHT_MILLI, Allocation, Bucket, HashSpec

SLOTS_PER_MILLI = HASH_SPACE // TOTAL_WEIGHT_MILLI
SpecItems = tuple[tuple[str, tuple[str, ...]], ...]
_ESCAPES = str.maketrans({c: "\\" + c for c in "\\:|=,"})
_NEEDS_ESCAPE = re.compile(r"[\\:|=,]").search


def bucket_of(
    flag_key: str, project_id: UUID, environment_id: UUID, contexts: ContextSet, hash_spec: HashSpec
) -> int | None:
    """The slot in [0, HASH_SPACE); None when a context or parameter the spec needs is missing."""
    canonical = canonical_string(flag_key, project_id, environment_id, contexts, hash_spec)
    return None if canonical is None else slot_of(canonical)


def canonical_string(
    flag_key: str, project_id: UUID, environment_id: UUID, contexts: ContextSet, hash_spec: HashSpec
) -> str | None:
    """The string hashed for allocation (format in the module docstring); None when something is missing."""
    part = context_part(contexts, spec_items(hash_spec))
    return None if part is None else hash_prefix(flag_key, project_id, environment_id) + part


def hash_prefix(flag_key: str, project_id: UUID, environment_id: UUID) -> str:
    """The flag-identifying head of the canonical string."""
    return f"{project_id}:{environment_id}:{escape(flag_key)}:"


def spec_items(hash_spec: HashSpec) -> SpecItems:
    """The spec in canonical (sorted by context type) order."""
    return tuple(sorted((ctype, tuple(params)) for ctype, params in hash_spec.items()))


def context_part(contexts: ContextSet, items: SpecItems) -> str | None:
    """The context-identifying tail of the canonical string, or None when something is missing."""
    if len(items) == 1 and not items[0][1]:  # the common case: one context's key
        ctx = contexts.get(items[0][0])
        return None if ctx is None else f"{escape(items[0][0])}={escape(ctx.key)}"
    parts: list[str] = []
    for context_type, params in items:
        ctx = contexts.get(context_type)
        if ctx is None:
            return None
        if not params:
            value = escape(ctx.key)
        else:
            values = [ctx.parameters.get(name) for name in params]
            if any(v is None for v in values):
                return None
            value = ",".join(escape(_text(v)) for v in values)
        parts.append(f"{escape(context_type)}={value}")
    return "|".join(parts)


def escape(text: str) -> str:
    """Backslash before each separator of the canonical string."""
    return text.translate(_ESCAPES) if _NEEDS_ESCAPE(text) else text


def slot_of(canonical: str) -> int:
    """mmh3 32-bit unsigned (seed 0) of the UTF-8 bytes, mod HASH_SPACE; never raises."""
    # Encode here: mmh3 5.x crashes the interpreter on a str holding a lone surrogate.
    data = canonical.encode("utf-8", "surrogatepass")
    return int(mmh3.hash(data, 0, False)) % HASH_SPACE


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bucket_edges(buckets: Sequence[Bucket]) -> tuple[int, ...]:
    """Exclusive upper slot of each bucket, cumulative in declared order (negative weights count as 0)."""
    edges: list[int] = []
    edge = 0
    for bucket in buckets:
        edge += max(bucket.weight_milli, 0) * SLOTS_PER_MILLI
        edges.append(edge)
    return tuple(edges)


def pick_bucket(buckets: Sequence[Bucket], slot: int) -> Bucket | None:
    """The bucket owning `slot`; None only when the weights sum to less than 100 %."""
    for bucket, edge in zip(buckets, bucket_edges(buckets), strict=True):
        if slot < edge:
            return bucket
    return None


def validate_allocation(allocation: Allocation, variant_keys: Collection[str]) -> list[str]:
    """Problems that make an allocation unusable (empty list when it is valid)."""
    problems: list[str] = []
    if not allocation.buckets:
        problems.append("an allocation needs at least one bucket")
    seen: set[str] = set()
    for i, bucket in enumerate(allocation.buckets):
        if bucket.variant_key not in variant_keys:
            problems.append(f"bucket {i}: unknown variant {bucket.variant_key!r}")
        if bucket.variant_key in seen:
            problems.append(f"bucket {i}: variant {bucket.variant_key!r} appears twice")
        seen.add(bucket.variant_key)
        if not 0 <= bucket.weight_milli <= TOTAL_WEIGHT_MILLI:
            problems.append(f"bucket {i}: weight_milli must be within 0..{TOTAL_WEIGHT_MILLI}")
    total = sum(bucket.weight_milli for bucket in allocation.buckets)
    if allocation.buckets and total != TOTAL_WEIGHT_MILLI:
        problems.append(f"weights sum to {total} but must sum to {TOTAL_WEIGHT_MILLI} (100 %)")
    for context_type, params in allocation.hash_spec.items():
        if not context_type or any(not name for name in params):
            problems.append("hash_spec names need to be non-empty")
    return problems
