"""A flag's configuration per environment: validated against the flag's variants and the segments."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.conditions.ast import ALWAYS, And, Attribute, Condition, Leaf, Not, Op
from domain.errors import (
    DuplicateRuleId,
    FlagNotFound,
    InvalidCondition,
    InvalidHashSpec,
    InvalidKey,
    InvalidServe,
    InvalidWeight,
    UnknownSegment,
    UnknownVariant,
    VersionMismatch,
    WeightsNotSummingTo100,
)
from domain.flags import flag as flags
from domain.flags import flag_config as configs
from domain.flags.commands import (
    ConfigureFlag,
    CreateFlag,
    DeleteFlagConfig,
    ReplaceFlagRules,
    SetFallthrough,
    SetFlagEnabled,
    SetFlagHashing,
    SetOffVariant,
)
from domain.flags.events import (
    FlagConfigCreated,
    FlagConfigEvent,
    FlagDeleted,
    FlagDisabled,
    FlagEnabled,
    FlagFallthroughChanged,
    FlagOffVariantChanged,
    FlagRulesReplaced,
)
from domain.flags.flag_config import ConfigChange, FlagEnvConfig, change_config
from domain.flags.model import Allocation, Bucket, FlagConfig, Rule, Serve, ValueType, Variant
from domain.flags.validation import check_config
from tests.unit.domain.harness import NOW, Step, current, drive

PROJECT, ENV = uuid4(), uuid4()
KEY = "checkout"
FLAG = current(
    flags.create_flag(
        None,
        CreateFlag(
            command_id=uuid4(),
            project_id=PROJECT,
            key=KEY,
            value_type=ValueType.STRING,
            variants=(Variant(key="control", value="c"), Variant(key="treat", value="t")),
        ),
        NOW,
    ),
    flags.replay,
)
SEGMENTS = frozenset({"beta", "staff"})
IDS: dict[str, Any] = {"project_id": PROJECT, "environment_id": ENV, "key": KEY}


def _cmd() -> UUID:
    return uuid4()


def _decide(state: FlagEnvConfig | None, cmd: ConfigChange) -> list[FlagConfigEvent]:
    return change_config(state, cmd, NOW, flag=FLAG, segment_keys=SEGMENTS)


def _in(segment: str) -> Condition:
    return Leaf(attribute=Attribute("user"), op=Op.IN_SEGMENT, value=segment)


def _split(*weights: int) -> Serve:
    keys = ["control", "treat", "control"]
    return Serve(allocation=Allocation(buckets=tuple(Bucket(keys[i], w) for i, w in enumerate(weights))))


def test_the_first_change_records_the_whole_config() -> None:
    events = _decide(None, SetFlagEnabled(command_id=_cmd(), enabled=True, **IDS))
    assert [type(e) for e in events] == [FlagConfigCreated]
    state = current(events, configs.replay)
    assert state.id == configs.flag_config_stream(ENV, KEY)
    assert state.config == FlagConfig(
        enabled=True, off_variant="control", fallthrough=Serve(variant_key="control")
    )


def test_later_changes_record_only_what_changed() -> None:
    state = current(_decide(None, SetFlagEnabled(command_id=_cmd(), enabled=False, **IDS)), configs.replay)
    assert _decide(state, SetFlagEnabled(command_id=_cmd(), enabled=False, **IDS)) == []
    target = FlagConfig(
        enabled=True,
        off_variant="treat",
        fallthrough=_split(500, 500),
        rules=(Rule(id="r1", condition=_in("beta"), serve=Serve(variant_key="treat")),),
    )
    events = _decide(state, ConfigureFlag(command_id=_cmd(), config=target, **IDS))
    assert [type(e) for e in events] == [
        FlagEnabled,
        FlagOffVariantChanged,
        FlagRulesReplaced,
        FlagFallthroughChanged,
    ]
    assert [e.version for e in events] == [2, 3, 4, 5]
    state = current(
        [
            *[FlagConfigCreated(stream_id=state.id, version=1, occurred_at=NOW, config=state.config, **IDS)],
            *events,
        ],
        configs.replay,
    )
    assert state.config == target
    assert [type(e) for e in _decide(state, SetFlagEnabled(command_id=_cmd(), enabled=False, **IDS))] == [
        FlagDisabled
    ]


def _fall(serve: Serve) -> SetFallthrough:
    return SetFallthrough(command_id=uuid4(), fallthrough=serve, **IDS)


def _rules(*pairs: tuple[str, Condition, Serve]) -> ReplaceFlagRules:
    rules = tuple(Rule(id=rid, condition=cond, serve=serve) for rid, cond, serve in pairs)
    return ReplaceFlagRules(command_id=uuid4(), rules=rules, **IDS)


TREAT = Serve(variant_key="treat")
BROKEN: list[tuple[ConfigChange, type[Exception]]] = [
    (SetOffVariant(command_id=uuid4(), off_variant="nope", **IDS), UnknownVariant),
    (_fall(Serve()), InvalidServe),
    (_fall(Serve(variant_key="treat", allocation=_split(1000).allocation)), InvalidServe),
    (_fall(_split(500, 499)), WeightsNotSummingTo100),
    (_fall(_split(1200, -200)), InvalidWeight),
    (_fall(_split(250, 700, 50)), InvalidWeight),  # "control" twice
    (_fall(Serve(allocation=Allocation(buckets=()))), WeightsNotSummingTo100),
    (
        _fall(Serve(allocation=Allocation(buckets=(Bucket("control", 500), Bucket("ghost", 500))))),
        UnknownVariant,
    ),
    (_rules(("r", ALWAYS, TREAT), ("r", ALWAYS, Serve(variant_key="control"))), DuplicateRuleId),
    (_rules(("bad id", ALWAYS, TREAT)), InvalidKey),
    (_rules(("r", And((Not(_in("ghosts")),)), TREAT)), UnknownSegment),
    (_rules(("r", Leaf(Attribute("user"), Op.IN_SEGMENT, 3), TREAT)), InvalidCondition),
    (_rules(("r", Leaf(Attribute("user", "age"), Op.LT, "old"), TREAT)), InvalidCondition),
    (_rules(("r", ALWAYS, Serve(variant_key="ghost"))), UnknownVariant),
    (SetFlagHashing(command_id=uuid4(), hashing={"user": ("",)}, **IDS), InvalidHashSpec),
    (SetFlagEnabled(command_id=uuid4(), enabled=True, expected_version=3, **IDS), VersionMismatch),
]


@pytest.mark.parametrize(("cmd", "error"), BROKEN)
def test_broken_configs_are_refused(cmd: ConfigChange, error: type[Exception]) -> None:
    with pytest.raises(error):
        _decide(None, cmd)


def test_rules_may_name_existing_segments_and_split_traffic() -> None:
    rules = (
        Rule(id="beta", condition=_in("beta"), serve=_split(300, 700)),
        Rule(id="staff", condition=Not(_in("staff")), serve=Serve(variant_key="treat")),
    )
    state = current(_decide(None, ReplaceFlagRules(command_id=_cmd(), rules=rules, **IDS)), configs.replay)
    assert state.config.rules == rules


def test_a_deleted_or_missing_flag_cannot_be_configured() -> None:
    deleted = flags.evolve(FLAG, FlagDeleted(stream_id=FLAG.id, version=2, occurred_at=NOW))
    with pytest.raises(FlagNotFound):
        change_config(None, SetFlagEnabled(command_id=_cmd(), enabled=True, **IDS), NOW, flag=deleted)
    with pytest.raises(FlagNotFound):
        change_config(None, SetFlagEnabled(command_id=_cmd(), enabled=True, **IDS), NOW, flag=None)


def test_deleting_a_config_falls_back_to_the_default() -> None:
    state = current(_decide(None, SetFlagEnabled(command_id=_cmd(), enabled=True, **IDS)), configs.replay)
    assert configs.delete_flag_config(None, DeleteFlagConfig(command_id=_cmd(), **IDS), NOW) == []
    gone = configs.evolve(
        state, configs.delete_flag_config(state, DeleteFlagConfig(command_id=_cmd(), **IDS), NOW)[0]
    )
    assert configs.definition_of(FLAG, gone, ENV).config == configs.default_config(FLAG)
    assert configs.definition_of(FLAG, state, ENV).config.enabled is True
    again = _decide(gone, SetFlagEnabled(command_id=_cmd(), enabled=True, **IDS))
    assert [type(e) for e in again] == [FlagConfigCreated]
    assert again[0].version == 3


variant_keys = st.sampled_from(["control", "treat", "ghost"])
segment_keys = st.sampled_from(["beta", "staff", "ghosts"])
serves = st.builds(Serve, variant_key=variant_keys) | st.builds(
    lambda a, b, w: Serve(allocation=Allocation(buckets=(Bucket(a, w), Bucket(b, 1000 - w)))),
    variant_keys,
    variant_keys,
    st.sampled_from([0, 333, 500, 1000, 1001]),
)
conditions = st.sampled_from([ALWAYS, _in("beta"), Not(_in("staff")), _in("ghosts")])
rule_lists = st.lists(
    st.builds(Rule, id=st.sampled_from(["r1", "r2", "r3"]), condition=conditions, serve=serves), max_size=3
).map(tuple)
config_commands = st.one_of(
    st.builds(
        SetFlagEnabled,
        command_id=st.uuids(),
        enabled=st.booleans(),
        **{k: st.just(v) for k, v in IDS.items()},
    ),
    st.builds(
        SetOffVariant,
        command_id=st.uuids(),
        off_variant=variant_keys,
        **{k: st.just(v) for k, v in IDS.items()},
    ),
    st.builds(
        ReplaceFlagRules, command_id=st.uuids(), rules=rule_lists, **{k: st.just(v) for k, v in IDS.items()}
    ),
    st.builds(
        SetFallthrough, command_id=st.uuids(), fallthrough=serves, **{k: st.just(v) for k, v in IDS.items()}
    ),
    st.builds(
        SetFlagHashing,
        command_id=st.uuids(),
        hashing=st.sampled_from([{}, {"user": ("id",)}, {"": ()}]),
        **{k: st.just(v) for k, v in IDS.items()},
    ),
    st.builds(DeleteFlagConfig, command_id=st.uuids(), **{k: st.just(v) for k, v in IDS.items()}),
)


def _step(cmd: ConfigChange | DeleteFlagConfig) -> Step:
    if isinstance(cmd, DeleteFlagConfig):
        return lambda s: configs.delete_flag_config(s, cmd, NOW)
    return lambda s: _decide(s, cmd)


@settings(max_examples=200)
@given(st.lists(config_commands.map(_step), max_size=12))
def test_accepted_configs_are_always_valid_and_replay_exactly(steps: list[Step]) -> None:
    run = drive(steps, configs.evolve, configs.replay)
    state: FlagEnvConfig | None = run.state
    if state is not None and not state.deleted:
        check_config(state.config, FLAG.variant_keys, SEGMENTS)
