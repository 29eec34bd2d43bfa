"""An organization's work inside a transaction a service's own worker holds
(a webhook processor, a sweep, a scheduler): what a handler's EventScope is
for consumers, for work that comes from no event. Domain code written for a
call's or a handler's scope runs on it unchanged."""

from __future__ import annotations

import uuid
from typing import Protocol

from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.outbox import Outbox
from billingos_kit.repository import DataScope
from billingos_kit.tables import KitTables


class WorkScope(DataScope, Protocol):
    """What domain code that writes and announces needs, whoever runs it: a
    call's scope (CallScope), a handler's (EventScope) or a worker's
    (OrganizationWork): the organization, its connection in a transaction,
    the clock and the outbox."""

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...


class OrganizationWork:
    """The organization, the worker's connection (in its transaction), the
    clock, and an outbox that writes into that transaction."""

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
