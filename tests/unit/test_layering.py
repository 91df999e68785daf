"""Dependencies point inward (DESIGN section 1): checked over every module's imports with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {
    "domain",
    "commands",
    "projections",
    "readmodels",
    "gateway",
    "sync_broadcaster",
    "stats_worker",
    "schemas",
    "stitchd_sdk",
    "stitchd",
    "telemetry",
    "tests",
}
# package -> first-party packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "commands": {"domain", "telemetry"},
    "projections": {"domain", "readmodels", "telemetry"},
    "readmodels": {"domain"},
    "gateway": {"domain", "commands", "readmodels", "schemas", "telemetry"},
    "sync_broadcaster": {"domain", "readmodels", "schemas", "telemetry"},
    "stats_worker": {"domain", "schemas", "telemetry"},
    "schemas": {"domain"},
    "telemetry": set(),  # metrics, probes, the admin server: used by every process, uses none
    "stitchd_sdk": {"domain", "schemas"},
}
THIRD_PARTY_ALLOWED_IN_DOMAIN = {"msgspec", "mmh3", "re2"}
SERVER_ONLY = {
    "litestar",
    "psycopg",
    "psycopg_pool",
    "nats",
    "clickhouse_connect",
    "chdb",
    "uvicorn",
    "pgserver",
    "prometheus_client",
    "cryptography",
}


def _package_dir(pkg: str) -> Path:
    return ROOT / "sdk" / pkg if pkg == "stitchd_sdk" else ROOT / pkg


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(pkg: str) -> list[Path]:
    return [p for p in _package_dir(pkg).rglob("*.py") if "generated" not in p.parts]


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_package_imports_only_inner_layers(pkg: str) -> None:
    for path in _modules(pkg):
        bad = (_imports(path) & FIRST_PARTY) - ALLOWED[pkg] - {pkg}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_domain_imports_only_stdlib_msgspec_mmh3_re2() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in _modules("domain"):
        extra = _imports(path) - stdlib - THIRD_PARTY_ALLOWED_IN_DOMAIN - {"domain"}
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


@pytest.mark.parametrize("pkg", ["stitchd_sdk", "schemas", "domain"])
def test_sdk_side_never_imports_server_dependencies(pkg: str) -> None:
    for path in _modules(pkg):
        bad = _imports(path) & SERVER_ONLY
        assert not bad, f"{path.relative_to(ROOT)} imports server-only {sorted(bad)}"
