"""Errors the SDK raises, one class per thing a caller handles differently.

The gateway answers every failure with a JSON ``google.rpc.Status``
(``code``, ``message``, ``details``); its ``google.rpc.ErrorInfo`` carries a
stable machine ``reason`` (``CUSTOMER_NOT_FOUND``) and its
``google.rpc.BadRequest`` the offending fields. Callers branch on the class
(by HTTP status) and then on ``reason``, never on the message text, which
may change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "BillingOSError",
    "ConflictError",
    "FieldViolation",
    "InvalidRequestError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "error_from_response",
]

_ERROR_INFO = "google.rpc.ErrorInfo"
_BAD_REQUEST = "google.rpc.BadRequest"
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class FieldViolation:
    """One refused field, named by its path in the request
    (``customer.email``), so a form can put the message next to the input."""

    field: str
    description: str
    reason: str = ""


class BillingOSError(Exception):
    """Base of every SDK error, so one ``except`` catches them all.

    ``status_code`` is the HTTP status (None when no answer came), ``code``
    the ``google.rpc.Code`` number, ``reason`` the ErrorInfo reason,
    ``request_id`` the ``x-request-id`` to quote to support.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: int | None = None,
        reason: str | None = None,
        domain: str | None = None,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.reason = reason
        self.domain = domain
        self.metadata: Mapping[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.request_id = request_id
        self.body = body

    @property
    def fields(self) -> list[str]:
        """The refused fields' paths: what a test or a form usually wants."""
        return [violation.field for violation in self.field_violations]

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.reason:
            parts.append(f"reason={self.reason}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class InvalidRequestError(BillingOSError):
    """400/422: the request itself is wrong; retrying it unchanged cannot help."""


class AuthenticationError(BillingOSError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDeniedError(BillingOSError):
    """403: the key is valid but lacks the scope for this call."""


class NotFoundError(BillingOSError):
    """404: no such resource in the key's organization (another
    organization's resources are 404 too, by design)."""


class ConflictError(BillingOSError):
    """409: the request clashes with current state, e.g. a duplicate
    ``external_id``."""


class RateLimitError(BillingOSError):
    """429: too many requests; ``retry_after`` (seconds) is the server's hint,
    already honoured by the automatic retries before this is raised."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(BillingOSError):
    """5xx: the suite failed; raised only after the retries ran out (or at
    once for 501, which no retry fixes)."""


class NetworkError(BillingOSError):
    """No HTTP answer at all (refused, reset, timed out). Named apart from
    the builtin ``ConnectionError`` so as not to shadow it; the httpx error
    is the ``__cause__``."""


_BY_STATUS: Mapping[int, type[BillingOSError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date
    (both are allowed by RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _class_for(status: int) -> type[BillingOSError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return BillingOSError


def error_from_response(response: httpx.Response) -> BillingOSError:
    """The typed error for a non-2xx answer.

    Tolerates bodies that are not a ``google.rpc.Status`` (a proxy's HTML
    page, an empty 502): the class still follows the status code, so callers'
    ``except`` clauses keep working whatever sits in front of the gateway.
    """
    status = response.status_code
    request_id = response.headers.get(REQUEST_ID_HEADER)
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    kwargs: dict[str, Any] = {"status_code": status, "request_id": request_id, "body": body}
    if isinstance(body, dict):
        message = str(body.get("message") or f"HTTP {status}")
        code = body.get("code")
        kwargs["code"] = code if isinstance(code, int) else None
        violations: list[FieldViolation] = []
        for detail in body.get("details") or []:
            if not isinstance(detail, dict):
                continue
            kind = str(detail.get("@type", ""))
            if kind.endswith(_ERROR_INFO) and "reason" not in kwargs:
                kwargs["reason"] = str(detail.get("reason", "")) or None
                kwargs["domain"] = detail.get("domain")
                raw_metadata = detail.get("metadata") or {}
                if isinstance(raw_metadata, dict):
                    kwargs["metadata"] = {str(k): str(v) for k, v in raw_metadata.items()}
            elif kind.endswith(_BAD_REQUEST):
                for violation in detail.get("field_violations") or []:
                    if isinstance(violation, dict):
                        violations.append(
                            FieldViolation(
                                field=str(violation.get("field", "")),
                                description=str(violation.get("description", "")),
                                reason=str(violation.get("reason", "")),
                            )
                        )
        kwargs["field_violations"] = violations
    else:
        text = response.text.strip()
        message = f"HTTP {status}" + (f": {text[:200]}" if text else "")
    cls = _class_for(status)
    if cls is RateLimitError:
        kwargs["retry_after"] = parse_retry_after(response.headers.get("retry-after"))
    return cls(message, **kwargs)
