"""The gateway's API-key check: Envoy's `ext_authz` gRPC service.

Envoy asks before routing any merchant request. A valid `Authorization: Bearer
<api key>` gets an OK that sets the organization, key id and scopes headers
(Envoy has already dropped any client-sent copy). A missing, unknown or
revoked key also gets an OK, but one that only marks the request as failed
(reason and message): the gateway then counts the failure against the
client's address (429 past the limit) and answers with a 401 in the
`google.rpc.Status` shape. Answering 401 here would end the request before
Envoy's rate limit could see it.

Verified keys are cached for `api_key_cache_seconds` (5 s), so the hot path
makes no database call; a revoked key stops working within that time.
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
from google.rpc import code_pb2, status_pb2

from billingos_customers.organizations import ApiKeyService, hash_secret
from billingos_kit.clock import Clock
from billingos_kit.grpc.scope import current_scope
from billingos_kit.headers import (
    API_KEY_ID_HEADER,
    API_KEY_SCOPES_HEADER,
    AUTH_FAILURE_HEADER,
    AUTH_FAILURE_MESSAGE_HEADER,
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
    ) -> None:
        self._entries[secret_hash] = VerifiedKey(
            organization_id, key_id, format_scopes(scopes), self._clock.now()
        )
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class ApiKeyAuthorizer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    """Envoy `envoy.service.auth.v3.Authorization` backed by the api_keys table."""

    def __init__(self, cache: VerifiedKeyCache) -> None:
        self._cache = cache

    async def Check(
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> external_auth_pb2.CheckResponse:
        headers = request.attributes.request.http.headers
        scheme, _, secret = headers.get("authorization", "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return _failed(
                "API key missing: send 'Authorization: Bearer <api key>'", "API_KEY_MISSING"
            )
        secret_hash = hash_secret(secret)
        verified = self._cache.get(secret_hash)
        if verified is None:
            key = await ApiKeyService(current_scope()).authenticate(secret)
            if key is None:
                return _failed("API key invalid or revoked", "API_KEY_INVALID")
            self._cache.put(
                secret_hash, key.organization_id, key.id, [Scope(s) for s in key.scopes]
            )
            verified = self._cache.get(secret_hash)
            assert verified is not None
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


def _failed(message: str, reason: str) -> external_auth_pb2.CheckResponse:
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=external_auth_pb2.OkHttpResponse(
            headers=[
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=AUTH_FAILURE_HEADER, value=reason),
                    append_action=overwrite,
                ),
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=AUTH_FAILURE_MESSAGE_HEADER, value=message),
                    append_action=overwrite,
                ),
            ]
        ),
    )
