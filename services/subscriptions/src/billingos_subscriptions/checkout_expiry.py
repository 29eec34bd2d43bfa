"""The checkout expiry sweep (a worker): open checkout sessions past their
expire time (by the injected clock) are claimed with FOR UPDATE SKIP LOCKED,
marked expired and announced (`checkout.expired`), one transaction per
batch; a one-time purchase declined and left open has its order voided. A
purchase still processing an hour past its time (its payment waiting for
the customer's 3-D Secure) is expired too and its payment given up at
payments, so no one confirms it later: the order is voided as that failure
is applied, or paid if the customer confirmed meanwhile. A claimed row is
unlocked by anyone else, and the claim holds its lock until the commit: two
sweeps, or a sweep and the merchant's expire, never expire one session
twice, so it is announced once. A session past its time that the sweep
has not reached yet is refused all the same (checkout.refuse_unless_open)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.charger import cancel_waiting
from billingos_subscriptions.checkout import expire_checkout
from billingos_subscriptions.checkout_outcome import expire_session
from billingos_subscriptions.clients import PaymentsClient
from billingos_subscriptions.repository import CheckoutSecrets

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
            try:
                await self.run_once()
                await self.give_up_waiting_purchases()
                await self.purge_once()
            except Exception:
                log.exception("expiring checkout sessions failed; trying again later")
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
        """Expires the one-time purchases still waiting for authentication an
        hour past their time and gives their payments up; how many."""
        if self._payments is None:
            return 0
        given_up = 0
        while True:
            now = self._clock.now()
            async with self._database.transaction() as connection:
                due = await CheckoutSecrets(OnConnection(connection)).purchases_processing_past(
                    now - AUTHENTICATION_GRACE, self._batch
                )
                for row in due:
                    assert row.order_id is not None
                    work = OrganizationWork(
                        connection, row.organization_id, self._clock, self._tables, SOURCE
                    )
                    billing = Billing(work, self._clock)
                    await expire_session(work, row, now)
                    order = await billing.orders.require(row.order_id, for_update=True)
                    await cancel_waiting(billing, self._payments, order)
            given_up += len(due)
            if len(due) < self._batch:
                return given_up

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
