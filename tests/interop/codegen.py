"""Compile `schemas/proto` with grpcio-tools (`--python_out --grpc_python_out`), as a third party would.

The generated modules live under a top-level `stitchd` package, which clashes with our own `stitchd`
CLI package; `load_grpcio_modules` imports them with our package briefly set aside, then puts it back.
Already-imported generated modules keep working: they hold direct references to their dependencies.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pool, message_factory  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import Message as PbMessage  # type: ignore[import-untyped, unused-ignore]

from schemas.build import PROTO_ROOT, proto_files

PACKAGE = "stitchd"


class GrpcioCodegenError(RuntimeError):
    """grpc_tools.protoc refused the protos."""


def compile_grpcio(out_dir: Path) -> list[str]:
    """Write `*_pb2.py` and `*_pb2_grpc.py` for every proto; returns their module names."""
    from grpc_tools import protoc

    protos = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={files('grpc_tools') / '_proto'}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *protos,
        ]
    )
    if status != 0:
        raise GrpcioCodegenError(f"grpc_tools.protoc exited with {status}")
    for directory in [out_dir / PACKAGE, *(out_dir / PACKAGE).rglob("*")]:
        if directory.is_dir():
            # Regular packages, so they win over our own `stitchd` while it is set aside.
            (directory / "__init__.py").touch()
    stems = [p.removesuffix(".proto").replace("/", ".") for p in protos]
    return [f"{stem}{suffix}" for stem in stems for suffix in ("_pb2", "_pb2_grpc")]


@contextmanager
def _own_package_set_aside(path: Path) -> Iterator[None]:
    saved = {n: m for n, m in sys.modules.items() if n == PACKAGE or n.startswith(PACKAGE + ".")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(path))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)


def load_grpcio_modules(out_dir: Path) -> dict[str, ModuleType]:
    """Compile into `out_dir` and import every generated module, keyed by module name."""
    names = compile_grpcio(out_dir)
    with _own_package_set_aside(out_dir):
        return {name: importlib.import_module(name) for name in names}


def pb_class(name: str) -> type[PbMessage]:
    """The official-runtime class for a protobuf full name (its module must be loaded)."""
    descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    cls: type[PbMessage] = message_factory.GetMessageClass(descriptor)
    return cls


@pytest.fixture(scope="session")
def grpcio_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """Every `*_pb2` / `*_pb2_grpc` module, keyed by module name, generated once per session."""
    return load_grpcio_modules(tmp_path_factory.mktemp("grpcio_codegen"))
