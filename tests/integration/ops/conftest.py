"""Fixtures by name: the stack and the gateway over it (`api`)."""

from tests.integration.gateway.support import api_fixture
from tests.stack import stack

__all__ = ["api_fixture", "stack"]
