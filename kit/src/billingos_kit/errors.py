"""Domain errors every service raises, and nothing else knows about gRPC.

The kit's error interceptor turns each into a gRPC status with
`google.rpc.ErrorInfo` (a stable `reason`) and, for bad input,
`google.rpc.BadRequest` field violations; Envoy renders those as HTTP + JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

ERROR_DOMAIN = "billingos.dev"
# What one error may say: its details travel as gRPC trailers, and a reply
# whose headers outgrow the gateway's limit would reset the connection that
# other organizations' calls share. Past these, the rest is counted, not listed.
MAX_VIOLATIONS = 20
MAX_MESSAGE_LENGTH = 1000


class ErrorKind(Enum):
    """What went wrong, in the terms the caller can act on."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    ABORTED = "aborted"
    UNAVAILABLE = "unavailable"
    RESOURCE_EXHAUSTED = "resource_exhausted"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is the request path (e.g. `customer.email`)."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error a service means to show its caller."""

    kind: ErrorKind = ErrorKind.FAILED_PRECONDITION
    reason: str = "FAILED_PRECONDITION"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: Iterable[FieldViolation] = (),
        response_headers: dict[str, str] | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = {k[:64]: v[:256] for k, v in (metadata or {}).items()}
        self.violations = _bounded(tuple(violations))
        # HTTP headers the reply carries through the gateway (gRPC trailers
        # the transcoder passes on), e.g. Retry-After: fixed names, no input.
        self.response_headers = dict(response_headers or {})


class InvalidArgument(DomainError):
    """Bad input in one field; the message names the field and the rule."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str, *, reason: str | None = None) -> None:
        super().__init__(
            f"{field}: {description}",
            reason=reason,
            violations=[FieldViolation(field, description)],
        )


class ValidationFailed(DomainError):
    """Bad input in several fields at once, so the caller can fix them together."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        found = _bounded(tuple(violations))
        summary = "; ".join(f"{v.field}: {v.description}" for v in found)
        super().__init__(summary, violations=found)


class NotFound(DomainError):
    """The resource does not exist, or belongs to another organization."""

    kind = ErrorKind.NOT_FOUND
    reason = "NOT_FOUND"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(
            f"{resource} {resource_id!r} not found",
            reason=f"{resource.upper()}_NOT_FOUND",
            metadata={"resource": resource, "id": resource_id},
        )


class AlreadyExists(DomainError):
    """A uniqueness rule would be broken; `field` names what collides."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"

    def __init__(self, field: str, description: str, *, reason: str | None = None) -> None:
        super().__init__(
            f"{field}: {description}",
            reason=reason,
            violations=[FieldViolation(field, description)],
        )


class FailedPrecondition(DomainError):
    """The request is well-formed but the resource's state forbids it."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unauthenticated(DomainError):
    """No valid credential."""

    kind = ErrorKind.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """A valid credential that may not do this."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Aborted(DomainError):
    """A concurrent change won; retrying the call is safe."""

    kind = ErrorKind.ABORTED
    reason = "ABORTED"


class TooManyRequests(DomainError):
    """The caller must wait `retry_after_seconds` before trying again."""

    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_seconds: int, *, reason: str | None = None):
        super().__init__(
            message,
            reason=reason,
            response_headers={"retry-after": str(retry_after_seconds)},
        )
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A dependency (database, broker) is down; retrying later is safe."""

    kind = ErrorKind.UNAVAILABLE
    reason = "UNAVAILABLE"


def _bounded(violations: tuple[FieldViolation, ...]) -> tuple[FieldViolation, ...]:
    """At most MAX_VIOLATIONS, the last one saying how many more there were;
    fields and descriptions cut to a sane length (they may echo input)."""
    trimmed = tuple(
        FieldViolation(v.field[:200], v.description[:300]) for v in violations[:MAX_VIOLATIONS]
    )
    if len(violations) <= MAX_VIOLATIONS:
        return trimmed
    more = len(violations) - (MAX_VIOLATIONS - 1)
    return (*trimmed[: MAX_VIOLATIONS - 1], FieldViolation("request", f"and {more} more problems"))
