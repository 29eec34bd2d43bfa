"""What the payments domain works with, from a call (CallScope) or from an
event handler or the webhook processor (EventScope-like): the organization,
its connection, the clock and the outbox. Both kit scopes have these."""

from __future__ import annotations

import uuid
from typing import Protocol

from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.outbox import Outbox


class WorkScope(Protocol):
    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...

    async def connection(self) -> Connection: ...
