"""What a checkout session becomes as its first payment settles (its
subscription's first order's, or its one-time purchase's; the engine calls
these as it applies the payment, in the same transaction): completed and
announced once when paid; open again with the payment's error when it
failed, so the customer may try another card, but expired after
MAX_PAYMENT_FAILURES (a page that takes card after card is a card tester's);
expired when its subscription ends before starting (unpaid for a day, or
canceled by the merchant), so none stays processing.

Only a session still processing moves on a payment: one open (confirming,
before the answer) or already completed is left to its confirmation."""

from __future__ import annotations

import datetime as dt

from billingos_kit.workscope import WorkScope
from billingos_subscriptions import events
from billingos_subscriptions.messages import DECLINED_MESSAGE, checkout_session_message
from billingos_subscriptions.models import CheckoutSession, Order, PaymentAttempt, Subscription
from billingos_subscriptions.repository import CheckoutSessionRepository
from billingos_subscriptions.vocabulary import CheckoutSessionStatus

# Failed first payments a session takes before it is expired.
MAX_PAYMENT_FAILURES = 3


async def expire_session(scope: WorkScope, row: CheckoutSession, now: dt.datetime) -> None:
    """Marks the (locked) session expired and announces `checkout.expired`:
    the one place either happens, so once per session."""
    assert CheckoutSessionStatus(row.status) in (
        CheckoutSessionStatus.OPEN,
        CheckoutSessionStatus.PROCESSING,
    )
    row.status = CheckoutSessionStatus.EXPIRED.value
    row.expired_at = now
    row.updated_at = now
    await CheckoutSessionRepository(scope).update(row, ["status", "expired_at", "updated_at"])
    await scope.outbox.add(events.checkout_expired(checkout_session_message(row)))


async def complete(scope: WorkScope, row: CheckoutSession, now: dt.datetime) -> None:
    """Marks the (locked) session completed and announces
    `checkout.completed`: the one place either happens, so once per session."""
    assert CheckoutSessionStatus(row.status) is not CheckoutSessionStatus.COMPLETED
    row.status = CheckoutSessionStatus.COMPLETED.value
    row.completed_at = now
    row.payment_error = None
    row.updated_at = now
    await CheckoutSessionRepository(scope).update(
        row, ["status", "completed_at", "payment_error", "updated_at"]
    )
    await scope.outbox.add(events.checkout_completed(checkout_session_message(row)))


async def _processing(scope: WorkScope, sub: Subscription) -> CheckoutSession | None:
    if sub.checkout_session_id is None:
        return None
    row = await CheckoutSessionRepository(scope).get(sub.checkout_session_id, for_update=True)
    return _if_processing(row)


async def _processing_purchase(scope: WorkScope, order: Order) -> CheckoutSession | None:
    return _if_processing(await CheckoutSessionRepository(scope).of_order(order.id))


def _if_processing(row: CheckoutSession | None) -> CheckoutSession | None:
    if row is None or CheckoutSessionStatus(row.status) is not CheckoutSessionStatus.PROCESSING:
        return None
    return row


async def first_payment_paid(scope: WorkScope, sub: Subscription, now: dt.datetime) -> None:
    row = await _processing(scope, sub)
    if row is not None:
        await complete(scope, row, now)


async def purchase_paid(scope: WorkScope, order: Order, now: dt.datetime) -> None:
    row = await _processing_purchase(scope, order)
    if row is not None:
        await complete(scope, row, now)


async def first_payment_failed(
    scope: WorkScope, sub: Subscription, attempt: PaymentAttempt, now: dt.datetime
) -> None:
    """Its incomplete subscription ends unpaid in a day, as any does, when
    the session gives up."""
    row = await _processing(scope, sub)
    if row is not None:
        await _payment_failed(scope, row, attempt, now)


async def purchase_reopened_after_failure(
    scope: WorkScope, order: Order, attempt: PaymentAttempt, now: dt.datetime
) -> bool:
    """Whether the session takes another card for the purchase (open again);
    False when it gave up (expired after its last allowed failure) or is not
    waiting for it any more: the caller voids the order."""
    row = await _processing_purchase(scope, order)
    if row is None:
        return False
    return not await _payment_failed(scope, row, attempt, now)


async def _payment_failed(
    scope: WorkScope, row: CheckoutSession, attempt: PaymentAttempt, now: dt.datetime
) -> bool:
    """Opens the session again with the failure (its SetupIntent is used
    up, so the next start of the payment asks for a new card), or expires it
    after MAX_PAYMENT_FAILURES (True)."""
    row.payment_error = {
        "code": attempt.failure_code or "",
        "decline_code": attempt.decline_code or "",
        "message": attempt.failure_message or DECLINED_MESSAGE,
    }
    row.payment_failures += 1
    row.setup_intent_id = None
    row.updated_at = now
    await CheckoutSessionRepository(scope).update(
        row, ["payment_error", "payment_failures", "setup_intent_id", "updated_at"]
    )
    if row.payment_failures >= MAX_PAYMENT_FAILURES:
        await expire_session(scope, row, now)
        return True
    row.status = CheckoutSessionStatus.OPEN.value
    await CheckoutSessionRepository(scope).update(row, ["status"])
    return False


async def subscription_ended(scope: WorkScope, sub: Subscription, now: dt.datetime) -> None:
    """The subscription ended: a session of it not completed (processing, or
    open again after a decline) will never be, so it is expired."""
    if sub.checkout_session_id is None:
        return
    row = await CheckoutSessionRepository(scope).get(sub.checkout_session_id, for_update=True)
    if row is None:
        return
    if CheckoutSessionStatus(row.status) in (
        CheckoutSessionStatus.OPEN,
        CheckoutSessionStatus.PROCESSING,
    ):
        await expire_session(scope, row, now)
