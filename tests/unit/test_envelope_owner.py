"""One owner per name (DESIGN section 12): `events` SQL, JetStream subjects and stream names, and the
stored-event header names are spelled in exactly one module each; everyone else imports them.

The scan reads every string literal of the server and SDK packages with `ast`: a literal that is (or
starts with) a subject or stream name, or that holds `events` SQL, is a copy. Docstrings, comments and
prose mentioning a name are not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "domain",
    "commands",
    "projections",
    "readmodels",
    "gateway",
    "sync_broadcaster",
    "stats_worker",
    "schemas",
    "stitchd",
    "telemetry",
    "sdk/stitchd_sdk",
)
ENVELOPE = "domain/envelope.py"
# name family -> (pattern a literal must not match outside its owner, the owner)
OWNERS: dict[str, tuple[re.Pattern[str], str]] = {
    "events SQL": (re.compile(r"\b(FROM|INTO|JOIN|UPDATE|TABLE)\s+events\b", re.IGNORECASE), ENVELOPE),
    "domain-event subject or stream": (
        re.compile(r"^(stitchd\.events(\.(?!v1\b)|$)|STITCHD_EVENTS$)"),
        ENVELOPE,
    ),
    "stored-event header": (
        re.compile(r"Stitchd-(Position|Type|Stream-Id|Stream-Type|Version|Environment-Id|Body)$"),
        ENVELOPE,
    ),
    "ingest subject or stream": (re.compile(r"^(stitchd\.ingest\b|STITCHD_INGEST$)"), "schemas/ingest.py"),
    "dead-letter subject or stream": (
        re.compile(r"^(stitchd\.dlq\b|STITCHD_DLQ$)"),
        "schemas/dead_letters.py",
    ),
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (a bare string as a body's first statement)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def literals(source: str) -> list[str]:
    """Every string literal of `source` except docstrings (f-string pieces included)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def violations(relative: str, source: str) -> list[str]:
    """The literals of one module that spell a name another module owns."""
    return [
        f"{relative}: {family} {text!r} (owned by {owner})"
        for text in literals(source)
        for family, (pattern, owner) in OWNERS.items()
        if relative != owner and pattern.search(text)
    ]


def _modules() -> list[Path]:
    return [path for pkg in PACKAGES for path in (ROOT / pkg).rglob("*.py") if "generated" not in path.parts]


def test_every_name_is_spelled_only_by_its_owner() -> None:
    found = [v for path in _modules() for v in violations(str(path.relative_to(ROOT)), path.read_text())]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        'Q = "SELECT position FROM events WHERE position > %s"',
        'Q = f"INSERT INTO events ({cols}) VALUES (%s)"',
        'SUBJECTS = "stitchd.events.>"',
        'STREAM = "STITCHD_EVENTS"',
        'H = {"Stitchd-Position": "1"}',
        'S = "stitchd.ingest.>"',
        'D = "STITCHD_DLQ"',
    ],
)
def test_a_copied_name_is_caught(snippet: str) -> None:
    assert violations("readmodels/copy.py", snippet)


def test_docstrings_and_other_tables_are_not_names() -> None:
    snippet = (
        '"""Reads FROM events and publishes on stitchd.events.>."""\n'
        'Q = "SELECT 1 FROM events_archive"\nHELP = "dead letters (STITCHD_DLQ): list"\n'
    )
    assert violations("readmodels/copy.py", snippet) == []
    assert violations(ENVELOPE, 'Q = "SELECT 1 FROM events"') == []


def test_each_owner_spells_what_it_owns() -> None:
    for family, (pattern, owner) in OWNERS.items():
        assert any(pattern.search(text) for text in literals((ROOT / owner).read_text())), family
