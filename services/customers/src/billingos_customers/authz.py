"""The gateway's API-key check: Envoy's `ext_authz` gRPC service.

Envoy asks before routing any merchant request. A valid `Authorization: Bearer
<api key>` gets an OK that sets the organization, key id and scopes headers
(Envoy has already dropped any client-sent copy); anything else gets a 401,
and an address with too many failed checks a 429 (throttle.py). The gateway
renders both as JSON in the `google.rpc.Status` shape every error has.

Verified keys are cached for `api_key_cache_seconds` (5 s), so the hot path
makes no database call; a revoked key stops working within that time. Keys
found invalid are remembered as long, so a repeated bad key asks the database
once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2

from billingos_customers.api_keys import authenticate, hash_secret
from billingos_customers.throttle import FailedCheckThrottle
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.headers import (
    API_KEY_ID_HEADER,
    API_KEY_SCOPES_HEADER,
    ERROR_REASON_HEADER,
    ORGANIZATION_HEADER,
)
from billingos_kit.scopes import Scope, format_scopes

MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class VerifiedKey:
    organization_id: uuid.UUID
    key_id: uuid.UUID
    scopes: str  # the header form
    checked_at: dt.datetime


class VerifiedKeyCache:
    """Recently verified keys by secret hash, expiring by the injected clock."""

    def __init__(self, clock: Clock, ttl: dt.timedelta, max_entries: int = MAX_CACHED_KEYS):
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, VerifiedKey] = OrderedDict()

    def get(self, secret_hash: bytes) -> VerifiedKey | None:
        entry = self._entries.get(secret_hash)
        if entry is None:
            return None
        if self._clock.now() - entry.checked_at >= self._ttl:
            del self._entries[secret_hash]
            return None
        return entry

    def put(
        self,
        secret_hash: bytes,
        organization_id: uuid.UUID,
        key_id: uuid.UUID,
        scopes: list[Scope],
    ) -> VerifiedKey:
        verified = VerifiedKey(organization_id, key_id, format_scopes(scopes), self._clock.now())
        self._entries[secret_hash] = verified
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return verified


class RejectedKeyCache:
    """Hashes recently found to name no active key, expiring by the clock."""

    def __init__(self, clock: Clock, ttl: dt.timedelta, max_entries: int = MAX_CACHED_KEYS):
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, dt.datetime] = OrderedDict()

    def __contains__(self, secret_hash: bytes) -> bool:
        found = self._entries.get(secret_hash)
        if found is None:
            return False
        if self._clock.now() - found >= self._ttl:
            del self._entries[secret_hash]
            return False
        return True

    def add(self, secret_hash: bytes) -> None:
        self._entries[secret_hash] = self._clock.now()
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class ApiKeyAuthorizer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    """Envoy `envoy.service.auth.v3.Authorization` backed by the api_keys table."""

    def __init__(
        self,
        database: Database,
        cache: VerifiedKeyCache,
        rejected: RejectedKeyCache,
        throttle: FailedCheckThrottle,
    ) -> None:
        self._database = database
        self._cache = cache
        self._rejected = rejected
        self._throttle = throttle

    async def Check(
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> external_auth_pb2.CheckResponse:
        address = request.attributes.source.address.socket_address.address
        wait = self._throttle.retry_after(address)
        if wait is not None:
            return _throttled(wait)
        headers = request.attributes.request.http.headers
        scheme, _, secret = headers.get("authorization", "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            self._throttle.record_failure(address)
            return _denied(
                "API key missing: send 'Authorization: Bearer <api key>'", "API_KEY_MISSING"
            )
        secret_hash = hash_secret(secret)
        verified = self._cache.get(secret_hash)
        if verified is None:
            key = None
            if secret_hash not in self._rejected:
                key = await authenticate(self._database, secret)
            if key is None:
                self._rejected.add(secret_hash)
                self._throttle.record_failure(address)
                return _denied("API key invalid or revoked", "API_KEY_INVALID")
            verified = self._cache.put(
                secret_hash, key.organization_id, key.id, [Scope(s) for s in key.scopes]
            )
        return _allowed(verified)


def _allowed(verified: VerifiedKey) -> external_auth_pb2.CheckResponse:
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=external_auth_pb2.OkHttpResponse(
            headers=[
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(
                        key=ORGANIZATION_HEADER, value=str(verified.organization_id)
                    ),
                    append_action=overwrite,
                ),
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=API_KEY_ID_HEADER, value=str(verified.key_id)),
                    append_action=overwrite,
                ),
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=API_KEY_SCOPES_HEADER, value=verified.scopes),
                    append_action=overwrite,
                ),
            ]
        ),
    )


def _denied(message: str, reason: str) -> external_auth_pb2.CheckResponse:
    # The gateway wraps every reply of its own (this one included) into the
    # google.rpc.Status JSON shape; it takes the reason from this header.
    return _refusal(
        code_pb2.UNAUTHENTICATED,
        http_status_pb2.Unauthorized,
        message,
        {ERROR_REASON_HEADER: reason, "www-authenticate": "Bearer"},
    )


def _throttled(retry_after_seconds: int) -> external_auth_pb2.CheckResponse:
    return _refusal(
        code_pb2.RESOURCE_EXHAUSTED,
        http_status_pb2.TooManyRequests,
        "too many requests with a missing or invalid API key from this address; retry after "
        "the Retry-After delay",
        {ERROR_REASON_HEADER: "RATE_LIMITED", "retry-after": str(retry_after_seconds)},
    )


def _refusal(
    code: int, http_status: int, message: str, headers: dict[str, str]
) -> external_auth_pb2.CheckResponse:
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code, message=message),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=http_status),
            headers=[
                base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v))
                for k, v in headers.items()
            ],
            body=message,
        ),
    )
