"""Environments and their SDK keys (domain.tenancy.environment, domain.tenancy.sdk_keys)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.codec import encode_event
from domain.errors import (
    EnvironmentAlreadyExists,
    EnvironmentNotFound,
    InvalidArgument,
    LastActiveSdkKey,
    SdkKeyAlreadyExists,
    SdkKeyAlreadyRevoked,
    SdkKeyNotFound,
)
from domain.tenancy import environment as environments
from domain.tenancy.commands import (
    CreateEnvironment,
    IssueSdkKey,
    RenameEnvironment,
    RevokeSdkKey,
    TenancyCommand,
)
from domain.tenancy.environment import Environment
from domain.tenancy.events import EnvironmentEvent
from domain.tenancy.sdk_keys import SDK_KEY_PREFIX, display_prefix, hash_sdk_key, matches, raw_sdk_key
from tests.unit.domain.harness import NOW, at, current, drive, step

ORG, PROJECT, ENV = uuid4(), uuid4(), uuid4()


def _cmd() -> UUID:
    return uuid4()


def _env() -> Environment:
    create = CreateEnvironment(
        command_id=_cmd(), environment_id=ENV, org_id=ORG, project_id=PROJECT, name="prod"
    )
    return current(environments.create_environment(None, create, NOW), environments.replay)


def _issue(env: Environment, key_id: UUID, raw: str = SDK_KEY_PREFIX + "x" * 43) -> Environment:
    cmd = IssueSdkKey(
        command_id=_cmd(),
        environment_id=ENV,
        key_id=key_id,
        name="server",
        key_hash=hash_sdk_key(raw),
        prefix=display_prefix(raw),
    )
    return environments.evolve(env, environments.issue_sdk_key(env, cmd, NOW)[0])


def test_environments_are_unique_by_id_and_name() -> None:
    env = _env()
    assert (env.org_id, env.project_id, env.name, env.sdk_keys) == (ORG, PROJECT, "prod", ())
    create = CreateEnvironment(
        command_id=_cmd(), environment_id=ENV, org_id=ORG, project_id=PROJECT, name="x"
    )
    with pytest.raises(EnvironmentAlreadyExists):
        environments.create_environment(env, create, NOW)
    with pytest.raises(EnvironmentAlreadyExists):
        environments.create_environment(None, create, NOW, taken_names=frozenset({"X"}))
    with pytest.raises(EnvironmentNotFound):
        environments.rename_environment(
            None, RenameEnvironment(command_id=_cmd(), environment_id=ENV, name="y"), NOW
        )


def test_the_last_active_key_cannot_be_revoked() -> None:
    first, second = uuid4(), uuid4()
    env = _issue(_env(), first)
    revoke_first = RevokeSdkKey(command_id=_cmd(), environment_id=ENV, key_id=first)
    with pytest.raises(LastActiveSdkKey):
        environments.revoke_sdk_key(env, revoke_first, at(1))
    env = _issue(env, second)
    env = environments.evolve(env, environments.revoke_sdk_key(env, revoke_first, at(1))[0])
    assert [k.id for k in env.active_keys()] == [second]
    assert env.sdk_keys[0].revoked_at == at(1)
    with pytest.raises(SdkKeyAlreadyRevoked):
        environments.revoke_sdk_key(env, revoke_first, at(2))
    with pytest.raises(LastActiveSdkKey):
        environments.revoke_sdk_key(
            env, RevokeSdkKey(command_id=_cmd(), environment_id=ENV, key_id=second), at(2)
        )


def test_unknown_and_duplicate_keys_are_refused() -> None:
    key = uuid4()
    env = _issue(_env(), key)
    with pytest.raises(SdkKeyAlreadyExists):
        _issue(env, key)
    with pytest.raises(SdkKeyNotFound):
        environments.revoke_sdk_key(
            env, RevokeSdkKey(command_id=_cmd(), environment_id=ENV, key_id=uuid4()), NOW
        )
    with pytest.raises(InvalidArgument):
        environments.issue_sdk_key(
            env,
            IssueSdkKey(
                command_id=_cmd(), environment_id=ENV, key_id=uuid4(), name="", key_hash="", prefix=""
            ),
            NOW,
        )


def test_raw_keys_never_reach_an_event() -> None:
    raw = raw_sdk_key(bytes(range(32)))
    assert raw.startswith(SDK_KEY_PREFIX)
    assert len(raw) >= len(SDK_KEY_PREFIX) + 43
    assert matches(raw, hash_sdk_key(raw))
    assert not matches(raw + "x", hash_sdk_key(raw))
    cmd = IssueSdkKey(
        command_id=_cmd(),
        environment_id=ENV,
        key_id=uuid4(),
        name="s",
        key_hash=hash_sdk_key(raw),
        prefix=display_prefix(raw),
    )
    (event,) = environments.issue_sdk_key(_env(), cmd, NOW)
    assert raw.encode() not in encode_event(event)
    assert raw[len(SDK_KEY_PREFIX) :].encode() not in encode_event(event)
    with pytest.raises(ValueError, match="32 random bytes"):
        raw_sdk_key(b"short")


KEY_IDS = st.sampled_from([uuid4() for _ in range(4)])
_ENV = {"command_id": st.uuids(), "environment_id": st.just(ENV)}
environment_commands = st.one_of(
    st.builds(
        IssueSdkKey, key_id=KEY_IDS, name=st.just("k"), key_hash=st.just("h"), prefix=st.just("p"), **_ENV
    ),
    st.builds(RevokeSdkKey, key_id=KEY_IDS, **_ENV),
    st.builds(RenameEnvironment, name=st.sampled_from(["a", "b"]), **_ENV),
)


def _decide(state: Environment | None, cmd: TenancyCommand) -> list[EnvironmentEvent]:
    match cmd:
        case CreateEnvironment():
            return environments.create_environment(state, cmd, NOW)
        case IssueSdkKey():
            return environments.issue_sdk_key(state, cmd, NOW)
        case RevokeSdkKey():
            return environments.revoke_sdk_key(state, cmd, NOW)
        case RenameEnvironment():
            return environments.rename_environment(state, cmd, NOW)
    raise AssertionError(cmd)


@settings(max_examples=150)
@given(st.lists(environment_commands, max_size=15))
def test_an_environment_that_had_a_key_always_keeps_one(commands: list[TenancyCommand]) -> None:
    create = CreateEnvironment(
        command_id=_cmd(), environment_id=ENV, org_id=ORG, project_id=PROJECT, name="a"
    )
    run = drive([step(_decide, c) for c in [create, *commands]], environments.evolve, environments.replay)
    env: Environment = run.state
    if env.sdk_keys:
        assert env.active_keys()
    assert len({k.id for k in env.sdk_keys}) == len(env.sdk_keys)
