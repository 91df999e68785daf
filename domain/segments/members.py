"""List-segment membership batches: validation and splitting into bounded events."""

from __future__ import annotations

from collections.abc import Iterator

from domain.errors import InvalidArgument, KeyBothIncludedAndExcluded

# Keys per membership event: keeps single events small however large the list grows.
MEMBER_BATCH_SIZE = 5_000
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


def batches(
    included: tuple[str, ...], excluded: tuple[str, ...], size: int = MEMBER_BATCH_SIZE
) -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Split into `(included, excluded)` chunks of at most `size` keys in total, order kept."""
    tagged = [(True, k) for k in included] + [(False, k) for k in excluded]
    for start in range(0, len(tagged), size):
        chunk = tagged[start : start + size]
        yield tuple(k for inc, k in chunk if inc), tuple(k for inc, k in chunk if not inc)
