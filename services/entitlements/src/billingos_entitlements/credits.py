"""Meter credits: each meter-credits grant has its units credited to the
customer's meter by metering once per period of the subscription that grants
it (once for a one-time purchase) — reset (the balance starts at the units)
or rollover (what is left plus the units), by the benefit's renewal.

Granting records the credit to send (`request`, one per grant and period, in
the grant's transaction: never lost, never twice); the crediter (a worker)
sends it with the row's id as the idempotency key — a retry after a lost
answer is answered from metering's stored reply, so a reset never happens
twice — and retries with backoff while metering is down."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

import grpc

from billingos.metering.v1 import customer_meters_pb2
from billingos_entitlements.clients import MeteringClient
from billingos_entitlements.models import BenefitGrant, GrantSourceCopy, MeterCredit
from billingos_entitlements.repository import DueCredits, MeterCreditRequests
from billingos_entitlements.vocabulary import CreditRenewal, GrantSource
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.ids import new_id
from billingos_kit.repository import DataScope, OnConnection

log = logging.getLogger(__name__)

# A one-time purchase's credit has one "period".
ONCE = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=2)
BACKOFF = (5, 30, 120, 600, 1800)  # seconds after each failed send
_MODES = {
    CreditRenewal.RESET: customer_meters_pb2.CREDIT_MODE_RESET,
    CreditRenewal.ROLLOVER: customer_meters_pb2.CREDIT_MODE_ROLLOVER,
}


async def request(
    scope: DataScope, clock: Clock, grant: BenefitGrant, source: GrantSourceCopy, renewal: str
) -> None:
    """The credit of the grant's current period, unless it is recorded."""
    period = (
        source.current_period_start
        if source.kind == GrantSource.SUBSCRIPTION.value and source.current_period_start
        else ONCE
    )
    now = clock.now()
    await MeterCreditRequests(scope).request_once(
        MeterCredit(
            id=new_id(clock),
            organization_id=grant.organization_id,
            grant_id=grant.id,
            customer_id=grant.customer_id,
            meter_id=uuid.UUID(str(grant.properties["meter_id"])),
            units=str(grant.properties["units"]),
            renewal=renewal,
            period_start=period,
            sent_at=None,
            attempts=0,
            next_try_at=now,
            last_error=None,
            created_at=now,
        )
    )


class Crediter:
    """Sends recorded credits to metering (CustomerMeterAdminService)."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        metering: MeteringClient,
        *,
        batch_size: int = 50,
        poll_seconds: float = 0.5,
    ) -> None:
        self._database = database
        self._clock = clock
        self._metering = metering
        self._batch = batch_size
        self._poll = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sent = 0
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("the crediter's round failed; trying again later")
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll)

    async def run_once(self) -> int:
        """One batch of due credits; how many were sent."""
        now = self._clock.now()
        async with self._database.transaction() as connection:
            due = await DueCredits(OnConnection(connection)).claim(now, now + LEASE, self._batch)
        sent = 0
        for credit in due:
            try:
                await self._send(credit)
            except Exception as error:
                # Metering down or refusing (a meter archived, a rollover
                # while it catches up): the same credit again, later.
                delay = BACKOFF[min(credit.attempts, len(BACKOFF)) - 1]
                reason = (
                    f"{error.code().name}: {error.details()}"
                    if isinstance(error, grpc.aio.AioRpcError)
                    else repr(error)
                )
                log.warning(
                    "a meter credit was not sent; it is tried again",
                    extra={"credit_id": str(credit.id), "reason": reason[:200]},
                )
                async with self._database.transaction() as connection:
                    await DueCredits(OnConnection(connection)).failed(
                        credit.id, self._clock.now() + dt.timedelta(seconds=delay), reason
                    )
                continue
            async with self._database.transaction() as connection:
                await DueCredits(OnConnection(connection)).sent(credit.id, self._clock.now())
            sent += 1
        return sent

    async def _send(self, credit: MeterCredit) -> None:
        await self._metering.credit(
            credit.organization_id,
            customer_meters_pb2.CreditCustomerMeterRequest(
                customer_id=str(credit.customer_id),
                meter_id=str(credit.meter_id),
                units=credit.units,
                mode=_MODES[CreditRenewal(credit.renewal)],
            ),
            f"entitlements-credit:{credit.id}",
        )
