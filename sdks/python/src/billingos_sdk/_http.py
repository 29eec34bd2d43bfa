"""One logical API call, independent of sync or async I/O.

An `Operation` says what to send and how to read the answer; an `Attempts`
runs the retry policy over it. The clients only move bytes and sleep, so
request building, error mapping and retries exist once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx

from .errors import BillingOSError, NetworkError, error_from_response, parse_retry_after
from .retry import RetryPolicy

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_MUTATIONS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

QueryValue = str | int | bool | None


@dataclass(frozen=True)
class Operation(Generic[T]):
    """A request and the parser of its 200 body."""

    method: str
    path: str
    parse: Callable[[Mapping[str, Any]], T]
    query: Mapping[str, QueryValue] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


def path(template: str, *segments: str) -> str:
    """`template` with each ``{}`` replaced by a percent-encoded segment, so
    an id with ``/`` or ``?`` in it cannot change the route."""
    if not all(segments):
        raise ValueError("path ids must not be empty")
    return template.format(*(quote(s, safe="") for s in segments))


FREE_FORM_FIELDS = frozenset({"metadata", "public_metadata", "properties"})
"""Maps whose keys and values are the caller's own (proto3 ``Struct``s)."""


def jsonable(value: Any, *, free_form: bool = False) -> Any:
    """`value` as JSON takes it: datetimes as RFC 3339 in UTC, Decimals as
    strings (proto3 JSON's exact form for decimals and int64).

    A None in a structured object means "not given" and is left out; inside
    a free-form map (`FREE_FORM_FIELDS`: ``metadata``...) it is the caller's
    value and is sent as ``null``, never dropped in silence (the server then
    refuses it, naming the key: ``customer.metadata.a``)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes sent to BillingOS must be timezone-aware")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {
            str(k): jsonable(v, free_form=free_form or str(k) in FREE_FORM_FIELDS)
            for k, v in value.items()
            if v is not None or free_form
        }
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [jsonable(v, free_form=free_form) for v in value]
    return value


def _rpc_code(response: httpx.Response) -> int | None:
    """The ``google.rpc.Status`` code of an error answer that has one: read
    only for a 409, whose retry depends on it (10, ABORTED, is transient)."""
    if response.status_code != 409:
        return None
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    code = body.get("code") if isinstance(body, Mapping) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _query(params: Mapping[str, QueryValue]) -> tuple[tuple[str, str], ...]:
    encoded: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):  # before int: bool is an int
            encoded.append((name, "true" if value else "false"))
        else:
            encoded.append((name, str(value)))
    return tuple(encoded)


class BuildRequest(Protocol):
    """`httpx.Client.build_request` and `httpx.AsyncClient.build_request`
    alike: building through the client keeps its timeout and headers."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        params: tuple[tuple[str, str], ...] | None = None,
        headers: dict[str, str] | None = None,
        json: Any | None = None,
    ) -> httpx.Request: ...


class SyncSend(Protocol):
    """How a sync resource runs an operation."""

    def __call__(self, operation: Operation[T]) -> T: ...


class AsyncSend(Protocol):
    """How an async resource runs an operation."""

    async def __call__(self, operation: Operation[T]) -> T: ...


@dataclass(frozen=True)
class Settings:
    """What every request of one client shares."""

    base_url: str
    access_token: str
    retry: RetryPolicy
    user_agent: str
    new_idempotency_key: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


class Attempts(Generic[T]):
    """The tries of one logical call.

    The request, with its ``Idempotency-Key`` for a mutation, is built once
    here and sent as is on every try: the server then recognises a retry of
    a call that did reach it and answers with the first result instead of
    acting twice.
    """

    def __init__(self, operation: Operation[T], settings: Settings, build: BuildRequest) -> None:
        self._operation = operation
        self._settings = settings
        self._retries = 0
        headers = {
            "Authorization": f"Bearer {settings.access_token}",
            "Accept": "application/json",
            "User-Agent": settings.user_agent,
        }
        method = operation.method.upper()
        if method in _MUTATIONS:
            headers[IDEMPOTENCY_HEADER] = (
                operation.idempotency_key or settings.new_idempotency_key()
            )
        self.request = build(
            method,
            settings.base_url + operation.path,
            params=_query(operation.query) or None,
            headers=headers,
            json=jsonable(operation.body) if operation.body is not None else None,
        )

    def after_response(self, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again, or None when `response` is
        the answer (then call `result`)."""
        if not self._settings.retry.retries_status(response.status_code, _rpc_code(response)):
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return self._next_delay(retry_after)

    def after_network_error(self, error: httpx.TransportError) -> float:
        """Seconds to wait before trying again; raises `NetworkError` once
        the retries are used up."""
        delay = None
        if not isinstance(error, httpx.UnsupportedProtocol):  # a bad URL stays bad
            delay = self._next_delay(None)
        if delay is None:
            raise NetworkError(f"no answer from {self._settings.base_url}: {error!r}") from error
        return delay

    def result(self, response: httpx.Response) -> T:
        """The parsed answer, or the typed error it carries."""
        if response.is_success:
            try:
                data: Any = response.json() if response.content else {}
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                text = response.text.strip()[:200] if response.content else ""
                raise BillingOSError(
                    f"expected a JSON object in the answer, got {text!r}",
                    status_code=response.status_code,
                    request_id=response.headers.get("x-request-id"),
                    body=text,
                ) from error
            if not isinstance(data, Mapping):
                raise BillingOSError(
                    "expected a JSON object in the answer",
                    status_code=response.status_code,
                    request_id=response.headers.get("x-request-id"),
                    body=data,
                )
            return self._operation.parse(data)
        raise error_from_response(response)

    def _next_delay(self, retry_after: float | None) -> float | None:
        delay = self._settings.retry.delay(self._retries, retry_after)
        if delay is not None:
            self._retries += 1
        return delay
