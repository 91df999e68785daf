"""What a provider configuration must satisfy, whatever the provider's state (pure, no IO)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import msgspec

from domain.auth_providers.events import OidcSettings, ProviderConfig, SamlSettings
from domain.errors import InvalidProviderConfig
from domain.ids import check_name
from domain.tenancy.events import OrgRole

MAX_URL = 2048
MAX_SCOPES = 20
MAX_GROUP_ROLES = 100
MAX_DOMAINS = 50
MAX_TEXT = 1024
MAX_METADATA_XML = 256 * 1024
DEFAULT_ROLES = frozenset({OrgRole.ORG_MEMBER.value, OrgRole.VIEWER.value})
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")  # RFC 6749 scope-token
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _bad(message: str) -> InvalidProviderConfig:
    return InvalidProviderConfig(message)


def check_url(url: str, *, what: str) -> str:
    """An absolute http(s) URL with a host and no credentials (the transport policy is the gateway's)."""
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("https", "http") or not parts.hostname:
        raise _bad(f"{what} must be an absolute http(s) URL of at most {MAX_URL} characters")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise _bad(f"{what} must not carry credentials or a fragment")
    return url


def _text(value: str, *, what: str, required: bool = False) -> str:
    stripped = value.strip()
    if len(stripped) > MAX_TEXT or (required and not stripped):
        raise _bad(f"{what} must be {'1' if required else '0'}-{MAX_TEXT} characters")
    return stripped


def check_oidc(oidc: OidcSettings) -> OidcSettings:
    """Issuer URL, client id and scopes (which must include `openid`)."""
    scopes = tuple(dict.fromkeys(oidc.scopes))
    if "openid" not in scopes or len(scopes) > MAX_SCOPES or not all(_SCOPE.fullmatch(s) for s in scopes):
        raise _bad(f"scopes must include 'openid': at most {MAX_SCOPES} RFC 6749 scope tokens")
    return msgspec.structs.replace(
        oidc,
        issuer_url=check_url(oidc.issuer_url.rstrip("/"), what="issuer_url"),
        client_id=_text(oidc.client_id, what="client_id", required=True),
        scopes=scopes,
    )


def check_saml(saml: SamlSettings) -> SamlSettings:
    """Exactly one metadata source; bounded texts."""
    url, xml = saml.idp_metadata_url.strip(), saml.idp_metadata_xml.strip()
    if bool(url) == bool(xml):
        raise _bad("exactly one of idp_metadata_url and idp_metadata_xml must be set")
    if url:
        check_url(url, what="idp_metadata_url")
    if len(xml.encode()) > MAX_METADATA_XML:
        raise _bad(f"idp_metadata_xml must be at most {MAX_METADATA_XML} bytes")
    return SamlSettings(
        idp_metadata_url=url, idp_metadata_xml=xml,
        name_id_format=_text(saml.name_id_format, what="name_id_format"),
        sp_entity_id=_text(saml.sp_entity_id, what="sp_entity_id"),
    )  # fmt: skip


def _domains(domains: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(d.strip().lower().lstrip("@") for d in domains))
    if len(cleaned) > MAX_DOMAINS or not all(_DOMAIN.fullmatch(d) for d in cleaned):
        raise _bad(f"email_domains must be at most {MAX_DOMAINS} domain names such as example.com")
    return cleaned


def _group_roles(mapping: dict[str, str]) -> dict[str, str]:
    roles = {r.value for r in OrgRole}
    if len(mapping) > MAX_GROUP_ROLES:
        raise _bad(f"group_roles may map at most {MAX_GROUP_ROLES} groups")
    for group, role in mapping.items():
        if not 0 < len(group) <= 256 or role not in roles:
            raise _bad(f"group_roles maps 1-256 character group names to one of {sorted(roles)}")
    return dict(mapping)


def check_config(config: ProviderConfig) -> ProviderConfig:
    """The configuration normalised, or InvalidProviderConfig naming the broken rule."""
    if (config.oidc is None) == (config.saml is None):
        raise _bad("exactly one of oidc and saml must be set")
    if config.default_role not in DEFAULT_ROLES:
        raise _bad(f"default_role must be one of {sorted(DEFAULT_ROLES)}")
    return msgspec.structs.replace(
        config,
        display_name=check_name(config.display_name, what="display name"),
        group_roles=_group_roles(config.group_roles),
        email_domains=_domains(config.email_domains),
        oidc=None if config.oidc is None else check_oidc(config.oidc),
        saml=None if config.saml is None else check_saml(config.saml),
    )
