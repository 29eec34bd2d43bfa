"""The customer-session check of every customer portal call from outside.

A merchant makes a customer session for one of its customers
(`POST /v1/customer-sessions`) and hands the token to that customer's
browser, which calls the customer portal routes with
`Authorization: Bearer bcs_...`. Only methods marked
`(billingos.common.v1.customer_portal)` take such a token (the pipeline sends
them here instead of to the API-key check), and they take nothing else: an
API key on one is refused, and the key check refuses a token on any other
method (keycheck.py).

Verified sessions are kept like verified keys (credentials.OwnerAnswers:
`cache_time`, the services' `api_key_cache_seconds`, 5 s; one question to the
customers service per token however many calls wait,
`CustomerSessionAdminService.VerifyCustomerSession`), so a revoked session,
or one whose customer was deleted, stops working within `cache_time`. The
session's expiry is compared with the injected clock on every call, cache or
not: a cached answer never outlives the token. Failures spend the same
per-client-network allowance as failed key checks (the key check's
throttle).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from billingos.customers.v1 import customer_sessions_pb2, customer_sessions_pb2_grpc
from billingos_kit.clock import Clock
from billingos_kit.credentials import (
    API_KEY_PREFIX,
    CHALLENGE,
    CUSTOMER_SESSION_PREFIX,
    MAX_CACHED_SECRETS,
    OwnerAnswers,
    bearer,
    digest_of,
    throttled,
)
from billingos_kit.errors import Unauthenticated, Unavailable
from billingos_kit.headers import SERVICE_TOKEN_HEADER
from billingos_kit.throttle import FailedCheckThrottle

LOOKUP_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class PortalSession:
    """A working customer session: whom a customer portal call acts for."""

    session_id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    expire_time: dt.datetime


class SessionLookup(Protocol):
    """Where sessions are known: the working session a token belongs to, or None."""

    async def find(self, token: str) -> PortalSession | None: ...

    async def close(self) -> None: ...


class SessionCheck:
    """Turns a presented `Authorization` value into a working customer
    session, or refuses."""

    def __init__(
        self,
        lookup: SessionLookup,
        clock: Clock,
        *,
        cache_time: dt.timedelta,
        throttle: FailedCheckThrottle,
        max_entries: int = MAX_CACHED_SECRETS,
    ) -> None:
        self.lookup = lookup
        self._clock = clock
        self._throttle = throttle
        self._answers: OwnerAnswers[PortalSession] = OwnerAnswers(
            clock, throttle, cache_time, max_entries
        )

    async def verify(self, authorization: str, client_address: str) -> PortalSession:
        wait = self._throttle.retry_after(client_address)
        if wait is not None:
            raise throttled(wait)
        token = bearer(authorization)
        if token is None or not token.startswith(CUSTOMER_SESSION_PREFIX):
            self._throttle.record_failure(client_address)
            raise _wrong_credential(token)
        digest = digest_of(token)
        session = self._answers.verified.get(digest)
        if session is None:
            session = await self._answers.ask(
                digest, client_address, lambda: self.lookup.find(token)
            )
            if session is None:
                raise _invalid()
        if self._clock.now() >= session.expire_time:
            self._throttle.record_failure(client_address)
            raise _invalid()
        return session


def _wrong_credential(token: str | None) -> Unauthenticated:
    if token is None:
        return Unauthenticated(
            "customer session token missing: send 'Authorization: Bearer <token>' with a "
            "token from POST /v1/customer-sessions",
            reason="CUSTOMER_SESSION_MISSING",
            response_headers=CHALLENGE,
        )
    if token.startswith(API_KEY_PREFIX):
        return Unauthenticated(
            "customer portal routes take a customer session token, not an API key: the "
            "merchant creates one with POST /v1/customer-sessions",
            reason="CUSTOMER_SESSION_REQUIRED",
            response_headers=CHALLENGE,
        )
    return _invalid()


def _invalid() -> Unauthenticated:
    # One answer for unknown, expired and revoked: the owner cannot tell them
    # apart once the cache has forgotten a session, so neither does this.
    return Unauthenticated(
        "customer session token invalid, expired or revoked",
        reason="CUSTOMER_SESSION_INVALID",
        response_headers=CHALLENGE,
    )


class RemoteSessionLookup:
    """Asks the customers service (`CustomerSessionAdminService.VerifyCustomerSession`)."""

    def __init__(
        self, address: str, service_token: str, timeout: float = LOOKUP_TIMEOUT_SECONDS
    ) -> None:
        self._address = address
        self._metadata = ((SERVICE_TOKEN_HEADER, service_token),)
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        # The generated stub's types describe the synchronous API.
        self._stub: Any = None

    async def find(self, token: str) -> PortalSession | None:
        if self._stub is None:
            # Made on first use: a grpc.aio channel belongs to a running loop
            # (and a service without portal methods never makes one).
            self._channel = grpc.aio.insecure_channel(self._address)
            self._stub = customer_sessions_pb2_grpc.CustomerSessionAdminServiceStub(self._channel)
        try:
            reply = await self._stub.VerifyCustomerSession(
                customer_sessions_pb2.VerifyCustomerSessionRequest(token=token),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable(
                "the customer-session check is unavailable; retry later",
                reason="SESSION_CHECK_UNAVAILABLE",
            ) from None
        return PortalSession(
            session_id=uuid.UUID(reply.customer_session_id),
            organization_id=uuid.UUID(reply.organization_id),
            customer_id=uuid.UUID(reply.customer_id),
            expire_time=reply.expire_time.ToDatetime(tzinfo=dt.UTC),
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


class NoSessionLookup:
    """For a process told nowhere to check sessions: every portal call from
    outside is refused as unavailable (fail closed), and says what to set."""

    async def find(self, token: str) -> PortalSession | None:
        raise Unavailable(
            "this service has no customer-session check configured (BILLINGOS_KEY_CHECK_ADDRESS)",
            reason="SESSION_CHECK_UNCONFIGURED",
        )

    async def close(self) -> None:
        return None
