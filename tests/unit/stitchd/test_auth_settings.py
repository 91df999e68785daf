"""The identity/auth settings: parsed when a process starts, a typo stops the start with its name."""

from __future__ import annotations

import pytest

from gateway.auth.addresses import parse_networks
from stitchd.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.trusted_proxies == ""
    assert settings.password_hash_concurrency == 4
    assert settings.session_max_age_hours == 720
    assert not parse_networks(settings.trusted_proxies)


def test_values_are_read() -> None:
    env = {
        "STITCHD_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
        "STITCHD_PASSWORD_HASH_CONCURRENCY": "2",
        "STITCHD_SESSION_MAX_AGE_HOURS": "12",
    }
    settings = Settings.from_env(env)
    assert "10.1.2.3" in parse_networks(settings.trusted_proxies)
    assert (settings.password_hash_concurrency, settings.session_max_age_hours) == (2, 12)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STITCHD_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
        ("STITCHD_PASSWORD_HASH_CONCURRENCY", "0"),
        ("STITCHD_PASSWORD_HASH_CONCURRENCY", "²"),
        ("STITCHD_SESSION_MAX_AGE_HOURS", "-1"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
