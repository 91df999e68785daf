"""gateway.saml.login over real PostgreSQL (migration 0015) against a real pysaml2 IdP: RelayState
single use and expiry, provider binding, the replay cache, and IdP metadata by HTTPS URL with key
rotation (served by a real TLS server with a trustme certificate)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import trustme
from psycopg_pool import AsyncConnectionPool
from saml2 import samlp

from gateway.saml.errors import SamlConfigError, SamlRejected
from gateway.saml.login import SamlLogin, SamlProvider, SamlSettings
from gateway.saml.metadata import MetadataFetcher
from gateway.saml.protocol import ServiceProvider, sp_metadata_xml
from tests.saml_idp import ACS_URL, SP_ENTITY, SamlIdp

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(pg_url, min_size=1, max_size=4, open=False) as pool:
        yield pool


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> SamlIdp:
    idp = SamlIdp(tmp_path_factory.mktemp("saml-login-idp"))
    idp.trust(sp_metadata_xml(ServiceProvider(entity_id=SP_ENTITY, acs_url=ACS_URL)))
    return idp


def _provider(idp: SamlIdp, provider_id: UUID | None = None) -> SamlProvider:
    return SamlProvider(
        provider_id=provider_id or uuid4(),
        sp_entity_id=SP_ENTITY,
        acs_url=ACS_URL,
        idp_metadata_xml=idp.metadata_xml(),
    )


async def _answer(
    idp: SamlIdp, login: SamlLogin, provider: SamlProvider, **kwargs: Any
) -> tuple[str, str, str]:
    """Initiate, let the IdP parse the request, and return (SAMLResponse, RelayState, request id)."""
    start = await login.initiate(provider)
    request, relay_state = idp.read_request(start.redirect_url)
    assert relay_state == start.relay_state
    b64 = idp.issue(in_response_to=request.id, acs_url=ACS_URL, sp_entity_id=SP_ENTITY, **kwargs)
    return b64, relay_state, request.id


async def test_a_full_round_trip_yields_the_identity(pool: AsyncConnectionPool[Any], idp: SamlIdp) -> None:
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, provider)
    who = await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)
    assert who.email == "ada@example.test"


async def test_the_relay_state_is_stored_only_as_a_hash(pool: AsyncConnectionPool[Any], idp: SamlIdp) -> None:
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    start = await login.initiate(provider)
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT relay_state_hash, request_id FROM saml_pending_requests")
        ).fetchall()
    assert len(rows) == 1
    assert start.relay_state not in rows[0][0]


@pytest.mark.parametrize("relay_state", ["", "not-the-one", "x" * 600])
async def test_a_wrong_relay_state_is_refused(
    pool: AsyncConnectionPool[Any], idp: SamlIdp, relay_state: str
) -> None:
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    b64, _, _ = await _answer(idp, login, provider)
    with pytest.raises(SamlRejected, match="RelayState"):
        await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)


async def test_a_relay_state_of_another_provider_is_refused(
    pool: AsyncConnectionPool[Any], idp: SamlIdp
) -> None:
    login = SamlLogin(db=pool, clock=Clock())
    mine, theirs = _provider(idp), _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, mine)
    with pytest.raises(SamlRejected, match="RelayState"):
        await login.complete(theirs, saml_response_b64=b64, relay_state=relay_state)


async def test_a_replayed_response_is_refused(pool: AsyncConnectionPool[Any], idp: SamlIdp) -> None:
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, provider)
    await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)
    with pytest.raises(SamlRejected):
        await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)


async def test_a_failed_callback_still_uses_up_the_relay_state(
    pool: AsyncConnectionPool[Any], idp: SamlIdp
) -> None:
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, provider)
    with pytest.raises(SamlRejected):
        await login.complete(provider, saml_response_b64=b64[:-8] + "AAAAAAA=", relay_state=relay_state)
    with pytest.raises(SamlRejected, match="RelayState"):
        await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)


async def test_an_expired_relay_state_is_refused(pool: AsyncConnectionPool[Any], idp: SamlIdp) -> None:
    clock = Clock()
    login = SamlLogin(db=pool, clock=clock, settings=SamlSettings(request_ttl_seconds=60))
    provider = _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, provider)
    clock.offset = timedelta(seconds=61)
    with pytest.raises(SamlRejected, match="RelayState"):
        await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)


async def test_an_assertion_id_used_once_never_logs_in_again(
    pool: AsyncConnectionPool[Any], idp: SamlIdp
) -> None:
    """The replay cache on its own: a new request, a new genuinely signed response, a used assertion id."""
    login, provider = SamlLogin(db=pool, clock=Clock()), _provider(idp)
    b64, relay_state, _ = await _answer(idp, login, provider)
    used = await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)

    def reuse(response: samlp.Response) -> None:
        response.assertion[0].id = used.assertion_id

    again, relay_again, _ = await _answer(idp, login, provider, edit=reuse)
    with pytest.raises(SamlRejected, match="replay"):
        await login.complete(provider, saml_response_b64=again, relay_state=relay_again)


async def test_expired_state_rows_are_purged_by_later_writes(
    pool: AsyncConnectionPool[Any], idp: SamlIdp
) -> None:
    clock = Clock()
    login, provider = (
        SamlLogin(db=pool, clock=clock, settings=SamlSettings(request_ttl_seconds=60)),
        _provider(idp),
    )
    await login.initiate(provider)
    clock.offset = timedelta(minutes=5)
    await login.initiate(provider)
    async with pool.connection() as conn:
        count = (await (await conn.execute("SELECT count(*) FROM saml_pending_requests")).fetchone() or [0])[
            0
        ]
    assert count == 1


# --- metadata by URL ----------------------------------------------------------------------------------------


class Document:
    def __init__(self, body: str) -> None:
        self.body, self.hits = body, 0


@pytest.fixture
def https_metadata(tmp_path: Path) -> Iterator[tuple[str, Document, trustme.CA]]:
    """A real HTTPS server (trustme certificate) serving one mutable metadata document."""
    ca, doc = trustme.CA(), Document("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc.hits += 1
            data = doc.body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/metadata", doc, ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_metadata_by_url_follows_a_key_rotation(
    pool: AsyncConnectionPool[Any], tmp_path: Path, https_metadata: tuple[str, Document, trustme.CA]
) -> None:
    url, doc, ca = https_metadata
    old, new = SamlIdp(tmp_path / "old", name="old"), SamlIdp(tmp_path / "new", name="new")
    for idp in (old, new):
        idp.trust(sp_metadata_xml(ServiceProvider(entity_id=SP_ENTITY, acs_url=ACS_URL)))
    doc.body = old.metadata_xml()
    tick = Monotonic()
    async with httpx.AsyncClient(verify=_trust(ca)) as client:
        login = SamlLogin(db=pool, clock=Clock(), metadata=MetadataFetcher(client=client, monotonic=tick))
        provider = SamlProvider(
            provider_id=uuid4(), sp_entity_id=SP_ENTITY, acs_url=ACS_URL, idp_metadata_url=url
        )
        b64, relay_state, _ = await _answer(old, login, provider)
        assert (await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)).email
        assert doc.hits == 1  # cached

        doc.body = new.metadata_xml()  # the IdP rotates its signing key
        tick.now += 120
        b64, relay_state, _ = await _answer(new, login, provider)
        assert (await login.complete(provider, saml_response_b64=b64, relay_state=relay_state)).email
        assert doc.hits == 2  # refetched once, after the signature failed against the cached key


def _trust(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_metadata_urls_must_be_https(pool: AsyncConnectionPool[Any]) -> None:
    async with httpx.AsyncClient() as client:
        login = SamlLogin(db=pool, clock=Clock(), metadata=MetadataFetcher(client=client))
        provider = SamlProvider(
            provider_id=uuid4(),
            sp_entity_id=SP_ENTITY,
            acs_url=ACS_URL,
            idp_metadata_url="http://127.0.0.1:1/m",
        )
        with pytest.raises(SamlConfigError, match="https"):
            await login.initiate(provider)


async def test_an_oversized_metadata_document_is_refused(
    pool: AsyncConnectionPool[Any], https_metadata: tuple[str, Document, trustme.CA]
) -> None:
    url, doc, ca = https_metadata
    doc.body = "<x>" + "a" * 5000 + "</x>"
    async with httpx.AsyncClient(verify=_trust(ca)) as client:
        fetcher = MetadataFetcher(client=client, max_bytes=1024)
        with pytest.raises(SamlConfigError, match="too large"):
            await fetcher.get(url)
