"""Auth-provider facts. The OIDC client secret enters them only sealed (never in clear).

A provider's whole configuration travels in every `auth_provider.configured` event, so a fold never
needs to merge partial changes; `client_secret` holds the sealed value (`sealed:v1:...`) or "".
"""

from __future__ import annotations

import enum
from uuid import UUID

import msgspec

from domain.events import Event


class ProviderType(enum.StrEnum):
    OIDC = "oidc"
    SAML = "saml"


class OidcSettings(msgspec.Struct, frozen=True, kw_only=True):
    issuer_url: str
    client_id: str
    client_secret: str = ""  # sealed (gateway.sso.secrets); empty when none was given
    scopes: tuple[str, ...] = ("openid", "email", "profile")


class SamlSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly one of `idp_metadata_url` and `idp_metadata_xml` is set."""

    idp_metadata_url: str = ""
    idp_metadata_xml: str = ""
    name_id_format: str = ""
    sp_entity_id: str = ""


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an org admin configures; exactly one of `oidc` and `saml` is set."""

    display_name: str
    enabled: bool = True
    default_role: str = "org_member"  # OrgRole.ORG_MEMBER or OrgRole.VIEWER
    group_roles: dict[str, str] = msgspec.field(default_factory=dict)  # IdP group -> OrgRole
    email_domains: tuple[str, ...] = ()  # discovery by email domain; asserted emails must match when set
    oidc: OidcSettings | None = None
    saml: SamlSettings | None = None

    @property
    def provider_type(self) -> ProviderType:
        return ProviderType.OIDC if self.oidc is not None else ProviderType.SAML


class AuthProviderCreated(Event, frozen=True, kw_only=True, tag="auth_provider.created"):
    org_id: UUID
    config: ProviderConfig


class AuthProviderConfigured(Event, frozen=True, kw_only=True, tag="auth_provider.configured"):
    """The whole new configuration (an update)."""

    config: ProviderConfig


class AuthProviderDeleted(Event, frozen=True, kw_only=True, tag="auth_provider.deleted"):
    pass


AuthProviderEvent = AuthProviderCreated | AuthProviderConfigured | AuthProviderDeleted
