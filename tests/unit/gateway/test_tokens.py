"""Access tokens: pinned algorithm, issuer, audience and expiry on an injected clock; the dev secret file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth.tokens import (
    JwtSecretError,
    TokenSettings,
    decode_access_token,
    issue_access_token,
    load_jwt_secret,
)
from gateway.errors import Unauthenticated

NOW = datetime(2026, 4, 22, 10, 0, tzinfo=UTC)
SETTINGS = TokenSettings(secret="s" * 64)


def _token(now: datetime = NOW, cfg: TokenSettings = SETTINGS) -> str:
    return issue_access_token(
        cfg, user_id=USER, org_id=ORG, credentials_version=3, session_id=SESSION, now=now
    ).token


USER, ORG, SESSION = uuid4(), uuid4(), uuid4()


def test_issued_token_decodes_to_its_claims() -> None:
    claims = decode_access_token(SETTINGS, _token(), now=NOW + timedelta(hours=1))
    assert (claims.sub, claims.org, claims.cv) == (USER, ORG, 3)
    assert claims.exp - claims.iat == 24 * 3600


def test_default_lifetime_is_24_hours() -> None:
    issued = issue_access_token(
        SETTINGS, user_id=USER, org_id=ORG, credentials_version=0, session_id=SESSION, now=NOW
    )
    assert issued.expires_in == 86400
    assert issued.expires_at == NOW + timedelta(hours=24)


def test_token_is_refused_once_expired() -> None:
    with pytest.raises(Unauthenticated, match="expired"):
        decode_access_token(SETTINGS, _token(), now=NOW + timedelta(hours=24))


@pytest.mark.parametrize(
    "other",
    [
        TokenSettings(secret="t" * 32),
        TokenSettings(secret="s" * 32, issuer="someone-else"),
        TokenSettings(secret="s" * 32, audience="another-api"),
    ],
)
def test_token_from_another_secret_issuer_or_audience_is_refused(other: TokenSettings) -> None:
    with pytest.raises(Unauthenticated):
        decode_access_token(SETTINGS, _token(cfg=other), now=NOW)


@pytest.mark.parametrize("algorithm", ["HS512", "none"])
def test_algorithm_is_pinned(algorithm: str) -> None:
    payload = jwt.decode(_token(), options={"verify_signature": False})
    key = SETTINGS.secret if algorithm != "none" else ""  # pyjwt takes "" as no key for "none"
    forged = jwt.encode(payload, key, algorithm=algorithm)
    with pytest.raises(Unauthenticated):
        decode_access_token(SETTINGS, forged, now=NOW)


def test_token_without_required_claims_is_refused() -> None:
    token = jwt.encode({"iss": "stitchd", "aud": "stitchd-api"}, SETTINGS.secret, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        decode_access_token(SETTINGS, token, now=NOW)


@settings(max_examples=100)
@given(st.text(max_size=300))
def test_any_garbage_is_unauthenticated_and_nothing_else(garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        decode_access_token(SETTINGS, garbage, now=NOW)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(JwtSecretError):
        TokenSettings(secret="short")


def test_secret_is_not_in_repr() -> None:
    assert "s" * 64 not in repr(SETTINGS)


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_jwt_secret(None, data_dir=tmp_path, production=False)
    assert load_jwt_secret(None, data_dir=tmp_path, production=False) == first
    assert len(first) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_production_requires_a_configured_secret(tmp_path: Path) -> None:
    with pytest.raises(JwtSecretError):
        load_jwt_secret(None, data_dir=tmp_path, production=True)
    assert load_jwt_secret("c" * 40, data_dir=tmp_path, production=True) == "c" * 40


@pytest.mark.parametrize("kept", ["", "\n", "short"])
def test_an_empty_or_short_development_secret_file_is_replaced_not_fatal(tmp_path: Path, kept: str) -> None:
    (tmp_path / "jwt_secret").write_text(kept)
    secret = load_jwt_secret(None, data_dir=tmp_path, production=False)
    assert len(secret.encode()) >= 32
    TokenSettings(secret=secret)  # usable
    assert load_jwt_secret(None, data_dir=tmp_path, production=False) == secret


def test_local_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = set(pool.map(lambda _: load_jwt_secret(None, data_dir=tmp_path, production=False), range(16)))
    assert len(found) == 1
