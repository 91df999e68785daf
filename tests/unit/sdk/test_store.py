"""Applying sync messages, and SDK evaluation agreeing with the domain's reference evaluation."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from stitchd_sdk import evaluator as kinds
from stitchd_sdk.contexts import exposure_context, to_context_set
from stitchd_sdk.evaluator import Evaluator, FetchNow
from stitchd_sdk.lfu import LfuCache
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.sync import backoff_delay, parse_grpc_url
from stitchd_sdk.tracking import Tracker
from stitchd_sdk.types import SdkOptions

from domain.conditions.ast import ALWAYS
from domain.conditions.segments import StaticSegments
from domain.context import Context, ContextSet
from domain.evaluation import evaluate
from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from schemas.flag_wire import flag_to_proto, list_segment_meta_to_proto, rule_segment_to_proto
from schemas.generated.stitchd.flags import v1 as flags_pb
from schemas.wire import WireFormatError
from tests.strategies import MATCHING, context_sets, flag_definitions, segment_lookups
from tests.unit.sdk.fakes import ENV, bool_flag, delta, heartbeat, snapshot, string_flag

LIST_KEYS = ("list-a", "list-b")


def _snapshot_of(flag: FlagDefinition, segments: StaticSegments, sequence: int) -> flags_pb.SyncResponse:
    rules = [s for k in ("seg-a", "seg-b") if (s := segments.rule_segment(k)) is not None]
    lists = [m for k in LIST_KEYS if (m := segments.list_segment(k)) is not None]
    return flags_pb.SyncResponse(
        flags=[flag_to_proto(flag)],
        rule_segments=[rule_segment_to_proto(s) for s in rules],
        list_segments=[list_segment_meta_to_proto(m) for m in lists],
        environment_id=str(flag.environment_id),
        sequence_number=sequence,
        is_snapshot=True,
    )


@settings(max_examples=150, deadline=None)
@given(flag_definitions(MATCHING), segment_lookups(), context_sets(MATCHING), st.integers(1, 2**40))
def test_sdk_evaluation_equals_the_reference_evaluation(
    flag: FlagDefinition, segments: StaticSegments, contexts: ContextSet, sequence: int
) -> None:
    try:
        message = _snapshot_of(flag, segments, sequence)
    except WireFormatError:
        reject()  # not representable on the wire (e.g. an integer beyond int64): nothing to sync
    store = DefinitionStore()
    store.apply(message)
    cache = LfuCache(100)
    evaluator = Evaluator(store, cache, Tracker(SdkOptions()), send_exposures=False)
    policy = FetchNow(lambda key: segments.is_list_member(*key), cache)
    expected = evaluate(flag, contexts, segments=segments, sequence=sequence)
    assert evaluator.raw(flag.key, contexts, policy) == expected
    assert evaluator.raw(flag.key, contexts, policy) == expected  # again, now from the membership cache
    details = evaluator.typed(flag.key, contexts, "dflt", kinds.JSON, policy)
    assert (details.variant_key, details.reason, details.rule_id, details.error_code, details.sequence) == (
        expected.variant_key,
        expected.reason,
        expected.rule_id,
        expected.error_code,
        expected.sequence,
    )
    assert details.value == ("dflt" if expected.error_code is not None else expected.value)


def test_heartbeats_and_already_applied_deltas_change_nothing() -> None:
    store = DefinitionStore()
    assert store.apply(delta(3, bool_flag("early"))) is None  # no snapshot yet
    store.apply(snapshot(5, bool_flag("a")))
    assert store.apply(heartbeat(9)) is None
    assert store.apply(delta(5, bool_flag("dup"))) is None
    assert set(store.current.flags) == {"a"}
    assert store.sequence == 5


def test_a_snapshot_replaces_everything() -> None:
    store = DefinitionStore()
    store.apply(snapshot(5, bool_flag("a"), bool_flag("b")))
    update = store.apply(snapshot(9, string_flag("c", "x")))
    assert update is not None
    assert update.is_snapshot
    assert set(store.current.flags) == {"c"}
    assert store.sequence == 9


def test_a_segment_key_changing_kind_replaces_the_old_kind() -> None:
    store = DefinitionStore()
    meta = ListSegmentMeta(id=UUID(int=7), key="s", context_type="user")
    store.apply(snapshot(1, lists=[meta]))
    rule = RuleSegment(id=UUID(int=7), key="s", context_type="user", condition=ALWAYS)
    store.apply(delta(2, rule_segments=[rule_segment_to_proto(rule)]))
    assert "s" in store.current.rule_segments
    assert "s" not in store.current.list_segments
    store.apply(delta(3, removed_segment_keys=["s"]))
    assert not store.current.rule_segments


def test_an_undecodable_flag_is_skipped_and_counted() -> None:
    store = DefinitionStore()
    broken = flags_pb.FeatureFlag(key="broken", project_id="not-a-uuid", environment_id=str(ENV))
    store.apply(snapshot(1, bool_flag("ok")))
    store.apply(flags_pb.SyncResponse(flags=[broken], sequence_number=2))
    assert set(store.current.flags) == {"ok"}
    assert store.rejected == 1


def test_archived_flags_are_not_served() -> None:
    store = DefinitionStore()
    store.apply(snapshot(1, bool_flag("a")))
    archived = flag_to_proto(bool_flag("a"))
    archived.archived = True
    store.apply(flags_pb.SyncResponse(flags=[archived], sequence_number=2))
    assert "a" not in store.current.flags


def test_exposures_name_the_first_context_like_the_gateway() -> None:
    org = Context(context_type="org", key="o1")
    user = Context(context_type="user", key="u1")
    assert exposure_context(ContextSet((org, user))) == org
    assert exposure_context(ContextSet()) is None


def test_contexts_that_are_not_contexts_are_refused() -> None:
    with pytest.raises(TypeError):
        to_context_set(("user",))  # type: ignore[arg-type]


def test_grpc_addresses_parse() -> None:
    assert parse_grpc_url("localhost:50050") == ("localhost", 50050, False)
    assert parse_grpc_url("http://127.0.0.1:9090") == ("127.0.0.1", 9090, False)
    assert parse_grpc_url("https://sync.example.com") == ("sync.example.com", 443, True)


@given(st.integers(0, 100), st.floats(0.01, 5), st.floats(5, 60))
def test_backoff_grows_but_stays_bounded(attempt: int, initial: float, maximum: float) -> None:
    ceiling = min(maximum, initial * 2.0 ** min(attempt, 30))
    assert ceiling / 2 <= backoff_delay(attempt, initial, maximum) <= ceiling
