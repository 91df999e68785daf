"""The gateway over a module's stack with SSO settings for local IdPs, a real pysaml2 IdP, and the SAML
login flow as a browser would run it (redirect to the IdP, the IdP's form posted to the ACS URL)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import fromstring

import httpx
import pytest

from gateway.app import create_app
from gateway.sso.settings import SsoSettings
from tests.integration.gateway.support import Api, Clock, Tenant, gateway_deps, http_client
from tests.saml_idp import SamlIdp
from tests.stack import Stack

PUBLIC_URL = "https://stitchd.example.test"
# Metadata URLs in these tests point at 127.0.0.1 over plain HTTP: both policies relaxed.
TEST_SSO = SsoSettings(
    allow_private_idp=True, require_https=False, secret_key=b"s" * 32, public_url=PUBLIC_URL
)


@pytest.fixture(name="saml_idp", scope="module")
def saml_idp_fixture(tmp_path_factory: pytest.TempPathFactory) -> SamlIdp:
    """A real SAML IdP (pysaml2's Server) with its own RSA key and certificate, for the module."""
    return SamlIdp(tmp_path_factory.mktemp("saml-idp"))


@pytest.fixture(name="saml_api", scope="module")
async def saml_api_fixture(module_stack: Stack) -> AsyncIterator[Api]:
    clock = Clock()
    deps = dataclasses.replace(gateway_deps(module_stack, clock), sso=TEST_SSO)
    async with http_client(create_app(deps)) as client:
        await module_stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


@dataclass(frozen=True)
class Provider:
    id: str
    version: int
    acs_url: str
    sp_entity_id: str


async def add_saml_provider(api: Api, tenant: Tenant, idp: SamlIdp, **overrides: Any) -> Provider:
    """A SAML provider for `idp` (inline metadata unless overridden), the IdP told about our SP."""
    body: dict[str, Any] = {
        "display_name": "Example SAML",
        "saml": {"idp_metadata_xml": idp.metadata_xml()},
        "email_domains": ["example.test"],
    }
    body.update(overrides)
    created = (await api.ok("POST", "/v1/management/auth-providers", token=tenant.token, json=body))[
        "provider"
    ]
    metadata = await api.call("GET", f"/v1/auth/saml/{created['id']}/metadata")
    assert metadata.status_code == 200, metadata.text
    idp.trust(metadata.text)
    entity_id = fromstring(metadata.text).get("entityID")
    assert entity_id
    return Provider(
        id=created["id"], version=created["version"], acs_url=created["acs_url"], sp_entity_id=entity_id
    )


async def initiate(api: Api, provider: Provider) -> tuple[str, str]:
    """SamlSsoInitiate: (the IdP redirect URL, the RelayState)."""
    answer = await api.ok("POST", "/v1/auth/saml/sso", json={"provider_id": provider.id})
    return answer["redirect_url"], answer["relay_state"]


def at_idp(idp: SamlIdp, provider: Provider, redirect_url: str, **issue: Any) -> tuple[str, str]:
    """The browser at the IdP (its user logged in there): the form fields it posts back."""
    request, relay_state = idp.read_request(redirect_url)
    assert request.assertion_consumer_service_url == provider.acs_url
    b64 = idp.issue(
        in_response_to=request.id, acs_url=provider.acs_url, sp_entity_id=provider.sp_entity_id, **issue
    )
    return b64, relay_state


async def post_acs(api: Api, provider: Provider, saml_response: str, relay_state: str) -> httpx.Response:
    """The IdP's HTTP-POST binding form, posted by the browser to the provider's ACS URL."""
    path = provider.acs_url.removeprefix(PUBLIC_URL)
    form = {"SAMLResponse": saml_response, "RelayState": relay_state}
    return await api.client.post(path, data=form)


async def saml_login(api: Api, idp: SamlIdp, provider: Provider, **issue: Any) -> httpx.Response:
    url, _ = await initiate(api, provider)
    b64, relay_state = at_idp(idp, provider, url, **issue)
    return await post_acs(api, provider, b64, relay_state)


class Document:
    def __init__(self) -> None:
        self.body, self.hits = "", 0


@pytest.fixture(name="metadata_server")
def metadata_server_fixture(tmp_path: Path) -> Iterator[tuple[str, Document]]:
    """A real HTTP server on 127.0.0.1 serving one mutable IdP metadata document."""
    doc = Document()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc.hits += 1
            data = doc.body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/idp/metadata", doc
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
