"""The edge's history: downstream since_sequence gets exactly the upstream deltas after it, or None."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stitchd_sdk import AsyncSdkClient, SdkOptions

from edge.relay import Relay
from schemas.generated.stitchd.flags import v1 as flags_pb
from tests.unit.sdk.fakes import delta, snapshot, string_flag


def _relay(limit: int) -> Relay:
    client = AsyncSdkClient("127.0.0.1:1", "http://gw.invalid", "k", SdkOptions(cache_dir=None))
    return Relay(client, limit)


def _feed(relay: Relay, msg: flags_pb.SyncResponse) -> None:
    relay._on_message(msg)  # as the sync loop does: the tap, then the store
    relay.client.store.apply(msg)


@settings(deadline=None)
@given(
    start=st.integers(1, 100),
    steps=st.lists(st.integers(1, 5), max_size=12),
    limit=st.integers(1, 6),
    since=st.integers(0, 200),
)
def test_deltas_since_are_exactly_the_retained_ones_after_it(
    start: int, steps: list[int], limit: int, since: int
) -> None:
    relay = _relay(limit)
    _feed(relay, snapshot(start, string_flag("c", "0")))
    sequences = [start]
    for i, step in enumerate(steps):
        sequences.append(sequences[-1] + step)
        _feed(relay, delta(sequences[-1], string_flag("c", str(i))))
        _feed(relay, delta(sequences[-1], string_flag("c", "duplicate")))  # ignored, as by the store
    answer = relay.deltas_since(since)
    retained = sequences[-limit - 1 :] if len(sequences) > limit else sequences
    if since == sequences[-1]:
        assert answer == []
    elif since in retained:
        assert answer is not None
        assert [d.sequence_number for d in answer] == [s for s in sequences if s > since]
        assert answer[-1].flags[0] == delta(sequences[-1], string_flag("c", str(len(steps) - 1))).flags[0]
    else:
        assert answer is None


def test_a_snapshot_from_upstream_starts_the_history_over() -> None:
    relay = _relay(10)
    _feed(relay, snapshot(5, string_flag("c", "a")))
    _feed(relay, delta(6, string_flag("c", "b")))
    _feed(relay, snapshot(9, string_flag("c", "z")))
    assert relay.deltas_since(5) is None
    assert relay.deltas_since(6) is None
    assert relay.deltas_since(9) == []
