"""STITCHD_SSO_* settings (issue 13): parsed once, malformed values stop the start without echoing keys."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from stitchd.gateway_main import sso_settings
from stitchd.settings import Settings, SettingsError


def test_defaults_are_safe() -> None:
    s = sso_settings(Settings.from_env({}))
    assert s.secret_key is None
    assert not s.allow_private_idp
    assert s.require_https
    assert s.state_ttl == timedelta(minutes=10)


def test_every_setting_is_read() -> None:
    key = base64.b64encode(b"z" * 32).decode()
    env = {
        "STITCHD_SSO_SECRET_KEY": key, "STITCHD_SSO_ALLOW_PRIVATE_IDP": "true",
        "STITCHD_SSO_REQUIRE_HTTPS": "false", "STITCHD_SSO_PUBLIC_URL": "https://flags.example.com/",
        "STITCHD_SSO_HTTP_TIMEOUT_SECONDS": "3", "STITCHD_SSO_STATE_TTL_SECONDS": "120",
    }  # fmt: skip
    s = sso_settings(Settings.from_env(env))
    assert s.secret_key == b"z" * 32
    assert s.allow_private_idp
    assert not s.require_https
    assert s.public_url == "https://flags.example.com"
    assert s.http_timeout_seconds == 3.0
    assert s.state_ttl == timedelta(seconds=120)
    assert key not in repr(Settings.from_env(env))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STITCHD_SSO_SECRET_KEY", base64.b64encode(b"short").decode()),
        ("STITCHD_SSO_SECRET_KEY", "not base64 !!"),
        ("STITCHD_SSO_ALLOW_PRIVATE_IDP", "maybe"),
        ("STITCHD_SSO_PUBLIC_URL", "flags.example.com"),
        ("STITCHD_SSO_STATE_TTL_SECONDS", "0"),
    ],
)
def test_malformed_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        Settings.from_env({name: value})
    if name == "STITCHD_SSO_SECRET_KEY":
        assert value not in str(refused.value)
