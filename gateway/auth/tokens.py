"""Access tokens: HS256 JWTs (algorithm pinned) with issuer, audience, expiry, checked on a given clock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import jwt
import msgspec

from gateway.errors import Unauthenticated

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
SECRET_FILE = "jwt_secret"


class JwtSecretError(ValueError):
    """The JWT secret is missing (in production) or too weak."""


@dataclass(frozen=True)
class TokenSettings:
    """How tokens are signed and how long they live."""

    secret: str = field(repr=False)
    issuer: str = "stitchd"
    audience: str = "stitchd-api"
    ttl: timedelta = timedelta(hours=24)
    refresh_ttl: timedelta = timedelta(days=30)
    session_max_age: timedelta = timedelta(days=30)  # absolute: a session never outlives its login by more

    def __post_init__(self) -> None:
        if len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise JwtSecretError(f"STITCHD_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified access token says: user, org, credentials version, session, token id, lifetime."""

    sub: UUID
    org: UUID
    cv: int
    sid: UUID  # the login session (refresh-token family); the token dies with it
    jti: UUID
    iat: int
    exp: int


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    expires_at: datetime
    expires_in: int


def issue_access_token(
    settings: TokenSettings,
    *,
    user_id: UUID,
    org_id: UUID,
    credentials_version: int,
    session_id: UUID,
    now: datetime,
    session_ends: datetime | None = None,
) -> IssuedToken:
    """A signed access token for the user acting in the org, expiring no later than its session."""
    exp = now + settings.ttl if session_ends is None else min(now + settings.ttl, session_ends)
    payload = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": str(user_id),
        "org": str(org_id),
        "cv": credentials_version,
        "sid": str(session_id),
        "jti": str(uuid4()),
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    token = jwt.encode(payload, settings.secret, algorithm=ALGORITHM)
    return IssuedToken(token=token, expires_at=exp, expires_in=max(0, int((exp - now).total_seconds())))


def decode_access_token(settings: TokenSettings, token: str, *, now: datetime) -> Claims:
    """Verified claims, or Unauthenticated for a bad signature, algorithm, issuer, audience or expiry."""
    try:
        payload = jwt.decode(
            token,
            settings.secret,
            algorithms=[ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            # Expiry is checked below against the injected clock, so tests need no sleeping.
            options={
                "require": ["iss", "aud", "sub", "exp", "iat", "jti", "sid"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        claims = msgspec.convert(payload, Claims, strict=False)
    except (jwt.InvalidTokenError, msgspec.ValidationError):
        raise Unauthenticated("invalid token") from None
    if claims.exp <= int(now.timestamp()):
        raise Unauthenticated("token expired")
    return claims


def new_refresh_token() -> tuple[str, str]:
    """(raw opaque refresh token, its sha256 hex digest for storage)."""
    raw = "rt_" + secrets.token_urlsafe(32)
    return raw, hash_secret(raw)


def hash_secret(raw: str) -> str:
    """sha256 hex digest: high-entropy secrets need no slow hash."""
    return hashlib.sha256(raw.encode()).hexdigest()


def load_jwt_secret(configured: str | None, *, data_dir: Path, production: bool) -> str:
    """The signing secret every process of one deployment shares.

    Production: `STITCHD_JWT_SECRET` is required (replicas on other machines could not agree on a
    generated one). Development: the configured one, else the one kept (mode 0600) in the data
    directory that every local process shares; generated under a file lock, so processes starting
    together agree, and regenerated when the file is empty or too short (a crash while writing it, a
    file truncated by hand) instead of blocking the start.
    """
    if configured:
        return configured
    if production:
        raise JwtSecretError("STITCHD_JWT_SECRET must be set when APP_ENV=production")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    with open(data_dir / f"{SECRET_FILE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        kept = path.read_text().strip() if path.exists() else ""
        if len(kept.encode()) >= MIN_SECRET_BYTES:
            return kept
        secret = secrets.token_urlsafe(48)
        fresh = data_dir / f".{SECRET_FILE}.{secrets.token_hex(4)}"
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret)
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, path)  # atomic: readers see the old file or the whole new one
        return secret


def utc_now() -> datetime:
    return datetime.now(UTC)
