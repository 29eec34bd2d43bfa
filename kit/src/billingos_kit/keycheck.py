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
checks are throttled per client address (throttle.py): past the allowance,
every call from the address to this process is refused, valid key or not
(each process counts for itself; behind a load balancer, the gateway must be
told how many proxies to look past, or every client shares one address).

Why in every service rather than once in the gateway (Envoy's ext_authz): an
ext_authz check is a second RPC into a Python process on every REST call;
with it REST calls ran at 0.46 of gRPC's rate, without it 0.79
(bench/README.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc

from billingos.customers.v1 import api_keys_pb2, api_keys_pb2_grpc
from billingos_kit.clock import Clock
from billingos_kit.errors import TooManyRequests, Unauthenticated, Unavailable
from billingos_kit.headers import SERVICE_TOKEN_HEADER
from billingos_kit.scopes import SCOPE_CODEC, Scope
from billingos_kit.throttle import FailedCheckThrottle

MAX_CACHED_KEYS = 10_000
# How every API key secret starts; anything else is no key, known without asking.
API_KEY_PREFIX = "bos_"
LOOKUP_TIMEOUT_SECONDS = 2.0
_CHALLENGE = {"www-authenticate": "Bearer"}

T = TypeVar("T")


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
        self._verified: _Expiring[VerifiedKey] = _Expiring(clock, cache_time, max_entries)
        self._rejected: _Expiring[bool] = _Expiring(clock, cache_time, max_entries)
        self._throttle = FailedCheckThrottle(clock, failed_checks_per_minute)
        self._clock = clock
        self._asking: dict[bytes, asyncio.Future[VerifiedKey | None]] = {}

    async def verify(self, authorization: str, client_address: str) -> VerifiedKey:
        wait = self._throttle.retry_after(client_address)
        if wait is not None:
            raise TooManyRequests(
                "too many requests with a missing or invalid API key from this address; "
                "retry after the Retry-After delay",
                wait,
            )
        secret = _bearer(authorization)
        if secret is None:
            self._throttle.record_failure(client_address)
            raise Unauthenticated(
                "API key missing: send 'Authorization: Bearer <api key>'",
                reason="API_KEY_MISSING",
                response_headers=_CHALLENGE,
            )
        digest = hashlib.sha256(secret.encode()).digest()
        verified = self._verified.get(digest)
        if verified is not None:
            return verified
        if secret.startswith(API_KEY_PREFIX) and self._rejected.get(digest) is None:
            verified = await self._ask_once(digest, secret, client_address)
            if verified is not None:
                return verified
        else:
            self._throttle.record_failure(client_address)
        raise Unauthenticated(
            "API key invalid or revoked", reason="API_KEY_INVALID", response_headers=_CHALLENGE
        )

    async def _ask_once(
        self, digest: bytes, secret: str, client_address: str
    ) -> VerifiedKey | None:
        """One lookup per secret at a time, in a task of its own: the calls
        that come meanwhile share its answer (or its failure, which is not
        remembered), and a call that goes away cancels only its own wait.

        The call that starts a lookup spends its address's token first and
        gets it back if the key is good: checked and spent in one step, so
        many guesses at once cannot all pass the throttle while they wait.
        """
        lookup = self._asking.get(digest)
        if lookup is None:
            self._throttle.record_failure(client_address)
            # The answer is as old as the question: timed from before asking,
            # a revoked key is never trusted past `cache_time` of the read.
            asked_at = self._clock.now()
            lookup = asyncio.ensure_future(self.lookup.find(secret))
            self._asking[digest] = lookup
            lookup.add_done_callback(
                lambda done: self._remember(digest, asked_at, client_address, done)
            )
        return await asyncio.shield(lookup)

    def _remember(
        self,
        digest: bytes,
        asked_at: dt.datetime,
        client_address: str,
        done: asyncio.Future[VerifiedKey | None],
    ) -> None:
        del self._asking[digest]
        if done.cancelled() or done.exception() is not None:
            self._throttle.refund(client_address)  # the owner failed, not the caller
            return
        found = done.result()
        if found is None:
            self._rejected.put(digest, True, at=asked_at)
        else:
            self._throttle.refund(client_address)
            self._verified.put(digest, found, at=asked_at)


def _bearer(authorization: str) -> str | None:
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    return secret


class _Expiring(Generic[T]):
    """Values by key for a while (by the injected clock), the oldest dropped
    past `max_entries`."""

    def __init__(self, clock: Clock, ttl: dt.timedelta, max_entries: int) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[dt.datetime, T]] = OrderedDict()

    def get(self, key: bytes) -> T | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self._clock.now() - found[0] >= self._ttl:
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: bytes, value: T, *, at: dt.datetime | None = None) -> None:
        self._entries[key] = (at or self._clock.now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


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
