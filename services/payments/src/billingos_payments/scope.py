"""What the payments domain works with, from a call (CallScope) or from an
event handler or the webhook processor (EventScope-like): the organization,
its connection, the clock and the outbox. Both kit scopes have these; a call
adds a Checkpoint."""

from __future__ import annotations

import uuid
from typing import Protocol

from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.outbox import Outbox
from billingos_kit.tables import KitTables


class WorkScope(Protocol):
    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...

    async def connection(self) -> Connection: ...


class Checkpoint(Protocol):
    """What a call gives the few domain steps that must make a fact durable
    before they ask Stripe for something (a charge attempt, a refund): the
    mid-call commit, and the call's Idempotency-Key, by which a retry of an
    interrupted call finds what the first run left. The kit's CallScope is one."""

    @property
    def idempotency_key(self) -> str | None: ...

    async def commit_and_continue(self) -> None: ...


class OrganizationWork:
    """One organization's work inside a transaction the service's own worker
    holds (the webhook processor, the refund sweep): a WorkScope whose
    outbox writes into that transaction."""

    def __init__(
        self,
        connection: Connection,
        organization_id: uuid.UUID,
        clock: Clock,
        tables: KitTables,
        source: str,
    ) -> None:
        self._connection = connection
        self._organization_id = organization_id
        self._clock = clock

        async def give() -> Connection:
            return connection

        self._outbox = Outbox(give, tables, clock, source, organization_id, transactional=True)

    @property
    def organization_id(self) -> uuid.UUID:
        return self._organization_id

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    async def connection(self) -> Connection:
        return self._connection
