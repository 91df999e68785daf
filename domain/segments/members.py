"""List-segment membership batches: validation and splitting into bounded events."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from domain.errors import InvalidArgument, KeyBothIncludedAndExcluded

# Keys and bytes per membership event: keeps single events small however large the list grows. The
# byte bound is what matters for the bus (an event must fit a NATS message, commands.eventstore caps it);
# the count bound keeps folds and read-model writes per event cheap.
MEMBER_BATCH_SIZE = 5_000
MEMBER_BATCH_BYTES = 256 * 1024  # the keys' JSON text, with the ", " the store's jsonb puts between them
MAX_CONTEXT_KEY_LENGTH = 512


def clean_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Distinct keys in first-seen order; refuses blank or over-long keys."""
    for key in keys:
        if not key or len(key) > MAX_CONTEXT_KEY_LENGTH:
            raise InvalidArgument(f"context keys must be 1-{MAX_CONTEXT_KEY_LENGTH} characters")
    return tuple(dict.fromkeys(keys))


def clean_batch(
    included: tuple[str, ...], excluded: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both lists cleaned; one key may not be both included and excluded in one request."""
    inc, exc = clean_keys(included), clean_keys(excluded)
    both = sorted(set(inc) & set(exc))
    if both:
        raise KeyBothIncludedAndExcluded(f"{len(both)} key(s) both included and excluded, e.g. {both[0]!r}")
    return inc, exc


def key_bytes(key: str) -> int:
    """What one key adds to an event's stored JSON: the quoted, escaped string and its separator."""
    return len(msgspec.json.encode(key)) + 2


def batches(
    included: tuple[str, ...],
    excluded: tuple[str, ...],
    size: int = MEMBER_BATCH_SIZE,
    max_bytes: int = MEMBER_BATCH_BYTES,
) -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Split into `(included, excluded)` chunks of at most `size` keys and `max_bytes` of key JSON (a
    single key is never split), order kept."""
    chunk: list[tuple[bool, str]] = []
    used = 0
    for tagged in [(True, k) for k in included] + [(False, k) for k in excluded]:
        cost = key_bytes(tagged[1])
        if chunk and (len(chunk) == size or used + cost > max_bytes):
            yield _split(chunk)
            chunk, used = [], 0
        chunk.append(tagged)
        used += cost
    if chunk:
        yield _split(chunk)


def _split(chunk: list[tuple[bool, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(k for inc, k in chunk if inc), tuple(k for inc, k in chunk if not inc)
