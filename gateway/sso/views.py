"""Provider state -> HTTP reply, with every secret redacted (the only way a provider leaves the gateway)."""

from __future__ import annotations

from uuid import UUID

from domain.auth_providers.events import ProviderType
from domain.auth_providers.provider import AuthProvider
from gateway.sso.settings import SsoSettings
from schemas.http_sso import AuthProviderReply, LoginProviderEntry, OidcConfigReply, SamlConfigReply


def acs_url(settings: SsoSettings, provider_id: UUID) -> str:
    """Where the IdP posts SAML responses for this provider (the SAML routes serve it)."""
    return f"{settings.public_url.rstrip('/')}/v1/auth/saml/{provider_id}/acs"


def provider_reply(provider: AuthProvider, settings: SsoSettings) -> AuthProviderReply:
    """The seed's AuthProviderResponse: `client_secret` always empty, `has_client_secret` says if set."""
    config = provider.config
    oidc = config.oidc
    saml = config.saml
    return AuthProviderReply(
        id=provider.id, org_id=provider.org_id, provider_type=config.provider_type.value,
        display_name=config.display_name, enabled=config.enabled, created_at=provider.created_at,
        updated_at=provider.updated_at,
        acs_url=acs_url(settings, provider.id) if config.provider_type is ProviderType.SAML else "",
        version=provider.version, default_role=config.default_role, group_roles=dict(config.group_roles),
        email_domains=list(config.email_domains), has_client_secret=bool(oidc and oidc.client_secret),
        oidc=None if oidc is None else OidcConfigReply(
            issuer_url=oidc.issuer_url, client_id=oidc.client_id, client_secret="", scopes=list(oidc.scopes)
        ),
        saml=None if saml is None else SamlConfigReply(
            idp_metadata_url=saml.idp_metadata_url, idp_metadata_xml=saml.idp_metadata_xml,
            name_id_format=saml.name_id_format, sp_entity_id=saml.sp_entity_id,
        ),
    )  # fmt: skip


def login_entry(provider: AuthProvider) -> LoginProviderEntry:
    return LoginProviderEntry(
        id=provider.id,
        org_id=provider.org_id,
        provider_type=provider.config.provider_type.value,
        display_name=provider.config.display_name,
    )
