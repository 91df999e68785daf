"""HTTP bodies of the SSO routes (issue 13), after the seed's auth.v1 management, oidc_login and saml_login
messages (snake_case seed names; Stitchd extensions are marked). Secrets are write-only: every reply
carries `client_secret` empty."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.http_identity import Body, Reply
from schemas.http_types import Version

Text = Annotated[str, msgspec.Meta(max_length=1024)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Secret = Annotated[str, msgspec.Meta(max_length=4096)]
Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Domain = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
DefaultRole = Literal["org_member", "viewer"]
Role = Literal["org_admin", "org_member", "viewer"]
MetadataXml = Annotated[str, msgspec.Meta(max_length=262_144)]


class OidcConfigBody(Body, frozen=True, kw_only=True):
    """`client_secret` in clear on create/update (empty on update keeps the stored one)."""

    issuer_url: Url
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    client_secret: Secret = ""
    scopes: Annotated[list[Scope], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=lambda: ["openid", "email", "profile"]
    )


class SamlConfigBody(Body, frozen=True, kw_only=True):
    """Exactly one of `idp_metadata_url` and `idp_metadata_xml`."""

    idp_metadata_url: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    idp_metadata_xml: MetadataXml = ""
    name_id_format: Text = ""
    sp_entity_id: Text = ""


GroupRoles = Annotated[dict[GroupName, Role], msgspec.Meta(max_length=100)]
Domains = Annotated[list[Domain], msgspec.Meta(max_length=50)]


class CreateAuthProviderBody(Body, frozen=True, kw_only=True):
    """Exactly one of `oidc` and `saml`; `default_role`, `group_roles`, `email_domains` are extensions."""

    display_name: DisplayName
    org_id: UUID | None = None
    enabled: bool = True
    oidc: OidcConfigBody | None = None
    saml: SamlConfigBody | None = None
    default_role: DefaultRole = "org_member"
    group_roles: GroupRoles = msgspec.field(default_factory=dict)
    email_domains: Domains = msgspec.field(default_factory=list)


class UpdateAuthProviderBody(Body, frozen=True, kw_only=True):
    """Fields left out keep their value; `version` is the provider version read (Stitchd extension)."""

    version: Version
    provider_id: UUID | None = None
    display_name: DisplayName | None = None
    enabled: bool | None = None
    oidc: OidcConfigBody | None = None
    saml: SamlConfigBody | None = None
    default_role: DefaultRole | None = None
    group_roles: GroupRoles | None = None
    email_domains: Domains | None = None


class OidcConfigReply(Reply, frozen=True, kw_only=True):
    issuer_url: str
    client_id: str
    client_secret: Literal[""]  # redacted, always
    scopes: list[str]


class SamlConfigReply(Reply, frozen=True, kw_only=True):
    idp_metadata_url: str
    idp_metadata_xml: str
    name_id_format: str
    sp_entity_id: str


class AuthProviderReply(Reply, frozen=True, kw_only=True):
    """The seed's AuthProviderResponse (RFC 3339 times) plus `version`, `default_role`, `group_roles`,
    `email_domains` and `has_client_secret` (Stitchd extensions)."""

    id: UUID
    org_id: UUID
    provider_type: Literal["oidc", "saml"]
    display_name: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    acs_url: str
    version: int
    default_role: str
    group_roles: dict[str, str]
    email_domains: list[str]
    has_client_secret: bool
    oidc: OidcConfigReply | None = None
    saml: SamlConfigReply | None = None


class AuthProviderEnvelope(Reply, frozen=True, kw_only=True):
    """Create/Get/UpdateAuthProviderResponse; `position`: read-your-writes (Stitchd extension)."""

    provider: AuthProviderReply
    position: int | None = None


class AuthProvidersReply(Reply, frozen=True, kw_only=True):
    providers: list[AuthProviderReply]


class DeletedAuthProviderReply(Reply, frozen=True, kw_only=True):
    provider_id: UUID
    position: int | None = None


class SsoSettingsBody(Body, frozen=True, kw_only=True):
    require_sso: bool


class SsoSettingsReply(Reply, frozen=True, kw_only=True):
    """Whether password logins of the organisation's non-system members are refused (SSO_REQUIRED)."""

    org_id: UUID
    require_sso: bool
    position: int | None = None


# --- login ----------------------------------------------------------------------------------------


class LoginProviderEntry(Reply, frozen=True, kw_only=True):
    """A provider a login page offers (discovery); nothing about any account."""

    id: UUID
    org_id: UUID
    provider_type: Literal["oidc", "saml"]
    display_name: str


class LoginProvidersReply(Reply, frozen=True, kw_only=True):
    providers: list[LoginProviderEntry]


RedirectUri = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class OidcAuthorizeBody(Body, frozen=True, kw_only=True):
    provider_id: UUID
    redirect_uri: RedirectUri
    org_id: UUID | None = None


class OidcAuthorizeReply(Reply, frozen=True, kw_only=True):
    redirect_url: str
    state: str  # Stitchd extension: the state value the IdP will send back (also in the URL)


class OidcCallbackBody(Body, frozen=True, kw_only=True):
    provider_id: UUID
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    state: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    redirect_uri: RedirectUri
