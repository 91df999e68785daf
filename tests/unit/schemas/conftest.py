"""Official-runtime (grpcio-tools) code generated from our protos: the shared session fixture."""

from tests.interop.codegen import grpcio_modules

__all__ = ["grpcio_modules"]
