"""Retained deltas for `since_sequence` replay, bounded per environment by count and across every
environment of one cache by bytes (issue 9 item 13: a count alone let a few large flags hold gigabytes).

A delta's size is the length of its msgspec JSON (the Python objects take a few times that). Over the
byte budget, the oldest delta of the whole cache is dropped first; an SDK asking for a sequence older
than what its environment still holds gets a snapshot, as for any unknown sequence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:  # definitions_state holds an EnvHistory per environment
    from readmodels.definitions_state import Delta

DEFAULT_HISTORY: Final = 1000  # deltas retained per environment
DEFAULT_HISTORY_BYTES: Final = 64 << 20  # encoded deltas retained per cache, all environments together
_ENCODER = msgspec.json.Encoder()


class HistoryBudget:
    """The byte budget shared by every environment's history of one cache; drops the oldest first."""

    def __init__(self, max_bytes: int = DEFAULT_HISTORY_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held = 0  # encoded bytes of every retained delta
        self.dropped = 0  # deltas dropped for the byte budget
        self._order: deque[tuple[EnvHistory, int]] = deque()  # (history, sequence), oldest first
        self._live = 0

    def admit(self, history: EnvHistory, sequence: int, size: int) -> None:
        """Account for a delta just retained, then drop the oldest deltas until within budget."""
        self._order.append((history, sequence))
        self.held += size
        self._live += 1
        while self.held > self.max_bytes and self._order:
            oldest, seq = self._order.popleft()
            if oldest.deltas and oldest.deltas[0].sequence == seq:  # else: gone by its count limit
                oldest.drop_oldest()
                self.dropped += 1
        if len(self._order) > 2 * self._live + 64:  # entries of deltas dropped by count limits
            self._order = deque((h, s) for h, s in self._order if h.deltas and s >= h.deltas[0].sequence)

    def release(self, size: int) -> None:
        """A retained delta of `size` bytes was dropped."""
        self.held -= size
        self._live -= 1


class EnvHistory:
    """One environment's retained deltas, oldest first (a sequence of Delta for readers)."""

    __slots__ = ("budget", "deltas", "limit", "sizes")

    def __init__(self, limit: int, budget: HistoryBudget) -> None:
        self.limit = limit
        self.budget = budget
        self.deltas: deque[Delta] = deque()
        self.sizes: deque[int] = deque()

    def append(self, delta: Delta) -> None:
        """Retain a new delta; older ones go when over the count limit or the shared byte budget."""
        if self.limit < 1:
            return
        size = len(_ENCODER.encode(delta))
        self.deltas.append(delta)
        self.sizes.append(size)
        while len(self.deltas) > self.limit:
            self.drop_oldest()
        self.budget.admit(self, delta.sequence, size)

    def drop_oldest(self) -> None:
        """Forget the oldest retained delta."""
        self.deltas.popleft()
        self.budget.release(self.sizes.popleft())

    def __len__(self) -> int:
        return len(self.deltas)

    def __iter__(self) -> Iterator[Delta]:
        return iter(self.deltas)

    def __getitem__(self, index: int) -> Delta:
        return self.deltas[index]
