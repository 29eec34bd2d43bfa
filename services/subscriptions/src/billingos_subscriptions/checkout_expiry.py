"""The checkout expiry sweep (a worker): open checkout sessions past their
expire time (by the injected clock) are claimed with FOR UPDATE SKIP LOCKED,
marked expired and announced (`checkout.expired`), one transaction per
batch. A claimed row is open and unlocked by anyone else, and the claim
holds its lock until the commit: two sweeps, or a sweep and the merchant's
expire, never expire one session twice, so it is announced once. A session
past its time that the sweep has not reached yet is refused all the same
(checkout.refuse_unless_open)."""

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
from billingos_subscriptions.checkout_outcome import expire_session
from billingos_subscriptions.repository import CheckoutSecrets

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
DEFAULT_RETENTION = dt.timedelta(days=30)


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
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._batch = batch_size
        self._poll = poll_seconds
        self._retention = retention

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
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
                    await expire_session(work, row, now)
                    if row.order_id is not None and row.subscription_id is None:
                        # A one-time purchase declined and left: voided.
                        await Billing(work, self._clock).abandon_purchase(row.order_id)
            expired += len(due)
            if len(due) < self._batch:
                return expired

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
