"""OpenID Connect login (authorization code + PKCE), built on authlib (request shapes, client auth,
PKCE) and joserfc (JWS/JWT verification): nothing of JOSE is hand-rolled here.

authorize: load the provider, discover the issuer, store {nonce, PKCE verifier} under a fresh `state`
(server side, single use, short-lived) and answer the IdP's authorization URL.
callback: consume the state (it must name this provider and redirect URI), exchange the code at the
token endpoint, verify the ID token (signature against the issuer's JWKS, refetched once on an unknown
`kid`; `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`), then `provisioning.sso_login`.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import msgspec
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from domain.auth_providers.events import OidcSettings
from domain.auth_providers.provider import AuthProvider
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.sso.jwks import Discovery
from gateway.sso.outbound import IdpUnavailable, bounded_request, idp_client
from gateway.sso.provisioning import AssertedIdentity
from gateway.sso.state import put_state, take_state

KIND = "oidc"
# Asymmetric only: an HS256 token would be keyed by the client secret, which the gateway also holds.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY_SECONDS = 60
MAX_GROUPS = 1000


class LoginRefused(Unauthenticated):
    """The IdP's answer does not prove who logs in (state, code, token or claims): nothing is issued."""


def oidc_of(provider: AuthProvider) -> OidcSettings:
    if provider.config.oidc is None:
        raise InvalidArgument("this provider is not an OpenID Connect provider")
    return provider.config.oidc


def check_redirect_uri(uri: str) -> str:
    """An absolute http(s) URI without a fragment (RFC 6749 3.1.2); the IdP checks it is registered."""
    parts = httpx.URL(uri)
    if parts.scheme not in ("https", "http") or not parts.host or parts.fragment:
        raise InvalidArgument("redirect_uri must be an absolute http(s) URI without a fragment")
    return uri


def check_issuer_transport(deps: GatewayDeps, issuer: str) -> None:
    if deps.sso.require_https and not issuer.startswith("https://"):
        raise IdpUnavailable("issuer_url must be https (STITCHD_SSO_REQUIRE_HTTPS)")


async def authorize_url(deps: GatewayDeps, provider: AuthProvider, redirect_uri: str) -> tuple[str, str]:
    """(the IdP authorization URL, the state in it)."""
    oidc = oidc_of(provider)
    check_issuer_transport(deps, oidc.issuer_url)
    async with idp_client(deps.sso) as client:
        found = await deps.oidc_cache().discovery(client, oidc.issuer_url, deps.sso, deps.clock())
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
    state = await put_state(
        deps.db, kind=KIND, provider_id=provider.id, org_id=provider.org_id, redirect_uri=redirect_uri,
        data={"nonce": nonce, "verifier": verifier}, now=deps.clock(), ttl=deps.sso.state_ttl,
    )  # fmt: skip
    url = prepare_grant_uri(
        found.authorization_endpoint, oidc.client_id, "code", redirect_uri=redirect_uri,
        scope=" ".join(oidc.scopes), state=state, nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256",
    )  # fmt: skip
    return str(url), state


def _token_request(
    oidc: OidcSettings, secret: str, code: str, redirect_uri: str, verifier: str
) -> tuple[dict[str, str], str]:
    """(headers, body) of the code exchange: client_secret_basic with a secret, else a public client."""
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    method = "client_secret_basic" if secret else "none"
    _, headers, body = ClientAuth(oidc.client_id, secret, method).prepare("POST", "", headers, body)
    return headers, body


async def _exchange(client: httpx.AsyncClient, deps: GatewayDeps, provider: AuthProvider, found: Discovery,
                    code: str, redirect_uri: str, verifier: str) -> str:  # fmt: skip
    """The ID token the token endpoint answers for the code (a refused code is a refused login)."""
    oidc = oidc_of(provider)
    headers, body = _token_request(
        oidc, deps.secret_box().open(provider.id, oidc.client_secret), code, redirect_uri, verifier
    )
    status, raw = await bounded_request(
        client, "POST", found.token_endpoint, limit=deps.sso.max_response_bytes, headers=headers, content=body
    )
    if status in (400, 401):
        raise LoginRefused("the identity provider refused the authorization code")
    if status != 200:
        raise IdpUnavailable(f"identity provider token endpoint answered HTTP {status}")
    try:
        answer = msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.DecodeError:
        raise IdpUnavailable("identity provider token answer is not JSON") from None
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise LoginRefused("the identity provider answered no ID token")
    return id_token


def _claims(id_token: str, keys: KeySet, oidc: OidcSettings, nonce: str, now: int) -> dict[str, Any]:
    token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": oidc.issuer_url}, aud={"essential": True, "value": oidc.client_id},
        exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )  # fmt: skip
    registry.validate(token.claims)
    claims = dict(token.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != oidc.client_id:  # OpenID Connect Core 3.1.3.7
        raise LoginRefused("ID token has several audiences and names another authorized party")
    return claims


async def verify_id_token(client: httpx.AsyncClient, deps: GatewayDeps, provider: AuthProvider,
                          id_token: str, nonce: str) -> dict[str, Any]:  # fmt: skip
    """The verified claims; an unknown `kid` refetches the issuer's keys once (bounded)."""
    oidc, cache, now = oidc_of(provider), deps.oidc_cache(), deps.clock()
    keys = await cache.keys(client, oidc.issuer_url, deps.sso, now, refresh=False)
    try:
        try:
            return _claims(id_token, keys, oidc, nonce, int(now.timestamp()))
        except InvalidKeyIdError:
            keys = await cache.keys(client, oidc.issuer_url, deps.sso, now, refresh=True)
            return _claims(id_token, keys, oidc, nonce, int(now.timestamp()))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise LoginRefused(f"invalid ID token ({type(exc).__name__})") from None


def asserted(claims: dict[str, Any]) -> AssertedIdentity:
    """The identity the verified claims assert (`email_verified` must be true, or the string "true")."""
    groups = claims.get("groups", [])
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise LoginRefused("the identity provider asserted no email")
    return AssertedIdentity(
        subject=str(claims["sub"]), email=email,
        email_verified=claims.get("email_verified") in (True, "true"),
        name=str(claims.get("name") or ""),
        groups=tuple(str(g) for g in groups[:MAX_GROUPS]) if isinstance(groups, list) else (),
    )  # fmt: skip


async def callback_identity(deps: GatewayDeps, provider: AuthProvider, code: str, state: str,
                            redirect_uri: str) -> AssertedIdentity:  # fmt: skip
    """Consume the state, exchange the code, verify the ID token: who the IdP says logs in."""
    pending = await take_state(deps.db, state, kind=KIND, now=deps.clock())
    if pending is None or pending.provider_id != provider.id or pending.redirect_uri != redirect_uri:
        raise LoginRefused("unknown, expired or already used login state")
    oidc = oidc_of(provider)
    check_issuer_transport(deps, oidc.issuer_url)
    async with idp_client(deps.sso) as client:
        found = await deps.oidc_cache().discovery(client, oidc.issuer_url, deps.sso, deps.clock())
        id_token = await _exchange(
            client, deps, provider, found, code, redirect_uri, str(pending.data["verifier"])
        )
        claims = await verify_id_token(client, deps, provider, id_token, str(pending.data["nonce"]))
    return asserted(claims)
