"""Issue 9 item 15: a request path full of `a-a-a-…` with a NUL answers 4xx, and the line the error
handler logs about it carries the path clipped to 256 characters with its length, redacted in time."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from gateway.errors import LOGGED_INPUT_CHARS
from stitchd.logging import configure_logging
from stitchd.settings import Settings
from tests.integration.gateway.support import Api, api_fixture  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The process's real logging set-up (redacting filter included) writing into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging(Settings(app_env="production"), out)  # JSON: one record per line
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.mark.timeout(120, method="thread")
async def test_a_nul_in_a_long_path_is_refused_and_logged_clipped(api: Api, log_stream: io.StringIO) -> None:
    tenant = await api.tenant()
    key = "a-" * 8000 + "%00"
    for path in (
        f"/v1/environments/{tenant.environment_id}/flags/{key}",
        f"/v1/environments/{tenant.environment_id}/segments/{key}",
        f"/v1/environments/{tenant.environment_id}/audit?actor={key}",
    ):
        response = await api.call("GET", path, token=tenant.token)
        assert 400 <= response.status_code < 500, (path[:80], response.status_code, response.text[:200])
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    gateway = [r["message"] for r in records if r["logger"].startswith("gateway")]
    assert gateway, "the error handler logged the refused requests"
    for message in gateway:
        assert len(message) < 2 * LOGGED_INPUT_CHARS + 200, message[:300]
    assert sum(bool(re.search(r"… \(\d{5} chars\)", m)) for m in gateway) >= 2  # both long paths
