"""A definition over today's evaluation budget (written before the cap) still syncs and evaluates in the
SDK, in bounded time: RE2 searches are linear and each evaluation runs a bounded number of segments."""

from __future__ import annotations

import pytest
from stitchd_sdk.evaluator import Evaluator, FetchNow
from stitchd_sdk.lfu import LfuCache
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.tracking import Tracker
from stitchd_sdk.types import SdkOptions

from domain.conditions.ast import Attribute, Leaf, Op, Or
from domain.conditions.codec import ConditionError, validate_condition
from domain.context import ContextSet
from domain.errors import EvaluationBudgetExceeded
from domain.flags.validation import check_config
from tests.unit.sdk.fakes import bool_flag, snapshot

BOMB = "(?:a|.)" * 36 + "$"  # about 2^36 steps per search for a backtracking engine


@pytest.mark.timeout(60)
def test_a_legacy_rule_of_600_hostile_regex_leaves_evaluates() -> None:
    # 600 leaves of this pattern are as many as the wire's 256 KiB condition payload carries.
    wide = Or(tuple(Leaf(Attribute("user", "ua"), Op.MATCHES, BOMB) for _ in range(600)))
    flag = bool_flag("legacy", wide)
    with pytest.raises(EvaluationBudgetExceeded):
        check_config(flag.config, frozenset({"on", "off"}), frozenset())  # refused if written today
    store = DefinitionStore()
    store.apply(snapshot(1, flag))
    assert store.rejected == 0
    cache = LfuCache(10)
    evaluator = Evaluator(store, cache, Tracker(SdkOptions()), send_exposures=False)
    policy = FetchNow(lambda key: None, cache)
    for ua, variant in (("a" * 35, "off"), ("a" * 255 + "!", "on")):
        contexts = ContextSet.single("user", "u1", ua=ua)
        assert evaluator.raw("legacy", contexts, policy).variant_key == variant


def test_a_legacy_pattern_re2_refuses_syncs_and_never_matches() -> None:
    # Python's re accepted lookahead, so older releases stored it; RE2 refuses it for new writes.
    ua = Attribute("user", "ua")
    legacy = Or((Leaf(ua, Op.MATCHES, "^(?=a)"), Leaf(ua, Op.EQ, "bot")))
    with pytest.raises(ConditionError, match="invalid perl operator"):
        validate_condition(legacy)
    store = DefinitionStore()
    store.apply(snapshot(1, bool_flag("legacy", legacy)))
    assert store.rejected == 0
    cache = LfuCache(10)
    evaluator = Evaluator(store, cache, Tracker(SdkOptions()), send_exposures=False)
    policy = FetchNow(lambda key: None, cache)
    for value, variant in (("abc", "off"), ("bot", "on")):
        contexts = ContextSet.single("user", "u1", ua=value)
        assert evaluator.raw("legacy", contexts, policy).variant_key == variant
