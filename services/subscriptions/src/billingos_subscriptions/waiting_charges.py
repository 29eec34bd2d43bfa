"""Charges that wait for the customer (3-D Secure) given up when what they
pay for is abandoned: an incomplete subscription past its day, a checkout's
purchase past its time. Payments cancels each attempt's PaymentIntent at
Stripe, so no one can confirm it afterwards, and answers how it stands; the
answer is applied here as any payment's (failed: the order is voided by the
engine's own rules; succeeded, the customer confirmed meanwhile: paid).

Unlike the charger, this asks payments inside the caller's transaction:
the work it belongs to (the expiry) must see the answer applied before it
decides, and it is rare (a first charge left waiting for hours), so the
locks it holds meanwhile are few and short-lived."""

from __future__ import annotations

from billingos_subscriptions.billing import Billing
from billingos_subscriptions.charger import result_of
from billingos_subscriptions.clients import PaymentsClient
from billingos_subscriptions.models import Order
from billingos_subscriptions.vocabulary import AttemptStatus


async def give_up_waiting(billing: Billing, payments: PaymentsClient, order: Order) -> bool:
    """Gives up the order's attempts that wait for the customer's
    authentication; whether there were any."""
    waiting = [
        attempt
        for attempt in await billing.attempts.of_orders([order.id])
        if AttemptStatus(attempt.status) is AttemptStatus.REQUIRES_ACTION
    ]
    for attempt in waiting:
        payment = await payments.cancel(
            billing.scope.organization_id, order.id, attempt.attempt_number
        )
        result = result_of(payment)
        if result is not None:
            await billing.apply_payment(result)
    return bool(waiting)
