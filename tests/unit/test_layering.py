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
    "edge",
    "telemetry",
    "tests",
}
# package -> first-party packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "commands": {"domain", "telemetry"},
    "projections": {"domain", "readmodels", "telemetry"},
    "readmodels": {"domain", "telemetry"},
    "gateway": {"domain", "commands", "readmodels", "schemas", "telemetry"},
    "sync_broadcaster": {"domain", "readmodels", "schemas", "telemetry"},
    "stats_worker": {"domain", "schemas", "telemetry"},
    "schemas": {"domain"},
    "telemetry": set(),  # metrics, probes, the admin server: used by every process, uses none
    "stitchd_sdk": {"domain", "schemas"},
    # the edge relays the SDK's sync and answers as the gateway and the broadcaster do; no storage
    "edge": {"domain", "schemas", "stitchd_sdk", "gateway", "sync_broadcaster", "stitchd", "telemetry"},
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


STORE_ADAPTERS = {"commands.postgres_store", "commands.memory_store"}


def _module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("pkg", ["gateway", "sync_broadcaster"])
def test_gateway_and_broadcaster_never_import_a_store_adapter(pkg: str) -> None:
    """Writes go through the command bus (DESIGN section 12); the composition root picks the store."""
    for path in _modules(pkg):
        bad = _module_imports(path) & STORE_ADAPTERS
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


# The gateway reads the event log through the read-only port (GatewayDeps.event_log, an
# EventLogReader) and writes only through the bus: no gateway or broadcaster module names the store,
# its type or its changeset append (a bare `.append` is every list's, so the names are what is checked).
STORE_ATTRIBUTES = {"store", "event_store", "append_many"}


def _names_event_store(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "EventStore"
    return isinstance(node, ast.alias) and node.name.split(".")[-1] == "EventStore"


def _store_uses(path: Path) -> set[str]:
    """The store's names `path`'s code uses: `x.store`, `x.append_many`, and the EventStore type."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STORE_ATTRIBUTES:
            found.add(f".{node.attr}")
        elif _names_event_store(node):
            found.add("EventStore")
    return found


@pytest.mark.parametrize("pkg", ["gateway", "sync_broadcaster"])
def test_gateway_and_broadcaster_never_touch_the_event_store(pkg: str) -> None:
    for path in _modules(pkg):
        bad = _store_uses(path)
        assert not bad, f"{path.relative_to(ROOT)} touches the event store: {sorted(bad)}"
