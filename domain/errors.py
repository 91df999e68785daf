"""Domain errors, each named for the rule it enforces.

`code` is the seed's gRPC status name; the gateway maps codes to HTTP in one place
(NOT_FOUND 404, ALREADY_EXISTS/ABORTED 409, INVALID_ARGUMENT 400, FAILED_PRECONDITION 400 or 409,
RESOURCE_EXHAUSTED 429).
Messages are safe to show to the caller: they never carry secrets.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A command broke a business rule; nothing was appended."""

    code: ClassVar[str] = "FAILED_PRECONDITION"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):  # noqa: N818 - named for the gRPC status
    """The command itself is malformed, whatever the current state."""

    code = "INVALID_ARGUMENT"


class NotFound(DomainError):  # noqa: N818 - named for the gRPC status
    """The target does not exist (or was deleted)."""

    code = "NOT_FOUND"


class AlreadyExists(DomainError):  # noqa: N818 - named for the gRPC status
    """The target's identity is already taken."""

    code = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):  # noqa: N818 - named for the gRPC status
    """The command is well-formed but the current state forbids it."""

    code = "FAILED_PRECONDITION"


class VersionMismatch(DomainError):  # noqa: N818 - named for the gRPC status
    """The caller's optimistic-locking version differs from the stream's version."""

    code = "ABORTED"


class ResourceExhausted(DomainError):  # noqa: N818 - named for the gRPC status
    """The command is well-formed but would take the tenant past a limit (HTTP 429)."""

    code = "RESOURCE_EXHAUSTED"


class QuotaExceeded(ResourceExhausted):
    """Creating the object would pass one of the organisation's quotas (domain/quotas.py)."""


# --- argument shape -------------------------------------------------------------------------------


class InvalidKey(InvalidArgument):
    """A key does not match the key pattern."""


class BlankName(InvalidArgument):
    """A name is blank or too long."""


class InvalidEmail(InvalidArgument):
    """An email address is not of the form local@domain."""


class MissingPasswordHash(InvalidArgument):
    """A user event would carry no password hash (raw passwords never reach the domain)."""


class DuplicateVariantKey(InvalidArgument):
    """Two variants of a flag share a key."""


class VariantValueTypeMismatch(InvalidArgument):
    """A variant's value does not match the flag's value type."""


class TooFewVariants(InvalidArgument):
    """A flag needs at least one variant, an experiment at least two."""


class UnknownVariant(InvalidArgument):
    """A config, rule, allocation or experiment names a variant the flag does not have."""


class DuplicateRuleId(InvalidArgument):
    """Two rules of one flag configuration share an id."""


class InvalidServe(InvalidArgument):
    """A serve names neither or both of a variant and an allocation."""


class InvalidWeight(InvalidArgument):
    """A bucket weight is negative."""


class WeightsNotSummingTo100(InvalidArgument):
    """Allocation weights do not add up to 100 % (1000 weight_milli)."""


class InvalidHashSpec(InvalidArgument):
    """A hashing spec names a blank context type or parameter."""


class InvalidCondition(InvalidArgument):
    """A condition is structurally broken (e.g. an in_segment leaf without a segment key)."""


class EvaluationBudgetExceeded(InvalidArgument):
    """Rules or a segment condition would cost more to evaluate than `domain.conditions.budget` allows."""


class InvalidSegmentDefinition(InvalidArgument):
    """A rule segment lacks a condition, or a list segment has one."""


class KeyBothIncludedAndExcluded(InvalidArgument):
    """One list-segment batch both includes and excludes the same context key."""


class InvalidTrafficAllocation(InvalidArgument):
    """An experiment's traffic allocation is outside (0, 1]."""


class DuplicateMetricKey(InvalidArgument):
    """An experiment lists a metric key twice."""


class InvalidStatsInterval(InvalidArgument):
    """An experiment's stats interval is not a whole number of minutes in 1..10080 (one week)."""


# --- existence ------------------------------------------------------------------------------------


class OrgNotFound(NotFound):
    """No such organisation."""


class UserNotFound(NotFound):
    """No such user (or the user was removed)."""


class ProjectNotFound(NotFound):
    """No such project."""


class EnvironmentNotFound(NotFound):
    """No such environment."""


class SdkKeyNotFound(NotFound):
    """No SDK key with that id in this environment."""


class MembershipNotFound(NotFound):
    """The user is not a member of that organisation."""


class FlagNotFound(NotFound):
    """No flag with that key in the project (or it was deleted)."""


class FlagConfigNotFound(NotFound):
    """The flag has no configuration in that environment (or it was deleted)."""


class SegmentNotFound(NotFound):
    """No segment with that key in the environment (or it was deleted)."""


class EventDefinitionNotFound(NotFound):
    """No event definition with that key in the environment (or it was deleted)."""


class ExperimentNotFound(NotFound):
    """No such experiment (or it was deleted)."""


class OrgAlreadyExists(AlreadyExists):
    """An organisation with that id exists."""


class UserAlreadyExists(AlreadyExists):
    """A user with that id exists."""


class AlreadyMember(AlreadyExists):
    """The account already belongs to that organisation."""


class EmailAlreadyClaimed(AlreadyExists):
    """Another user already holds that email address."""


class ProjectAlreadyExists(AlreadyExists):
    """A project with that id, or that name in the organisation, exists."""


class EnvironmentAlreadyExists(AlreadyExists):
    """An environment with that id, or that name in the project, exists."""


class SdkKeyAlreadyExists(AlreadyExists):
    """An SDK key with that id exists in the environment."""


class FlagAlreadyExists(AlreadyExists):
    """A flag with that key exists in the project (duplicate key)."""


class VariantAlreadyExists(AlreadyExists):
    """The flag already has a variant with that key."""


class SegmentAlreadyExists(AlreadyExists):
    """A segment with that key exists in the environment (duplicate key)."""


class EventDefinitionAlreadyExists(AlreadyExists):
    """An event definition with that key exists in the environment (duplicate key)."""


class ExperimentAlreadyExists(AlreadyExists):
    """An experiment with that id exists."""


# --- state rules ----------------------------------------------------------------------------------


class LastActiveSdkKey(FailedPrecondition):
    """Revoking the environment's last active SDK key is refused: rotate by issuing a new one first."""


class SdkKeyAlreadyRevoked(FailedPrecondition):
    """The SDK key was already revoked."""


class UnknownSegment(FailedPrecondition):
    """A rule refers to a segment that does not exist in the environment."""


class SegmentCycle(FailedPrecondition):
    """A segment's condition would reach itself through in_segment references."""


class SegmentKindMismatch(FailedPrecondition):
    """The operation needs the other segment kind (list members on a rule segment, or the reverse)."""


class SegmentInUse(FailedPrecondition):
    """A segment still referenced by flag rules or other segments cannot be deleted."""


class VariantInUse(FailedPrecondition):
    """A variant still served somewhere cannot be removed."""


class FlagIsArchived(FailedPrecondition):
    """An archived flag cannot change its definition until it is restored."""


class FlagNotArchived(FailedPrecondition):
    """Only an archived flag can be restored."""


class MetricValueTypeChange(FailedPrecondition):
    """An event definition's value type is permanent: stored metrics would change meaning."""


class UnknownMetric(FailedPrecondition):
    """An experiment names a metric with no event definition in the environment."""


class IllegalTransition(FailedPrecondition):
    """The experiment state machine has no such transition."""


class ExperimentNotEditable(FailedPrecondition):
    """The field cannot change in the experiment's current status."""


class ExperimentNotDeletable(FailedPrecondition):
    """Only DRAFT or CONCLUDED experiments can be deleted."""


class EventDefinitionInUse(FailedPrecondition):
    """An event definition still measured by a running experiment cannot be deleted."""


# --- SSO (issue 13) ---------------------------------------------------------------------------------


class InvalidProviderConfig(InvalidArgument):
    """The identity provider configuration is malformed."""


class AuthProviderNotFound(NotFound):
    """No such provider in this organisation (another organisation's is not found either)."""


class AuthProviderAlreadyExists(AlreadyExists):
    """The provider id is taken."""


class SystemOrgSsoRefused(FailedPrecondition):
    """The system organisation's admins are the break-glass path: it never requires SSO."""


def check_version(actual: int, expected: int | None) -> None:
    """Raise VersionMismatch when the caller sent an optimistic-locking version that is not `actual`."""
    if expected is not None and expected != actual:
        raise VersionMismatch(f"version conflict: expected {expected}, stream is at {actual}")
