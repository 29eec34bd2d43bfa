"""The sweep of refunds Stripe never answered for (a worker of the service).

A refund is committed, its amount reserved, before Stripe is asked. When the
asking fails (Stripe unreachable, a crash) and the caller never asks again
with the same Idempotency-Key, the refund would stay pending and its amount
reserved for ever. The sweep looks at each such refund older than
`refund_unsent_after_seconds`: if Stripe has it after all (found by our id
in its metadata) it takes Stripe's status; if not, it is canceled
(`never_reached_stripe`) and its amount is refundable again. The same
reconciliation runs for refund webhooks (Refunds.reconcile).
"""

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
from billingos_payments.payments import Refunds
from billingos_payments.repository import PaymentRepository, UnsentRefund, UnsentRefunds
from billingos_payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

SOURCE = "payments"
BATCH = 100


class UnsentRefundSweep:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        stripe: StripeGateway,
        *,
        unsent_after: dt.timedelta,
        poll_seconds: float,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._stripe = stripe
        self._unsent_after = unsent_after
        self._poll_seconds = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping unsent refunds failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)

    async def sweep(self) -> int:
        """Settles the refunds unsent for longer than `unsent_after`, one
        payment per transaction; how many payments it settled."""
        before = self._clock.now() - self._unsent_after
        async with self._database.transaction() as connection:
            found = await UnsentRefunds(OnConnection(connection)).older_than(before, BATCH)
        settled = 0
        for unsent in found:
            try:
                await self._settle(unsent, before)
                settled += 1
            except Exception:
                log.warning(
                    "an unsent refund could not be settled; trying again later",
                    extra={"payment": str(unsent.payment_id)},
                    exc_info=True,
                )
        return settled

    async def _settle(self, unsent: UnsentRefund, before: dt.datetime) -> None:
        async with self._database.transaction() as connection:
            scope = OrganizationWork(
                connection, unsent.organization_id, self._clock, self._tables, SOURCE
            )
            payment = await PaymentRepository(scope).require(unsent.payment_id, for_update=True)
            await Refunds(scope, self._stripe).reconcile(payment, unsent_before=before)
