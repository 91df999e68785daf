"""The SAML settings: defaults, values, and a bad value stopping the start with its name."""

from __future__ import annotations

import pytest

from stitchd.settings import Settings, SettingsError

NAMES = (
    "STITCHD_SAML_CLOCK_SKEW_SECONDS",
    "STITCHD_SAML_MAX_RESPONSE_BYTES",
    "STITCHD_SAML_METADATA_CACHE_SECONDS",
)


def _values(settings: Settings) -> tuple[int, int, int]:
    return (
        settings.saml_clock_skew_seconds,
        settings.saml_max_response_bytes,
        settings.saml_metadata_cache_seconds,
    )


def test_defaults() -> None:
    assert _values(Settings.from_env({})) == (60, 262_144, 3600)


def test_values_are_read() -> None:
    env = dict(zip(NAMES, ("5", "4096", "60"), strict=True))
    assert _values(Settings.from_env(env)) == (5, 4096, 60)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
