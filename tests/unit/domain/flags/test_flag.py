"""The project-level flag definition: key, value type, variants, archive and delete."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import (
    DuplicateVariantKey,
    FlagAlreadyExists,
    FlagIsArchived,
    FlagNotArchived,
    FlagNotFound,
    InvalidKey,
    TooFewVariants,
    UnknownVariant,
    VariantAlreadyExists,
    VariantInUse,
    VariantValueTypeMismatch,
    VersionMismatch,
)
from domain.flags import flag as flags
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    CreateFlag,
    DeleteFlag,
    RemoveVariant,
    RestoreFlag,
    UpdateFlagDetails,
    UpdateVariant,
)
from domain.flags.flag import Flag, flag_stream
from domain.flags.model import ValueType, Variant
from domain.flags.validation import value_matches
from tests.unit.domain.harness import NOW, Step, current, drive

PROJECT = uuid4()
ON, OFF = Variant(key="on", value=True), Variant(key="off", value=False)


def _cmd() -> UUID:
    return uuid4()


def _create(
    key: str = "checkout", value_type: ValueType = ValueType.BOOL, variants: Any = (OFF, ON)
) -> CreateFlag:
    return CreateFlag(
        command_id=_cmd(), project_id=PROJECT, key=key, value_type=value_type, variants=variants
    )


def _flag(**kw: Any) -> Flag:
    return current(flags.create_flag(None, _create(**kw), NOW), flags.replay)


def test_a_flag_lives_on_its_project_and_key_stream() -> None:
    flag = _flag()
    assert flag.id == flag_stream(PROJECT, "checkout")
    assert (flag.key, flag.value_type, flag.variants, flag.version) == (
        "checkout",
        ValueType.BOOL,
        (OFF, ON),
        1,
    )


def test_duplicate_flag_keys_are_refused_until_deleted() -> None:
    flag = _flag()
    with pytest.raises(FlagAlreadyExists):
        flags.create_flag(flag, _create(), NOW)
    deleted = flags.evolve(
        flag,
        flags.delete_flag(flag, DeleteFlag(command_id=_cmd(), project_id=PROJECT, key="checkout"), NOW)[0],
    )
    again = flags.create_flag(
        deleted, _create(value_type=ValueType.INT, variants=(Variant(key="a", value=1),)), NOW
    )
    assert again[0].version == 3
    assert flags.evolve(deleted, again[0]).deleted is False


@pytest.mark.parametrize(
    ("value_type", "value"),
    [
        (ValueType.BOOL, 1),
        (ValueType.INT, True),
        (ValueType.INT, 1.5),
        (ValueType.INT, 2**63),
        (ValueType.DOUBLE, "1"),
        (ValueType.DOUBLE, math.inf),
        (ValueType.STRING, 1),
        (ValueType.JSON, {"a": [math.nan]}),
    ],
)
def test_variant_values_must_match_the_value_type(value_type: ValueType, value: Any) -> None:
    with pytest.raises(VariantValueTypeMismatch):
        flags.create_flag(
            None, _create(value_type=value_type, variants=(Variant(key="v", value=value),)), NOW
        )


def test_well_typed_values_pass() -> None:
    assert value_matches(ValueType.DOUBLE, 3)
    assert value_matches(ValueType.DOUBLE, 0.5)
    assert value_matches(ValueType.JSON, {"a": [1, None, "x", 2.5]})
    assert value_matches(ValueType.JSON, None)


@pytest.mark.parametrize(
    ("cmd", "error"),
    [
        (_create(key="bad key"), InvalidKey),
        (_create(variants=()), TooFewVariants),
        (_create(variants=(ON, ON)), DuplicateVariantKey),
        (_create(variants=(Variant(key="", value=True),)), InvalidKey),
    ],
)
def test_broken_definitions_are_refused(cmd: CreateFlag, error: type[Exception]) -> None:
    with pytest.raises(error):
        flags.create_flag(None, cmd, NOW)


def test_variants_are_added_updated_and_removed() -> None:
    flag = _flag(value_type=ValueType.STRING, variants=(Variant(key="a", value="A"),))
    b = Variant(key="b", value="B")
    flag = flags.evolve(
        flag,
        flags.add_variant(
            flag, AddVariant(command_id=_cmd(), project_id=PROJECT, key="checkout", variant=b), NOW
        )[0],
    )
    assert (
        flags.add_variant(
            flag, AddVariant(command_id=_cmd(), project_id=PROJECT, key="checkout", variant=b), NOW
        )
        == []
    )
    with pytest.raises(VariantAlreadyExists):
        flags.add_variant(
            flag,
            AddVariant(
                command_id=_cmd(), project_id=PROJECT, key="checkout", variant=Variant(key="b", value="other")
            ),
            NOW,
        )
    b2 = Variant(key="b", value="B2", name="Bee")
    flag = flags.evolve(
        flag,
        flags.update_variant(
            flag, UpdateVariant(command_id=_cmd(), project_id=PROJECT, key="checkout", variant=b2), NOW
        )[0],
    )
    assert flag.variants == (Variant(key="a", value="A"), b2)
    with pytest.raises(UnknownVariant):
        flags.update_variant(
            flag,
            UpdateVariant(
                command_id=_cmd(), project_id=PROJECT, key="checkout", variant=Variant(key="zz", value="z")
            ),
            NOW,
        )
    remove_b = RemoveVariant(command_id=_cmd(), project_id=PROJECT, key="checkout", variant_key="b")
    with pytest.raises(VariantInUse):
        flags.remove_variant(flag, remove_b, NOW, in_use=frozenset({"b"}))
    flag = flags.evolve(flag, flags.remove_variant(flag, remove_b, NOW)[0])
    assert flags.remove_variant(flag, remove_b, NOW) == []
    with pytest.raises(TooFewVariants):
        flags.remove_variant(
            flag, RemoveVariant(command_id=_cmd(), project_id=PROJECT, key="checkout", variant_key="a"), NOW
        )


def test_archived_flags_refuse_changes_until_restored() -> None:
    flag = _flag()
    with pytest.raises(FlagNotArchived):
        flags.restore_flag(flag, RestoreFlag(command_id=_cmd(), project_id=PROJECT, key="checkout"), NOW)
    archive = ArchiveFlag(command_id=_cmd(), project_id=PROJECT, key="checkout")
    flag = flags.evolve(flag, flags.archive_flag(flag, archive, NOW)[0])
    assert flags.archive_flag(flag, archive, NOW) == []
    details = UpdateFlagDetails(
        command_id=_cmd(), project_id=PROJECT, key="checkout", name="N", description=""
    )
    with pytest.raises(FlagIsArchived):
        flags.update_flag_details(flag, details, NOW)
    flag = flags.evolve(
        flag,
        flags.restore_flag(flag, RestoreFlag(command_id=_cmd(), project_id=PROJECT, key="checkout"), NOW)[0],
    )
    assert flags.update_flag_details(flag, details, NOW)


def test_stale_versions_and_missing_flags_are_refused() -> None:
    flag = _flag()
    stale = UpdateFlagDetails(
        command_id=_cmd(), project_id=PROJECT, key="checkout", name="N", description="", expected_version=7
    )
    with pytest.raises(VersionMismatch):
        flags.update_flag_details(flag, stale, NOW)
    with pytest.raises(FlagNotFound):
        flags.archive_flag(None, ArchiveFlag(command_id=_cmd(), project_id=PROJECT, key="checkout"), NOW)


VARIANTS = [
    Variant(key="a", value=1),
    Variant(key="b", value=2),
    Variant(key="c", value=3),
    Variant(key="b", value=5),
    Variant(key="d", value="x"),
]


def _def_step(kind: str, variant: Variant, flag_in_use: bool) -> Step:
    key, proj = "f", PROJECT
    match kind:
        case "add":
            return lambda s: flags.add_variant(
                s, AddVariant(command_id=_cmd(), project_id=proj, key=key, variant=variant), NOW
            )
        case "update":
            return lambda s: flags.update_variant(
                s, UpdateVariant(command_id=_cmd(), project_id=proj, key=key, variant=variant), NOW
            )
        case "remove":
            in_use = frozenset({variant.key}) if flag_in_use else frozenset()
            return lambda s: flags.remove_variant(
                s,
                RemoveVariant(command_id=_cmd(), project_id=proj, key=key, variant_key=variant.key),
                NOW,
                in_use=in_use,
            )
        case "archive":
            return lambda s: flags.archive_flag(
                s, ArchiveFlag(command_id=_cmd(), project_id=proj, key=key), NOW
            )
        case "restore":
            return lambda s: flags.restore_flag(
                s, RestoreFlag(command_id=_cmd(), project_id=proj, key=key), NOW
            )
        case "delete":
            return lambda s: flags.delete_flag(
                s, DeleteFlag(command_id=_cmd(), project_id=proj, key=key), NOW
            )
    return lambda s: flags.create_flag(
        s,
        CreateFlag(
            command_id=_cmd(), project_id=proj, key=key, value_type=ValueType.INT, variants=(variant,)
        ),
        NOW,
    )


definition_steps = st.builds(
    _def_step,
    st.sampled_from(["create", "add", "update", "remove", "archive", "restore", "delete"]),
    st.sampled_from(VARIANTS),
    st.booleans(),
)


@settings(max_examples=150)
@given(st.lists(definition_steps, max_size=15))
def test_definition_replay_matches_and_variants_stay_valid(steps: list[Step]) -> None:
    run = drive(steps, flags.evolve, flags.replay)
    flag: Flag | None = run.state
    if flag is not None and not flag.deleted:
        keys = [v.key for v in flag.variants]
        assert keys
        assert len(keys) == len(set(keys))
        assert all(value_matches(flag.value_type, v.value) for v in flag.variants)
