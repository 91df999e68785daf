"""`python -m schemas.build` output matches the committed `schemas/generated/`."""

from __future__ import annotations

from pathlib import Path

from schemas.build import GENERATED, PROTO_ROOT, build, proto_files


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.py"))}


def test_committed_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "generated"
    build(target=fresh)
    assert _tree(fresh) == _tree(GENERATED), "run `python -m schemas.build` (just protos) and commit"


def test_every_proto_declares_the_package_of_its_path() -> None:
    for path in proto_files():
        package = ".".join(path.parent.relative_to(PROTO_ROOT).parts)
        assert f"\npackage {package};\n" in path.read_text(), path
