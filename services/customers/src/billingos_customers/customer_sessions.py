"""Customer sessions (customer_sessions.proto): the short-lived credential a
merchant makes for one of its customers, so that customer's browser can call
the customer portal routes, and turning a presented token into the session
it is (for every service's session check, billingos_kit.sessioncheck).

A token is `bcs_` + 40 random URL-safe characters (240 bits): a prefix of
its own, so the key check tells it from an API key (`bos_`) without asking.
Only its SHA-256 is stored, as for API keys: with that much entropy a slow
hash adds nothing, and the check must stay fast. A session works until it
expires (an hour by default, at most a day), is revoked, or its customer is
deleted; the services' caches trust it at most `api_key_cache_seconds`
longer, never past its expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Protocol

from billingos_customers import events
from billingos_customers.drafts import SessionRequest
from billingos_customers.models import Customer, CustomerSession
from billingos_customers.repository import (
    CustomerRepository,
    CustomerSessionRepository,
    PresentedSessions,
)
from billingos_kit.clock import Clock
from billingos_kit.credentials import CUSTOMER_SESSION_PREFIX
from billingos_kit.db import Connection, Database
from billingos_kit.errors import InvalidArgument, NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id, parse_id
from billingos_kit.outbox import Outbox
from billingos_kit.repository import DataScope, OnConnection
from billingos_kit.sessioncheck import PortalSession

TOKEN_PREFIX = CUSTOMER_SESSION_PREFIX
DEFAULT_TTL = dt.timedelta(hours=1)
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86_400


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class CreatedSession:
    session: CustomerSession
    token: str  # shown once


class SessionScope(DataScope, Protocol):
    """What sessions are made in: a call's scope (CallScope), or an anonymous
    call's work for the organization it found (OrganizationWork, as a
    portal sign-in is): the organization, its connection in a transaction,
    the clock, the outbox."""

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...


class CustomerSessionService:
    """Customer sessions of the scope's organization."""

    def __init__(self, scope: SessionScope) -> None:
        self._scope = scope
        self._sessions = CustomerSessionRepository(scope)
        self._customers = CustomerRepository(scope)

    async def create(self, request: SessionRequest) -> CreatedSession:
        """A session for a live customer of the organization (another
        organization's customer, or a deleted one, is NotFound); announces
        `customer_session.created`, without the token."""
        ttl = _ttl(request.ttl_seconds)
        customer = await self._customer(request)
        return await self.open(customer.id, ttl)

    async def open(self, customer_id: uuid.UUID, ttl: dt.timedelta = DEFAULT_TTL) -> CreatedSession:
        """A session for a customer the caller found live in the
        organization; announces `customer_session.created`, without the
        token."""
        token = new_token()
        now = self._scope.clock.now()
        session = CustomerSession(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            customer_id=customer_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + ttl,
            revoked_at=None,
        )
        await self._sessions.insert(session)
        await self._scope.outbox.add(events.customer_session_created(session))
        return CreatedSession(session, token)

    async def revoke(self, session_id: uuid.UUID) -> CustomerSession:
        """Ends a session (within the services' cache time) and announces
        `customer_session.revoked`; revoking a revoked session changes
        nothing. An expired one is revoked all the same: the answer says what
        the merchant asked for."""
        session = await self._sessions.require(session_id, for_update=True)
        if session.revoked_at is None:
            session.revoked_at = self._scope.clock.now()
            await self._sessions.update(session, ["revoked_at"])
            await self._scope.outbox.add(events.customer_session_revoked(session))
        return session

    async def _customer(self, request: SessionRequest) -> Customer:
        if request.customer_id and request.external_customer_id:
            raise InvalidArgument(
                "external_customer_id", "give either customer_id or external_customer_id, not both"
            )
        if request.external_customer_id:
            found = await self._customers.get_by_external_id(request.external_customer_id)
            if found is None:
                raise self._customers.not_found(request.external_customer_id)
            return found
        if not request.customer_id:
            raise InvalidArgument("customer_id", "is required (or external_customer_id)")
        return await self._customers.require(parse_id(request.customer_id, "customer_id"))


def _ttl(seconds: int) -> dt.timedelta:
    if seconds == 0:
        return DEFAULT_TTL
    if not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        raise InvalidArgument(
            "ttl_seconds",
            f"must be from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS} seconds (0: an hour)",
        )
    return dt.timedelta(seconds=seconds)


async def find_presented(
    connection: Connection, token: str, now: dt.datetime
) -> PortalSession | None:
    """The working session a presented token belongs to, in whichever organization."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    session = await PresentedSessions(OnConnection(connection)).find_working(hash_token(token), now)
    if session is None:
        return None
    return PortalSession(
        session_id=session.id,
        organization_id=session.organization_id,
        customer_id=session.customer_id,
        expire_time=session.expires_at,
    )


async def verify_presented(scope: CallScope, token: str) -> PortalSession:
    """What `CustomerSessionAdminService.VerifyCustomerSession` answers another service."""
    found = await find_presented(await scope.connection(), token, scope.clock.now())
    if found is None:
        raise NotFound("customer_session", "presented")
    return found


class StoredSessions:
    """The customers service's own session lookup (the others ask it over
    gRPC): the table, on a connection of its own, outside any call's unit of
    work."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def find(self, token: str) -> PortalSession | None:
        async with self._database.connection() as connection:
            return await find_presented(connection, token, self._clock.now())

    async def close(self) -> None:
        return None
