"""The `matches` operator's engine: RE2, which runs in time linear in the input whatever the pattern.

Python's `re` backtracks, so a pattern such as `(?:a|.)` repeated 36 times then `$` takes about 2^36
steps; no shape check can refuse every such pattern without refusing useful ones. RE2 (google-re2)
never backtracks: a search costs O(input length x compiled program size). We cap both factors: the
pattern's length and compiled size when a condition is stored, the matched input when evaluating
(a longer input is a non-match). Server and SDK share this module, so both accept the same syntax:
RE2's (https://github.com/google/re2/wiki/Syntax), which has no backreferences or lookaround, and
where `$` matches only at the end of the text and `\\d`, `\\w`, `\\s`, `\\b` are ASCII (use `\\p{Nd}`,
`\\p{L}` for Unicode classes). A stored pattern RE2 refuses is a non-match, never an error.
"""

from __future__ import annotations

import functools
from typing import Protocol, cast

import re2

MAX_PATTERN_LENGTH = 256
MAX_INPUT_LENGTH = 256
MAX_PROGRAM_SIZE = 5_000  # RE2 instructions; `\p{L}` alone is ~1,200, `^[^@]+@[^@]+$` is ~20
MAX_MEMORY = 256 << 10  # per compiled pattern (program and DFA cache); RE2's default is 8 MiB
_TOO_COMPLEX = f"pattern too complex (compiles to more than {MAX_PROGRAM_SIZE} RE2 instructions)"


class CompiledRegex(Protocol):
    """The part of a compiled `re2` pattern evaluation uses (the package ships no type hints)."""

    @property
    def programsize(self) -> int: ...

    def search(self, text: str) -> object | None: ...


def _options() -> object:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_capture = True  # only "does it match" is asked: groups are dead weight
    return options


_OPTIONS = _options()


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not an acceptable regex, or None when it is (RE2's own parser decides)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_PATTERN_LENGTH} characters"
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return compiled
    if compiled.programsize > MAX_PROGRAM_SIZE:
        return _TOO_COMPLEX
    return None


@functools.lru_cache(maxsize=1024)
def bounded_regex(pattern: str) -> CompiledRegex | None:
    """The compiled pattern, or None when `regex_problem` refuses it."""
    if regex_problem(pattern) is not None:
        return None
    compiled = _compile(pattern)
    return None if isinstance(compiled, str) else compiled


def regex_matches(compiled: CompiledRegex, text: str) -> bool:
    """An unanchored search; false for inputs longer than MAX_INPUT_LENGTH or not encodable as UTF-8."""
    if len(text) > MAX_INPUT_LENGTH:
        return False
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate: not text RE2 (or JSON) can carry
        return False


def _compile(pattern: str) -> CompiledRegex | str:
    """The compiled pattern, or why RE2 refuses it."""
    try:
        return cast(CompiledRegex, re2.compile(pattern, _OPTIONS))
    except re2.error as err:
        reason = _reason(err)
        if reason.startswith("pattern too large"):  # over MAX_MEMORY: the same limit, said the same way
            return _TOO_COMPLEX
        return f"invalid pattern: {reason} (RE2 syntax: no backreferences or lookaround)"
    except UnicodeEncodeError:
        return "invalid pattern: not valid Unicode text"


def _reason(err: Exception) -> str:
    detail = err.args[0] if err.args else "refused"
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
