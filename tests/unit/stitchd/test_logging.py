"""Logging: human lines by default, JSON lines in production, secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchd.logging import REDACTED, configure_logging, redact
from stitchd.settings import Settings

JWT_SECRET = "correct-horse-battery-staple-0123456789"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _log(settings: Settings, emit: str, *args: object, exc: BaseException | None = None) -> str:
    out = io.StringIO()
    configure_logging(settings, out)
    logging.getLogger("stitchd.test").warning(emit, *args, exc_info=exc)
    return out.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_development_logs_are_human_lines() -> None:
    line = _log(Settings(), "relay published %d events", 3)
    assert "WARNING" in line
    assert "stitchd.test: relay published 3 events" in line


@pytest.mark.usefixtures("restore_root")
def test_production_logs_are_json_with_extra_fields() -> None:
    out = io.StringIO()
    configure_logging(Settings(app_env="production"), out)
    logging.getLogger("stitchd.test").info("applied %s", "org.created", extra={"position": 7})
    record = json.loads(out.getvalue())
    assert record["level"] == "INFO"
    assert record["logger"] == "stitchd.test"
    assert record["message"] == "applied org.created"
    assert record["position"] == 7


@pytest.mark.usefixtures("restore_root")
def test_log_level_comes_from_settings() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_level="ERROR"), out)
    logging.getLogger("stitchd.test").warning("hidden")
    logging.getLogger("stitchd.test").error("shown")
    assert "hidden" not in out.getvalue()
    assert "shown" in out.getvalue()


@pytest.mark.usefixtures("restore_root")
@pytest.mark.parametrize("production", [False, True])
def test_secrets_are_redacted_in_messages_arguments_and_tracebacks(production: bool) -> None:
    settings = Settings(app_env="production" if production else "development", jwt_secret=JWT_SECRET)
    try:
        raise RuntimeError(f"bad key sdk_live_abcDEF123456 with secret {JWT_SECRET}")
    except RuntimeError as exc:
        text = _log(
            settings,
            "auth header %s, url %s, body %s",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
            "postgresql://stitchd:hunter2@db:5432/stitchd",
            '{"password": "pa55word!"}',
            exc=exc,
        )
    for secret in ["sdk_live_abcDEF123456", JWT_SECRET, "eyJhbGciOiJIUzI1NiJ9", "hunter2", "pa55word!"]:
        assert secret not in text
    assert REDACTED in text
    assert "postgresql://stitchd:" in text  # the rest stays readable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key=sdk_test_XYZ987 ok", f"key={REDACTED} ok"),
        ("Authorization: Bearer abc.def", f"Authorization: Bearer {REDACTED}"),
        ("nats://user:pw@host:4222", f"nats://user:{REDACTED}@host:4222"),
        ("password=swordfish&user=ann", f"password={REDACTED}&user=ann"),
        ("api_key: 12345", f"api_key: {REDACTED}"),
        ("environment 5 has 3 flags", "environment 5 has 3 flags"),
    ],
)
def test_redact_examples(text: str, expected: str) -> None:
    assert redact(text) == expected


@settings(max_examples=100)
@given(
    before=st.text(max_size=30),
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40),
    after=st.text(max_size=30),
)
def test_a_known_secret_never_survives_redaction(before: str, secret: str, after: str) -> None:
    assert secret not in redact(before + secret + after, [secret])


@settings(max_examples=100)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=6, max_size=40))
def test_any_sdk_key_is_redacted(tail: str) -> None:
    assert f"sdk_live_{tail}" not in redact(f"request with sdk_live_{tail} denied")
