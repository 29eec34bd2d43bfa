"""The call scope: what one RPC works with, set up by the kit's pipeline before
the servicer runs: the unit of work (its connection, taken on first use), the
verified organization, the caller's scopes, the clock, the outbox, and for a
customer portal call the session's customer. Services receive it as an
argument; only servicers fetch it.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, UnitOfWork
from billingos_kit.errors import PermissionDenied, Unauthenticated
from billingos_kit.outbox import Outbox
from billingos_kit.scopes import Scope
from billingos_kit.sessioncheck import PortalSession


@dataclass(frozen=True)
class CallScope:
    """One call's unit of work."""

    unit_of_work: UnitOfWork
    clock: Clock
    outbox: Outbox
    request_id: str
    method: str
    organization_id_or_none: uuid.UUID | None
    # What the caller may do: every scope for internal callers, the API key's
    # scopes for a call from outside (so a key never creates a stronger one).
    caller_scopes: frozenset[Scope]
    # The API key a call from outside came with (None for internal callers).
    caller_key_id: uuid.UUID | None = None
    # The call's Idempotency-Key, for a domain that must find an effect of an
    # earlier, interrupted run of the same call (payments' refunds).
    idempotency_key: str | None = None
    # The customer session a customer portal call came with (None otherwise).
    portal_session: PortalSession | None = None
    # The client's address as the gateway saw it (after its trusted proxies),
    # for per-client limits of anonymous calls; "" for internal callers.
    client_address: str = ""

    async def connection(self) -> Connection:
        """The call's connection (in its transaction, when the call mutates)."""
        return await self.unit_of_work.connection()

    async def commit_and_continue(self) -> None:
        """Makes what the call did so far durable and goes on (see
        `UnitOfWork.commit_and_continue`)."""
        await self.unit_of_work.commit_and_continue()

    @property
    def organization_id(self) -> uuid.UUID:
        """The caller's organization; every tenant query filters by it."""
        if self.organization_id_or_none is None:
            raise Unauthenticated("this call needs an organization", reason="ORGANIZATION_REQUIRED")
        return self.organization_id_or_none

    @property
    def portal_customer_id(self) -> uuid.UUID:
        """The customer a customer portal call acts for: its session's. A
        portal method bounds every read by it (and by the organization, as
        every tenant query is); no request field names the customer."""
        if self.portal_session is None:
            raise PermissionDenied(
                "this method acts for a customer session's customer; call it through the "
                "gateway with a customer session token",
                reason="CUSTOMER_SESSION_REQUIRED",
            )
        return self.portal_session.customer_id


_current: contextvars.ContextVar[CallScope] = contextvars.ContextVar("billingos_call_scope")


def current_scope() -> CallScope:
    """The scope of the RPC being served (only valid inside a servicer method)."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("no call scope: not inside a kit-served RPC") from None


def enter_scope(scope: CallScope) -> contextvars.Token[CallScope]:
    return _current.set(scope)


def leave_scope(token: contextvars.Token[CallScope]) -> None:
    _current.reset(token)
