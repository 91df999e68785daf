"""One environment as the edge holds it: an SDK client kept current by the upstream stream (with its
durable cache), plus the deltas it received, so downstream SDKs resume with since_sequence exactly.

Messages are retained as they came (same sequences, same contents); a snapshot from upstream starts
the history over. `deltas_since(n)` answers from the history when `n` is the sequence it started at
or one of its deltas, else None (the caller sends a snapshot of the current state instead).
"""

from __future__ import annotations

import asyncio
from collections import deque

from stitchd_sdk import AsyncSdkClient, SdkState
from stitchd_sdk.persist import snapshot_of

from schemas.generated.stitchd.flags import v1 as flags_pb


class Relay:
    """The upstream SDK client of one SDK key and the history passed downstream."""

    def __init__(self, client: AsyncSdkClient, history: int) -> None:
        self.client = client
        self._limit = history
        self._deltas: deque[flags_pb.SyncResponse] = deque()
        self._base: int | None = None  # the sequence the retained deltas follow
        self._changed: asyncio.Future[None] | None = None
        self._snapshot: tuple[int, bytes] | None = None
        client.add_message_tap(self._on_message)

    @property
    def sequence(self) -> int:
        """The sequence of the definitions held (0: none yet)."""
        return self.client.store.sequence

    @property
    def environment_id(self) -> str:
        return self.client.store.current.environment_id

    @property
    def ready(self) -> bool:
        """Whether there are definitions to serve (from upstream or the durable cache)."""
        return self.client.store.has_snapshot

    @property
    def refused(self) -> bool:
        """Whether upstream refuses this key (revoked): downstream is refused too."""
        return self.client.status().state is SdkState.REFUSED

    def changed(self) -> asyncio.Future[None]:
        """Resolved at the next change (or refusal) of this environment."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _on_message(self, msg: flags_pb.SyncResponse) -> None:
        """A message from upstream, before the client's store applies it."""
        store = self.client.store
        if msg.is_heartbeat:
            return
        if msg.is_snapshot:
            self._deltas.clear()
            self._base = msg.sequence_number
        elif store.has_snapshot and msg.sequence_number > store.sequence:
            if self._base is None or (not self._deltas and self._base != store.sequence):
                self._base = store.sequence  # after a start from the durable cache
            self._deltas.append(msg)
            while len(self._deltas) > self._limit:
                self._base = self._deltas.popleft().sequence_number
        else:
            return  # a duplicate the store ignores
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    def deltas_since(self, since: int) -> list[flags_pb.SyncResponse] | None:
        """The retained deltas after `since`, [] when it is current, None when it is not retained."""
        if since == self.sequence:
            return []
        deltas = list(self._deltas)
        if since != self._base:
            after = [i for i, delta in enumerate(deltas) if delta.sequence_number == since]
            deltas = deltas[after[0] + 1 :] if after else []
        if not deltas or deltas[-1].sequence_number != self.sequence:
            return None  # not retained, or the history does not reach the held state: a snapshot
        return deltas

    def snapshot(self) -> bytes:
        """The current definitions as one encoded snapshot message (encoded once per sequence)."""
        sequence = self.sequence
        if self._snapshot is None or self._snapshot[0] != sequence:
            self._snapshot = (sequence, bytes(snapshot_of(self.client.store.current)))
        return self._snapshot[1]
