"""The checkout expiry sweep (a worker): open checkout sessions past their
expire time (by the injected clock) are claimed with FOR UPDATE SKIP LOCKED,
marked expired and announced (`checkout.expired`), one transaction per
batch; a one-time purchase declined and left open has its order voided. A
purchase still processing an hour past its time because its payment waits
for the customer's 3-D Secure has that payment given up at payments first
(so no one confirms it later), each in its own transaction: paid meanwhile,
the session completes; failed, it is expired and the order voided. One
whose charge is otherwise in flight is left to that charge. A claimed row is
unlocked by anyone else, and the claim holds its lock until the commit: two
sweeps, or a sweep and the merchant's expire, never expire one session
twice, so it is announced once. A session past its time that the sweep
has not reached yet is refused all the same (checkout.refuse_unless_open)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.checkout import expire_checkout
from billingos_subscriptions.clients import PaymentsClient
from billingos_subscriptions.repository import (
    CheckoutSecrets,
    CheckoutSessionRepository,
    ProcessingKey,
)
from billingos_subscriptions.vocabulary import CheckoutSessionStatus
from billingos_subscriptions.waiting_charges import give_up_waiting

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
DEFAULT_RETENTION = dt.timedelta(days=30)
# How long a purchase's payment may wait for the customer's authentication
# past its session's expire time (a customer who began paying just before).
AUTHENTICATION_GRACE = dt.timedelta(hours=1)


class CheckoutExpiry:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        *,
        batch_size: int,
        poll_seconds: float,
        retention: dt.timedelta = DEFAULT_RETENTION,
        payments: PaymentsClient | None = None,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._batch = batch_size
        self._poll = poll_seconds
        self._retention = retention
        self._payments = payments

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for step in (self.run_once, self.give_up_waiting_purchases, self.purge_once):
                try:
                    await step()
                except Exception:
                    log.exception("a checkout sweep step failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll)

    async def run_once(self) -> int:
        """Expires every open session past its time, in batches; how many."""
        expired = 0
        while True:
            now = self._clock.now()
            async with self._database.transaction() as connection:
                due = await CheckoutSecrets(OnConnection(connection)).open_past_expiry(
                    now, self._batch
                )
                for row in due:
                    work = OrganizationWork(
                        connection, row.organization_id, self._clock, self._tables, SOURCE
                    )
                    await expire_checkout(work, Billing(work, self._clock), row, now)
            expired += len(due)
            if len(due) < self._batch:
                return expired

    async def give_up_waiting_purchases(self) -> int:
        """Gives up the payments of one-time purchases still waiting for
        authentication an hour past their time; how many sessions ended. A
        session that fails (payments down) is logged and left for the next
        pass; the others go on."""
        if self._payments is None:
            return 0
        ended = 0
        after: tuple[dt.datetime, uuid.UUID] | None = None
        while True:
            before = self._clock.now() - AUTHENTICATION_GRACE
            async with self._database.connection() as connection:
                due = await CheckoutSecrets(OnConnection(connection)).purchases_processing_past(
                    before, after, self._batch
                )
            for key in due:
                try:
                    ended += await self._give_up(key, self._payments)
                except Exception:
                    log.exception(
                        "giving up a checkout's waiting payment failed; trying again later",
                        extra={"checkout_session_id": str(key.id)},
                    )
            if len(due) < self._batch:
                return ended
            after = (due[-1].expire_at, due[-1].id)

    async def _give_up(self, key: ProcessingKey, payments: PaymentsClient) -> int:
        async with self._database.transaction() as connection:
            work = OrganizationWork(
                connection, key.organization_id, self._clock, self._tables, SOURCE
            )
            sessions = CheckoutSessionRepository(work)
            row = await sessions.get(key.id, for_update=True)
            if row is None or row.order_id is None or row.status != "processing":
                return 0
            billing = Billing(work, self._clock)
            order = await billing.orders.require(row.order_id, for_update=True)
            if not await give_up_waiting(billing, payments, order):
                return 0  # its charge is in flight otherwise: that charge decides
            row = await sessions.require(key.id)
            if CheckoutSessionStatus(row.status) is CheckoutSessionStatus.OPEN:
                # Failed and opened again for another card: too late for one.
                await expire_checkout(work, billing, row, self._clock.now())
            return 1

    async def purge_once(self) -> int:
        """Deletes the sessions that expired longer than the retention ago
        without buying anything, in batches (each its own transaction);
        how many."""
        cutoff = self._clock.now() - self._retention
        purged = 0
        while True:
            async with self._database.transaction() as connection:
                deleted = await CheckoutSecrets(OnConnection(connection)).purge_expired(
                    cutoff, self._batch
                )
            purged += deleted
            if deleted < self._batch:
                return purged
