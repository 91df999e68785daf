"""The auth-provider aggregate (issue 13): configuration rules, deciders, fold, wire round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.auth_providers import provider as providers
from domain.auth_providers.commands import CreateAuthProvider, DeleteAuthProvider, UpdateAuthProvider
from domain.auth_providers.events import AuthProviderEvent, OidcSettings, ProviderConfig, SamlSettings
from domain.auth_providers.rules import check_config
from domain.errors import (
    AuthProviderAlreadyExists,
    AuthProviderNotFound,
    InvalidArgument,
    InvalidProviderConfig,
    SystemOrgSsoRefused,
    VersionMismatch,
)
from domain.events import Event
from domain.tenancy import org as orgs
from domain.tenancy.commands import CreateOrg, SetOrgSsoRequirement
from tests.unit.domain.harness import NOW, at, round_trip

ORG, OTHER, PID = uuid4(), uuid4(), uuid4()
E = TypeVar("E", bound=Event)


def trip(events: Sequence[E]) -> list[E]:
    """The events as the store gives them back (same types)."""
    return cast(list[E], round_trip(events))


OIDC = OidcSettings(issuer_url="https://idp.example.com/", client_id="c", client_secret="sealed:v1:abc")
CONFIG = ProviderConfig(display_name="IdP", oidc=OIDC, email_domains=("Example.COM",))


def created(config: ProviderConfig = CONFIG) -> providers.AuthProvider:
    cmd = CreateAuthProvider(command_id=uuid4(), provider_id=PID, org_id=ORG, config=config)
    state = providers.replay(trip(providers.create(None, cmd, NOW)))
    assert state is not None
    return state


def update(state: providers.AuthProvider, config: ProviderConfig, org: UUID = ORG) -> list[AuthProviderEvent]:
    cmd = UpdateAuthProvider(command_id=uuid4(), provider_id=PID, org_id=org, config=config)
    return list(providers.update(state, cmd, at(1)))


def test_create_normalises_the_configuration() -> None:
    state = created()
    assert state.config.oidc is not None
    assert state.config.oidc.issuer_url == "https://idp.example.com"
    assert state.config.email_domains == ("example.com",)
    assert state.created_at == state.updated_at == NOW
    assert state.version == 1


def test_a_taken_id_is_refused() -> None:
    cmd = CreateAuthProvider(command_id=uuid4(), provider_id=PID, org_id=ORG, config=CONFIG)
    with pytest.raises(AuthProviderAlreadyExists):
        providers.create(created(), cmd, NOW)


def test_an_update_without_a_secret_keeps_the_stored_one() -> None:
    state = created()
    new = msgspec.structs.replace(
        CONFIG, oidc=msgspec.structs.replace(OIDC, client_secret="", client_id="c2")
    )
    after = providers.replay(trip([*providers.create(None, _create(), NOW), *update(state, new)]))
    assert after is not None
    assert after.config.oidc is not None
    assert after.config.oidc.client_secret == "sealed:v1:abc"
    assert after.config.oidc.client_id == "c2"


def _create() -> CreateAuthProvider:
    return CreateAuthProvider(command_id=uuid4(), provider_id=PID, org_id=ORG, config=CONFIG)


def test_the_same_configuration_is_a_no_op() -> None:
    assert update(created(), CONFIG) == []


def test_the_type_cannot_change() -> None:
    saml = ProviderConfig(display_name="IdP", saml=SamlSettings(idp_metadata_xml="<x/>"))
    with pytest.raises(InvalidProviderConfig):
        update(created(), saml)


def test_another_organisations_provider_is_not_found() -> None:
    with pytest.raises(AuthProviderNotFound):
        update(created(), CONFIG, org=OTHER)
    with pytest.raises(AuthProviderNotFound):
        providers.delete(
            created(), DeleteAuthProvider(command_id=uuid4(), provider_id=PID, org_id=OTHER), NOW
        )


def test_a_deleted_provider_is_gone_and_a_stale_version_refused() -> None:
    state = created()
    with pytest.raises(VersionMismatch):
        providers.delete(state, DeleteAuthProvider(command_id=uuid4(), provider_id=PID, org_id=ORG,
                                                   expected_version=7), NOW)  # fmt: skip
    events = providers.delete(state, DeleteAuthProvider(command_id=uuid4(), provider_id=PID, org_id=ORG), NOW)
    gone = providers.evolve(state, events[0])
    assert gone.deleted
    assert gone.version == 2
    with pytest.raises(AuthProviderNotFound):
        update(gone, CONFIG)


@pytest.mark.parametrize(
    "config",
    [
        ProviderConfig(display_name="neither"),
        ProviderConfig(display_name="both", oidc=OIDC, saml=SamlSettings(idp_metadata_xml="<x/>")),
        ProviderConfig(display_name="x", oidc=msgspec.structs.replace(OIDC, scopes=("email",))),
        ProviderConfig(display_name="x", oidc=msgspec.structs.replace(OIDC, scopes=("openid", "a b"))),
        ProviderConfig(
            display_name="x", oidc=msgspec.structs.replace(OIDC, issuer_url="javascript:alert(1)")
        ),
        ProviderConfig(display_name="x", oidc=msgspec.structs.replace(OIDC, issuer_url="https://idp/#f")),
        ProviderConfig(display_name="x", oidc=msgspec.structs.replace(OIDC, client_id=" ")),
        ProviderConfig(display_name="x", oidc=OIDC, default_role="org_admin"),
        ProviderConfig(display_name="x", oidc=OIDC, group_roles={"g": "owner"}),
        ProviderConfig(display_name="x", oidc=OIDC, email_domains=("localhost",)),
        ProviderConfig(display_name="x", saml=SamlSettings()),
        ProviderConfig(display_name=" ", oidc=OIDC),
    ],
)
def test_malformed_configurations_are_refused(config: ProviderConfig) -> None:
    with pytest.raises(InvalidArgument):  # InvalidProviderConfig, or BlankName for the name
        check_config(config)


scopes = st.lists(st.from_regex(r"[a-z][a-z0-9_:.-]{0,20}", fullmatch=True), max_size=5)
domains = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,10}\.(com|org|io)", fullmatch=True), max_size=4)
ROLES = ["org_admin", "org_member", "viewer"]
groups = st.dictionaries(st.text(min_size=1, max_size=20), st.sampled_from(ROLES), max_size=4)


@given(scopes, domains, groups, st.sampled_from(["org_member", "viewer"]))
def test_checking_is_idempotent_and_round_trips(
    extra: list[str], mail: list[str], mapping: dict[str, str], role: str
) -> None:
    oidc = msgspec.structs.replace(OIDC, scopes=("openid", *extra))
    config = ProviderConfig(display_name="P", oidc=oidc, email_domains=tuple(mail), group_roles=mapping,
                            default_role=role)  # fmt: skip
    once = check_config(config)
    assert check_config(once) == once
    assert once.oidc is not None
    assert once.oidc.scopes[0] == "openid"
    assert msgspec.json.decode(msgspec.json.encode(once), type=ProviderConfig) == once


@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_the_version_counts_every_change(flips: list[bool]) -> None:
    history: list[AuthProviderEvent] = list(providers.create(None, _create(), NOW))
    for enabled in flips:
        state = providers.replay(history)
        assert state is not None
        history += update(state, msgspec.structs.replace(CONFIG, enabled=enabled))
    final = providers.replay(trip(history))
    assert final is not None
    assert final.version == len(history)
    assert final.config.enabled == flips[-1]


def test_the_system_organisation_never_requires_sso() -> None:
    create = CreateOrg(command_id=uuid4(), org_id=ORG, name="S", is_system=True)
    system = orgs.replay(orgs.create_org(None, create, NOW))
    with pytest.raises(SystemOrgSsoRefused):
        orgs.set_sso_requirement(
            system, SetOrgSsoRequirement(command_id=uuid4(), org_id=ORG, require_sso=True), NOW
        )


def test_an_org_toggles_its_sso_requirement() -> None:
    born = orgs.create_org(None, CreateOrg(command_id=uuid4(), org_id=ORG, name="T"), NOW)
    on = SetOrgSsoRequirement(command_id=uuid4(), org_id=ORG, require_sso=True)
    after = orgs.replay(trip([*born, *orgs.set_sso_requirement(orgs.replay(born), on, NOW)]))
    assert after is not None
    assert after.require_sso
    assert after.version == 2
    assert orgs.set_sso_requirement(after, on, NOW) == []
