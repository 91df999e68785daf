"""Every domain error carries a gRPC status code the gateway can map in one place."""

from __future__ import annotations

import pytest

from domain import errors
from domain.errors import DomainError, VersionMismatch, check_version

CODES = {
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "FAILED_PRECONDITION",
    "ABORTED",
    "RESOURCE_EXHAUSTED",
}


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = cls.__subclasses__()
    return found + [sub for c in found for sub in _subclasses(c)]


def test_every_error_has_a_known_code_and_a_docstring() -> None:
    classes = _subclasses(DomainError)
    assert len(classes) > 40
    for cls in classes:
        assert cls.code in CODES, cls
        assert cls.__doc__, cls
        assert cls.__module__ == errors.__name__


def test_the_message_is_kept() -> None:
    err = errors.UnknownVariant("unknown variant 'x'")
    assert err.message == str(err) == "unknown variant 'x'"
    assert err.code == "INVALID_ARGUMENT"


def test_versions_are_checked_only_when_sent() -> None:
    check_version(3, None)
    check_version(3, 3)
    with pytest.raises(VersionMismatch) as caught:
        check_version(3, 2)
    assert caught.value.code == "ABORTED"
