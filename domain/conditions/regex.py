"""Bounded regular expressions: patterns that cannot make Python's backtracking engine stall evaluation.

Python's `re` backtracks, so a hostile pattern could take exponential (nested or alternated repeats,
backreferences) or high-polynomial (many adjacent repeats) time. We refuse those shapes when a
condition is stored, cap the pattern and the matched input, and treat a too-long input as a non-match.
What remains is bounded by a cost estimate: MAX_INPUT_LENGTH search starts times, per quantifier, the
number of repetitions it may try (MAX_INPUT_LENGTH when unbounded) and 2 per alternation; the product
must stay under MAX_COST (two unbounded repeats fit, e.g. `^[^@]+@[^@]+$`; a third does not).
"""

from __future__ import annotations

import functools
import re
import warnings

MAX_PATTERN_LENGTH = 256
MAX_INPUT_LENGTH = 256
MAX_COST = 2 * 10**7  # roughly 50 ms of backtracking on CPython, measured on the worst shapes
_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}", re.ASCII)


class _Scan:
    """Counts quantifiers while walking a pattern; `groups` tracks what each open group contains."""

    def __init__(self) -> None:
        self.cost = MAX_INPUT_LENGTH  # every start position of `re.search`
        self.groups: list[bool] = []  # per open group: contains a quantifier or an alternation

    def mark(self) -> None:
        if self.groups:
            self.groups[-1] = True


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not an acceptable bounded regex, or None when it is."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_PATTERN_LENGTH} characters"
    problem = _shape_problem(pattern)
    if problem is not None:
        return problem
    with warnings.catch_warnings():
        # A FutureWarning means Python will change the pattern's meaning: refuse it instead.
        warnings.simplefilter("error", FutureWarning)
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError, FutureWarning) as err:
            return f"invalid pattern: {err}"
    return None


@functools.lru_cache(maxsize=1024)
def bounded_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when `regex_problem` refuses it."""
    if regex_problem(pattern) is not None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)


def regex_matches(compiled: re.Pattern[str], text: str) -> bool:
    """`re.search`, false for inputs longer than MAX_INPUT_LENGTH."""
    return len(text) <= MAX_INPUT_LENGTH and compiled.search(text) is not None


def _shape_problem(pattern: str) -> str | None:
    scan = _Scan()
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                return "backreferences are not allowed"
            i += 2
            continue
        if ch == "[":
            i = _skip_class(pattern, i)
            continue
        if ch == "(":
            if pattern.startswith("(?P=", i) or pattern.startswith("(?(", i):
                return "backreferences and conditional groups are not allowed"
            scan.groups.append(False)
            # Skip "(?" so the extension marker is not taken for a quantifier.
            i += 2 if pattern.startswith("(?", i) else 1
            continue
        if ch == "|":
            scan.mark()
        if ch == ")" and scan.groups:
            inner = scan.groups.pop()
            width, repeats = _quantifier_at(pattern, i + 1)
            if repeats and inner:
                return "a repeated group may not contain a quantifier or an alternation"
            if inner:
                scan.mark()
        width, repeats = _quantifier_at(pattern, i) if ch in "*+?{" else (0, False)
        if width:
            problem = _count(scan, pattern[i : i + width])
            if problem is not None:
                return problem
            i += width
            continue
        i += 1
    return None


def _count(scan: _Scan, quantifier: str) -> str | None:
    scan.mark()
    scan.cost *= _repetitions(quantifier)
    if scan.cost > MAX_COST:
        return "too many or too wide repeats (backtracking could stall evaluation)"
    return None


def _quantifier_at(pattern: str, i: int) -> tuple[int, bool]:
    """(width, repeats-more-than-once) of a quantifier starting at i, including a lazy/possessive suffix."""
    if i >= len(pattern):
        return 0, False
    ch = pattern[i]
    if ch in "*+?":
        width, repeats = 1, ch != "?"
    elif ch == "{" and (m := _BRACES.match(pattern, i)) and (m.group(1) or m.group(3)):
        width, repeats = m.end() - i, not (m.group(2) == "" and m.group(1) in ("0", "1"))
    else:
        return 0, False
    if i + width < len(pattern) and pattern[i + width] in "?+":
        width += 1
    return width, repeats


def _repetitions(quantifier: str) -> int:
    """How many repetition counts the quantifier lets the engine try."""
    if quantifier[0] in "*+":
        return MAX_INPUT_LENGTH
    m = _BRACES.match(quantifier)
    if m is None:
        return 2  # `?`
    lower = int(m.group(1) or 0)
    if not m.group(2):
        return 1
    if not m.group(3):
        return MAX_INPUT_LENGTH
    return max(min(int(m.group(3)) - lower + 1, MAX_INPUT_LENGTH), 1)


def _skip_class(pattern: str, i: int) -> int:
    """The index after the character class opening at i (or the end of the pattern)."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1
