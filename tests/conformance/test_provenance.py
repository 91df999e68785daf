"""The vendored conformance material is exactly what PROVENANCE.md records, and nothing is missing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conformance.common import CASES_DIR

PROVENANCE = Path(__file__).resolve().parent / "PROVENANCE.md"
LINE = re.compile(r"^([0-9a-f]{64})  \./(\S+)$", re.MULTILINE)


def test_every_vendored_file_matches_its_recorded_hash() -> None:
    recorded = {path: digest for digest, path in LINE.findall(PROVENANCE.read_text())}
    assert len(recorded) > 40
    on_disk = {str(p.relative_to(CASES_DIR)) for p in CASES_DIR.rglob("*") if p.is_file()}
    assert on_disk == set(recorded)
    for path, digest in recorded.items():
        assert hashlib.sha256((CASES_DIR / path).read_bytes()).hexdigest() == digest, path
