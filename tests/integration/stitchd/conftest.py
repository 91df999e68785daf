"""Fixtures shared with tests/integration/projections: a store on the test database, the relay running."""

from __future__ import annotations

from tests.integration.projections.conftest import relay, store  # noqa: F401
