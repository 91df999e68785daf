"""Fixtures by name: the stack, the gateway over it (`api`), and grpcio code generated from our protos."""

from tests.integration.gateway.support import api_fixture
from tests.interop.codegen import grpcio_modules
from tests.stack import stack

__all__ = ["api_fixture", "grpcio_modules", "stack"]
