"""Issue 9 item 15: log redaction is linear, idempotent and never lets a secret-shaped token through;
user input reaches a log line clipped.

Linearity is checked on one-megabyte adversarial inputs under a timeout: the quadratic patterns of
before took 6.4 s on 16 KB (`a-a-a-…`), so hours on these, while the linear ones take well under a
second. Each input repeats a unit that starts a match attempt at every repetition and fails it late.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchd.logging import MAX_MESSAGE_CHARS, REDACTED, configure_logging, redact
from stitchd.settings import Settings

MEGABYTE = 1 << 20
# Each unit restarts an attempt of one pattern and makes it scan to the end of the text on the old
# patterns: key names (`a-`), JWT starts (`eyJ-`, `eyJa.`), URL userinfo (`://a:`), bearer words, quotes.
ADVERSARIAL_UNITS = [
    "a-",
    "-a_",
    "eyJ-",
    "eyJa.",
    "eyJx.a",
    "://a:",
    "://a:b/",
    "bearer ",
    "sdk_",
    "sdk_a",
    "password-",
    "password ",
    'token"',
    "api_",
]

# Filler never holds an upper-case letter or a digit, and each secret is made of them only: a secret
# found in the output can only have come from the secret itself.
FILLER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.:/@=\"' \t{}&;,", max_size=40)
SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=40)
SHAPES = [
    "sdk_live_{}",
    "sdk_test_{}",
    "Bearer {}",
    "authorization: bearer {}",
    "eyJ{0}.{0}.{0}",
    "postgresql://stitchd:{}@db:5432/stitchd",
    "nats://u:{}@nats:4222",
    "password={}",
    'password: "{}"',
    "client_secret = {}",
    "X-Api-Key: {}",
    "access_token={}",
    "passwd:{}",
]


@pytest.mark.timeout(30, method="signal")
@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_redaction_of_a_megabyte_of_adversarial_text_finishes(unit: str) -> None:
    text = unit * (MEGABYTE // len(unit))
    assert REDACTED in redact(text + " sdk_live_abc_def")  # still redacts, and finished in time


@settings(max_examples=300)
@given(before=FILLER, shape=st.sampled_from(SHAPES), secret=SECRET, after=FILLER)
def test_a_secret_shaped_token_never_survives(before: str, shape: str, secret: str, after: str) -> None:
    text = f"{before} {shape.format(secret)} {after}"
    assert secret not in redact(text)


@settings(max_examples=300)
@given(st.lists(st.one_of(FILLER, SECRET, st.sampled_from(SHAPES).map(lambda s: s.format("ABCD1234")))))
def test_redaction_is_idempotent(parts: list[str]) -> None:
    once = redact("".join(parts))
    assert redact(once) == once


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_redaction_is_idempotent_on_any_text(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The process's real logging set-up (redacting filter included) writing into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging(Settings(), out)
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.mark.timeout(30, method="signal")
def test_a_huge_log_message_is_clipped_after_redaction(log_stream: io.StringIO) -> None:
    logging.getLogger("stitchd.test").warning("value %s", "a-" * MEGABYTE + " sdk_live_abc_def")
    line = log_stream.getvalue()
    assert len(line) < MAX_MESSAGE_CHARS + 200
    assert f"({2 * MEGABYTE + len(' [REDACTED]') + len('value ')} chars)" in line  # length after redaction
    assert "sdk_live_abc_def" not in line


def test_redacted_values_stay_readable() -> None:
    assert redact("x-sdk_live_abc_def y") == f"x-{REDACTED} y"
    assert redact("token-eyJa.b.c") == f"token-{REDACTED}"
    assert redact("https://ann:pw@h/p?q") == f"https://ann:{REDACTED}@h/p?q"
