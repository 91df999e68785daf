"""Memory bounds and quotas come from STITCHD_* variables (positive whole numbers) and reach the domain."""

from __future__ import annotations

import pytest

from domain.quotas import DEFAULT_QUOTAS, Quotas
from stitchd.gateway_main import quotas_of
from stitchd.settings import Limits, Settings, SettingsError


def test_defaults_are_the_domains_defaults() -> None:
    assert quotas_of(Settings.from_env({}).limits) == DEFAULT_QUOTAS


def test_each_limit_is_read_from_its_variable() -> None:
    env = {
        "STITCHD_EXPOSURE_BUFFER_MAX": "50",
        "STITCHD_DEFINITION_HISTORY_BYTES": "4096",
        "STITCHD_QUOTA_PROJECTS_PER_ORG": "3",
        "STITCHD_QUOTA_ENVIRONMENTS_PER_ORG": "4",
        "STITCHD_QUOTA_FLAGS_PER_ORG": "5",
        "STITCHD_QUOTA_SEGMENTS_PER_ORG": "6",
        "STITCHD_QUOTA_SDK_KEYS_PER_ENVIRONMENT": "7",
        "STITCHD_QUOTA_MEMBERS_PER_SEGMENT": "8",
    }
    limits = Settings.from_env(env).limits
    assert (limits.exposure_buffer_max, limits.definition_history_bytes) == (50, 4096)
    assert quotas_of(limits) == Quotas(
        projects_per_org=3,
        environments_per_org=4,
        flags_per_org=5,
        segments_per_org=6,
        sdk_keys_per_environment=7,
        members_per_segment=8,
    )


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "many", "²", " 7"])
def test_a_malformed_limit_names_its_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="STITCHD_QUOTA_FLAGS_PER_ORG"):
        Limits.from_env({"STITCHD_QUOTA_FLAGS_PER_ORG": raw})
