"""Logging set-up: human-readable lines by default, JSON lines with APP_ENV=production, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec

from stitchd.settings import Settings

REDACTED = "[REDACTED]"
# Whatever a caller managed to put into a log record is cut to these lengths after redaction (the
# gateway already clips request input to 256 characters; this bounds every other line too).
MAX_MESSAGE_CHARS = 8192
MAX_TRACEBACK_CHARS = 65536
QUIET_LOGGERS = ("pgserver",)  # third-party loggers whose INFO lines are start-up chatter
# Third-party loggers that write personal data at every level (pysaml2 logs NameIDs, attribute values
# and whole SAML documents, errors included): silenced whatever LOG_LEVEL says. gateway.saml logs why
# a login was refused, without the document.
SILENT_LOGGERS = ("saml2",)
# Each pattern is linear in the text it scans (issue 9 item 15): a match may start only where a run of
# its characters starts (a lookbehind, not `\b`, which fires inside `a-a-a-...`), every repetition is
# possessive (`*+`, `++`: no backtracking into it), and what follows a run is one fixed character. So a
# failed attempt scans one run and the next attempt starts after it: every character is looked at a
# bounded number of times. `[^\s...]` classes stop at whitespace, so a secret is a whitespace-bounded
# token. Checked by tests/adversarial/test_log_redaction.py on megabyte inputs.
_RUN = r"A-Za-z0-9_\-"  # the characters of SDK keys, JWT segments and key names
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SDK keys (sdk_live_..., sdk_test_...), wherever they start: `sdk_` cannot recur inside `[A-Za-z0-9]`
    (re.compile(r"sdk_[A-Za-z0-9]++_[A-Za-z0-9_\-]++"), REDACTED),
    (re.compile(r"(?i)(bearer\s++)[A-Za-z0-9._~+/=\-]++"), r"\1" + REDACTED),
    # bare JWTs: the first `eyJ` of a run, the rest of that run, then two dot-separated runs
    (
        re.compile(rf"(?<![{_RUN}])(?>([{_RUN}]*?)eyJ[{_RUN}]*+)\.[{_RUN}]++\.[{_RUN}]*+"),
        r"\1" + REDACTED,
    ),
    # URL user:password@ (a password cannot hold `/` or `@` unencoded, RFC 3986 userinfo)
    (re.compile(r"(://[^:/@\s]++:)[^/@\s]++(?=@)"), r"\1" + REDACTED),
    # key = value where the key names a secret: the first such word of a run, the rest of that run
    (
        re.compile(
            rf"(?i)(?<![{_RUN}])((?>[{_RUN}]*?(?:password|passwd|secret|token|api[_-]?key)[{_RUN}]*+)"
            r"[\"']?\s*+[=:]\s*+[\"']?)[^\s\"',;&}]++"
        ),
        r"\1" + REDACTED,
    ),
)
# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    """`text` cut to `limit` characters (its start, or its end), marked with its original length."""
    if len(text) <= limit:
        return text
    if keep_end:
        return f"({len(text)} chars) …{text[-limit:]}"
    return f"{text[:limit]}… ({len(text)} chars)"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with known secret values and secret-looking tokens replaced by [REDACTED]."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, extras and traceback text with secrets redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = clip(redact(record.getMessage(), self._secrets), MAX_MESSAGE_CHARS)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = clip(redact(record.exc_text, self._secrets), MAX_TRACEBACK_CHARS, keep_end=True)
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, clip(redact(value, self._secrets), MAX_MESSAGE_CHARS))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extra fields and exc when present."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return msgspec.json.encode(line, enc_hook=str).decode()


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger to one stderr handler (format per APP_ENV, level per LOG_LEVEL); return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.production:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter([settings.jwt_secret or ""]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(settings.log_level))
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    for leaky in SILENT_LOGGERS:
        logging.getLogger(leaky).setLevel(logging.CRITICAL + 1)
    return handler


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO
