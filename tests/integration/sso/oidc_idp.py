"""A real OpenID Provider for tests: authlib's AuthorizationServer with the authorization-code grant,
the OpenID Connect `OpenIDCode` extension and PKCE (RFC 7636), RSA-signed ID tokens and a JWKS
endpoint, served over HTTP by the standard library on a free port in a thread of the test process.

Only what a test steers is configurable (`OidcIdp` attributes): the user who "logs in" at the IdP,
the signing key (rotate), the audience, the token lifetime and a tampered-signature switch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

CLIENT_ID = "stitchd-test-client"
CLIENT_SECRET = "idp-client-secret-Zq8v1LmN4pX7wR2t"  # the string the secret-grep test hunts for


@dataclass
class IdpUser:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Ada Lovelace"
    groups: list[str] = field(default_factory=list)

    def get_user_id(self) -> str:
        return self.sub


@dataclass
class Client:
    redirect_uris: list[str]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in ("openid", "email", "profile", "groups"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: IdpUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: dict[str, str], params: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(params)
        self._params = params

    @property
    def args(self) -> dict[str, str]:
        return self._params

    @property
    def form(self) -> dict[str, str]:
        return self._params


class OidcIdp:
    """The provider's state; `issuer` is its base URL once served."""

    def __init__(self, redirect_uris: list[str]) -> None:
        self.issuer = ""
        self.client = Client(redirect_uris=redirect_uris)
        self.user = IdpUser(sub="idp-user-1", email="ada@example.com")
        self.codes: dict[str, Code] = {}
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})]
        self.signing = self.keys[0]
        self.audience: str | None = None  # None: the client id
        self.expires_in = 3600
        self.tamper = False
        self.jwks_fetches = 0
        self.token_statuses: list[int] = []
        self.server = self._server()

    def rotate(self, *, keep_old: bool = False) -> None:
        """A new signing key with a new kid; the JWKS serves it (and the old one when `keep_old`)."""
        fresh = RSAKey.generate_key(2048, parameters={"kid": f"key-{len(self.keys) + 1}", "use": "sig"})
        self.keys = [*self.keys, fresh] if keep_old else [fresh]
        self.signing = fresh

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _server(self) -> AuthorizationServer:
        idp = self

        class Server(AuthorizationServer):  # type: ignore[misc]
            def query_client(self, client_id: str) -> Client | None:
                return idp.client if client_id == idp.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                return None

            def create_oauth2_request(self, request: Request) -> Request:
                return request

            def create_json_request(self, request: Request) -> Request:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
                return status, body, headers

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                return None

        class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                p = request.payload.data
                idp.codes[code] = Code(
                    code=code, client_id=request.client.client_id, redirect_uri=p.get("redirect_uri", ""),
                    scope=request.scope, user=request.user, nonce=p.get("nonce"),
                    code_challenge=p.get("code_challenge"),
                    code_challenge_method=p.get("code_challenge_method"),
                )  # fmt: skip

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = idp.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                idp.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> IdpUser:
                return authorization_code.user

        class IdToken(OpenIDCode):  # type: ignore[misc]
            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return idp.signing

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": str(idp.signing.kid)}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                return {
                    "iss": idp.issuer,
                    "aud": idp.audience or client.client_id,
                    "exp": now + idp.expires_in,
                }

            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return False

            def generate_user_info(self, user: IdpUser, scope: str) -> dict[str, Any]:
                return {"sub": user.sub, "email": user.email, "email_verified": user.email_verified,
                        "name": user.name, "groups": user.groups}  # fmt: skip

        server = Server()
        server.register_token_generator(
            "default", BearerTokenGenerator(lambda *a, **k: generate_token(42), None, lambda *a, **k: 3600)
        )
        server.register_grant(Grant, [CodeChallenge(required=True), IdToken(require_nonce=True)])
        return server

    def authorize(self, request: Request) -> tuple[int, Any, Any]:
        grant = self.server.get_consent_grant(request, end_user=self.user)
        answer: tuple[int, Any, Any] = self.server.create_authorization_response(
            request, grant_user=self.user, grant=grant
        )
        return answer

    def token(self, request: Request) -> tuple[int, Any, Any]:
        status, body, headers = self.server.create_token_response(request)
        self.token_statuses.append(status)
        if self.tamper and status == 200:
            answer = json.loads(body) if isinstance(body, str) else dict(body)
            head, payload, signature = answer["id_token"].split(".")
            flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
            answer["id_token"] = ".".join((head, payload, flipped))
            body = answer
        return status, body, headers


def _handler(idp: OidcIdp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, status: int, body: Any, headers: Any) -> None:
            raw = body if isinstance(body, str) else json.dumps(body or {})
            self.send_response(status)
            sent = dict(headers or [])
            sent.setdefault("Content-Type", "application/json")
            for name, value in sent.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw.encode())))
            self.end_headers()
            self.wfile.write(raw.encode())

        def _request(self, params: dict[str, str]) -> Request:
            return Request(self.command, idp.issuer + self.path, dict(self.headers.items()), params)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._send(200, idp.discovery(), [])
            elif parts.path == "/jwks":
                idp.jwks_fetches += 1
                self._send(200, idp.jwks(), [])
            elif parts.path == "/authorize":
                self._send(*idp.authorize(self._request(dict(parse_qsl(parts.query)))))
            else:
                self._send(404, {"error": "not_found"}, [])

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if urlsplit(self.path).path == "/token":
                self._send(*idp.token(self._request(form)))
            else:
                self._send(404, {"error": "not_found"}, [])

    return Handler


@contextmanager
def serve_idp(redirect_uris: list[str]) -> Iterator[OidcIdp]:
    """The provider on 127.0.0.1 and a free port for the block (plain HTTP: tests only)."""
    idp = OidcIdp(redirect_uris)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    idp.issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
