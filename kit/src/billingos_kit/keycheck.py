"""The API-key check of every call that comes from outside.

The gateway forwards a client's `Authorization: Bearer <secret>` together
with its own credential and the client's address; the pipeline of the
service that serves the call checks the key here, before it decodes the
request. The key's organization and scopes then bound the call.

Verified keys are kept for `cache_time` (5 s) by secret hash, and secrets
found to be no active key as long, so a busy key costs no call at all; on a
miss the customers service, which owns the keys, is asked
(`ApiKeyAdminService.VerifyApiKey`), once per key however many calls wait
for the answer. A revoked key stops working within `cache_time`. Failed
checks are throttled per client network (throttle.py: an IPv4 address, an
IPv6 /64): past the allowance, every call from the network to this process
is refused, valid key or not
(each process counts for itself; behind a load balancer, the gateway must be
told how many proxies to look past, or every client shares one address).

A customer session token (credentials.CUSTOMER_SESSION_PREFIX) is no key:
it is refused here at once, with a reason of its own, and nobody is asked;
only customer portal methods take one (sessioncheck.py).

Why in every service rather than once in the gateway (Envoy's ext_authz): an
ext_authz check is a second RPC into a Python process on every REST call;
with it REST calls ran at 0.46 of gRPC's rate, without it 0.79
(bench/README.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from billingos.customers.v1 import api_keys_pb2, api_keys_pb2_grpc
from billingos_kit.clock import Clock
from billingos_kit.credentials import (
    API_KEY_PREFIX,
    CHALLENGE,
    CUSTOMER_SESSION_PREFIX,
    MAX_CACHED_SECRETS,
    OwnerAnswers,
    bearer,
    throttled,
)
from billingos_kit.errors import Unauthenticated, Unavailable
from billingos_kit.headers import SERVICE_TOKEN_HEADER
from billingos_kit.scopes import SCOPE_CODEC, Scope
from billingos_kit.throttle import FailedCheckThrottle

MAX_CACHED_KEYS = MAX_CACHED_SECRETS
LOOKUP_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class VerifiedKey:
    """An active API key: who it acts for and what it may do."""

    key_id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[Scope]


class KeyLookup(Protocol):
    """Where keys are known: the active key a secret belongs to, or None."""

    async def find(self, secret: str) -> VerifiedKey | None: ...

    async def close(self) -> None: ...


class KeyCheck:
    """Turns a presented `Authorization` value into a verified key, or refuses."""

    def __init__(
        self,
        lookup: KeyLookup,
        clock: Clock,
        *,
        cache_time: dt.timedelta,
        failed_checks_per_minute: int,
        max_entries: int = MAX_CACHED_KEYS,
    ) -> None:
        self.lookup = lookup
        # Shared with the customer-session check (sessioncheck.py): one
        # allowance of failures per client network, whatever it presents.
        self.throttle = FailedCheckThrottle(clock, failed_checks_per_minute)
        self._answers: OwnerAnswers[VerifiedKey] = OwnerAnswers(
            clock, self.throttle, cache_time, max_entries
        )
        self._verified = self._answers.verified

    async def verify(self, authorization: str, client_address: str) -> VerifiedKey:
        wait = self.throttle.retry_after(client_address)
        if wait is not None:
            raise throttled(wait)
        secret = bearer(authorization)
        if secret is None:
            self.throttle.record_failure(client_address)
            raise Unauthenticated(
                "API key missing: send 'Authorization: Bearer <api key>'",
                reason="API_KEY_MISSING",
                response_headers=CHALLENGE,
            )
        digest = hashlib.sha256(secret.encode()).digest()  # inline: the per-call path
        verified = self._verified.get(digest)
        if verified is not None:
            return verified
        if secret.startswith(API_KEY_PREFIX):
            verified = await self._answers.ask(
                digest, client_address, lambda: self.lookup.find(secret)
            )
            if verified is not None:
                return verified
        else:
            self.throttle.record_failure(client_address)
            if secret.startswith(CUSTOMER_SESSION_PREFIX):
                raise Unauthenticated(
                    "a customer session token is accepted only by the customer portal "
                    "routes (/v1/customer-portal/...); this call needs an API key",
                    reason="CUSTOMER_SESSION_NOT_ACCEPTED",
                    response_headers=CHALLENGE,
                )
        raise Unauthenticated(
            "API key invalid or revoked", reason="API_KEY_INVALID", response_headers=CHALLENGE
        )


class RemoteKeyLookup:
    """Asks the customers service (`ApiKeyAdminService.VerifyApiKey`)."""

    def __init__(
        self, address: str, service_token: str, timeout: float = LOOKUP_TIMEOUT_SECONDS
    ) -> None:
        self._address = address
        self._metadata = ((SERVICE_TOKEN_HEADER, service_token),)
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        # The generated stub's types describe the synchronous API.
        self._stub: Any = None

    async def find(self, secret: str) -> VerifiedKey | None:
        if self._stub is None:
            # Made on first use: a grpc.aio channel belongs to a running loop.
            self._channel = grpc.aio.insecure_channel(self._address)
            self._stub = api_keys_pb2_grpc.ApiKeyAdminServiceStub(self._channel)
        try:
            reply = await self._stub.VerifyApiKey(
                api_keys_pb2.VerifyApiKeyRequest(secret=secret),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable(
                "the API-key check is unavailable; retry later", reason="KEY_CHECK_UNAVAILABLE"
            ) from None
        return VerifiedKey(
            key_id=uuid.UUID(reply.api_key_id),
            organization_id=uuid.UUID(reply.organization_id),
            scopes=frozenset(
                scope for scope in map(SCOPE_CODEC.from_proto, reply.scopes) if scope is not None
            ),
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


class NoKeyLookup:
    """For a process told nowhere to check keys: every keyed call from outside
    is refused as unavailable (fail closed), and says what to set."""

    async def find(self, secret: str) -> VerifiedKey | None:
        raise Unavailable(
            "this service has no API-key check configured (BILLINGOS_KEY_CHECK_ADDRESS)",
            reason="KEY_CHECK_UNCONFIGURED",
        )

    async def close(self) -> None:
        return None
