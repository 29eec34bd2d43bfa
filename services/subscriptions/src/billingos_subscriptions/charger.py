"""The charger (a worker): asks payments for each recorded attempt
(PaymentAdminService.ChargeOrder, idempotent per order and attempt number)
outside any transaction, then applies the answer under the attempt's row
lock. Payments down: the attempt waits with backoff and is asked again —
the same attempt, so never a second charge. The answer also arrives as a
payment event (consumers.py); whichever comes first is applied, once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import payments_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.errors import FailedPrecondition, InvalidArgument, Unavailable
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions.billing import Billing, FixedClock, PaymentResult
from billingos_subscriptions.clients import PaymentsClient
from billingos_subscriptions.repository import AttemptRepository, TestClockRepository, WorkClaims
from billingos_subscriptions.vocabulary import AttemptStatus

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
MAX_BACKOFF = dt.timedelta(minutes=5)

_STATUSES = {
    payments_pb2.PAYMENT_STATUS_PENDING: AttemptStatus.PENDING,
    payments_pb2.PAYMENT_STATUS_PROCESSING: AttemptStatus.PROCESSING,
    payments_pb2.PAYMENT_STATUS_REQUIRES_ACTION: AttemptStatus.REQUIRES_ACTION,
    payments_pb2.PAYMENT_STATUS_SUCCEEDED: AttemptStatus.SUCCEEDED,
    payments_pb2.PAYMENT_STATUS_FAILED: AttemptStatus.FAILED,
}


def result_of(payment: payments_pb2.Payment) -> PaymentResult | None:
    status = _STATUSES.get(payment.status)
    if status is None:
        return None
    return PaymentResult(
        order_id=uuid.UUID(payment.order_id),
        attempt_number=payment.attempt_number,
        payment_id=uuid.UUID(payment.id) if payment.id else None,
        status=status,
        failure_code=payment.failure_code,
        decline_code=payment.decline_code,
        failure_message=payment.failure_message,
        retryable=payment.retryable,
    )


def backoff(tries: int) -> dt.timedelta:
    return min(MAX_BACKOFF, dt.timedelta(seconds=2 ** min(tries, 10)))


class Charger:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        payments: PaymentsClient,
        *,
        batch_size: int,
        poll_seconds: float,
        concurrency: int = 8,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._payments = payments
        self._batch = batch_size
        self._poll = poll_seconds
        self._limit = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            done = 0
            try:
                done = await self.run_once()
            except Exception:
                log.exception("sending charges failed; trying again later")
            if done:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self._poll)

    async def run_once(self) -> int:
        async with self._database.connection() as connection:
            found = await WorkClaims(OnConnection(connection)).attempts_to_send(
                self._clock.now(), self._batch
            )
        results = await asyncio.gather(
            *(self._send(c.organization_id, c.id) for c in found), return_exceptions=True
        )
        for claimed, result in zip(found, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "sending a charge failed; it is asked again later",
                    extra={"attempt_id": str(claimed.id)},
                    exc_info=result,
                )
                with contextlib.suppress(Exception):
                    await self._later(claimed.organization_id, claimed.id)
        return sum(r for r in results if isinstance(r, int))

    async def _send(self, organization_id: uuid.UUID, attempt_id: uuid.UUID) -> int:
        async with self._limit:
            async with self._database.connection() as connection:
                attempt = await AttemptRepository(OnConnection(connection, organization_id)).get(
                    attempt_id
                )
            if attempt is None or attempt.send_at is None:
                return 0
            request = payments_pb2.ChargeOrderRequest(
                customer_id=str(attempt.customer_id),
                order_id=str(attempt.order_id),
                attempt_number=attempt.attempt_number,
                amount=money_pb2.Money(
                    amount_minor=attempt.amount_minor, currency=attempt.currency
                ),
                payment_method_id=""
                if attempt.payment_method_id is None
                else str(attempt.payment_method_id),
            )
            result: PaymentResult | None
            try:
                payment = await self._payments.charge(organization_id, request)
                result = result_of(payment)
            except Unavailable:
                await self._later(organization_id, attempt_id)
                return 1
            except (FailedPrecondition, InvalidArgument) as refused:
                # Payments will never take this charge (a currency Stripe
                # does not charge): a failure no retry can fix.
                result = PaymentResult(
                    attempt.order_id,
                    attempt.attempt_number,
                    None,
                    AttemptStatus.FAILED,
                    "charge_refused",
                    "",
                    refused.message,
                    False,
                )
            if result is None:
                await self._later(organization_id, attempt_id)  # a status we do not know yet
                return 1
            await self.apply(organization_id, attempt.test_clock_id, result)
            return 1

    async def apply(
        self, organization_id: uuid.UUID, test_clock_id: uuid.UUID | None, result: PaymentResult
    ) -> None:
        async with self._database.transaction() as connection:
            clock: Clock = self._clock
            if test_clock_id is not None:
                found = await TestClockRepository(OnConnection(connection, organization_id)).get(
                    test_clock_id
                )
                if found is not None:
                    clock = FixedClock(found.frozen_time)
            work = OrganizationWork(connection, organization_id, clock, self._tables, SOURCE)
            await Billing(work, self._clock).apply_payment(result)

    async def _later(self, organization_id: uuid.UUID, attempt_id: uuid.UUID) -> None:
        async with self._database.transaction() as connection:
            attempts = AttemptRepository(OnConnection(connection, organization_id))
            attempt = await attempts.get(attempt_id, for_update=True)
            if attempt is None or attempt.send_at is None:
                return
            attempt.send_tries += 1
            attempt.send_at = self._clock.now() + backoff(attempt.send_tries)
            await attempts.update(attempt, ["send_tries", "send_at"])
        log.warning(
            "payments is unavailable; the charge is asked again later",
            extra={"attempt_id": str(attempt_id)},
        )
