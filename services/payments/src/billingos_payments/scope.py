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
