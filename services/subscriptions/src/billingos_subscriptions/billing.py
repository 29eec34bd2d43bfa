"""Orders and their money: opening an order (once per billing key), its
amounts from billingos_pricing's invoice arithmetic, the customer's balance,
charge attempts, and what a payment's result does to the order and its
subscription (activation, recovery, dunning). Everything here runs inside
the caller's transaction: a call's, a handler's or a worker's."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from billingos.catalog.v1 import products_pb2
from billingos.subscriptions.v1 import orders_pb2, subscriptions_pb2
from billingos_kit.clock import Clock
from billingos_kit.ids import new_id, new_ids
from billingos_kit.workscope import WorkScope
from billingos_pricing import invoices
from billingos_subscriptions import checkout_outcome, events, order_amounts
from billingos_subscriptions.billing_rules import BillingRules, rules_of
from billingos_subscriptions.dunning import after_failure
from billingos_subscriptions.messages import (
    attempt_message,
    order_message,
    seat_message,
    subscription_message,
)
from billingos_subscriptions.models import (
    Order,
    OrderLine,
    OrderRefund,
    PaymentAttempt,
    PendingLine,
    Subscription,
    SubscriptionItem,
    SubscriptionSeat,
)
from billingos_subscriptions.repository import (
    AttemptRepository,
    BalanceRepository,
    CustomerCopies,
    ItemRepository,
    OrderLineRepository,
    OrderRepository,
    PendingLineRepository,
    RefundCopies,
    SeatRepository,
    SubscriptionRepository,
    TaxRateCopies,
    TestClockRepository,
)
from billingos_subscriptions.vocabulary import (
    IN_FLIGHT_ATTEMPTS,
    NO_CARD_FAILURES,
    SETTLED_ATTEMPTS,
    AttemptStatus,
    BillingReason,
    CancellationReason,
    DunningFinalAction,
    LineKind,
    OrderStatus,
    SubscriptionStatus,
)

log = logging.getLogger(__name__)

INCOMPLETE_EXPIRES_AFTER = dt.timedelta(hours=23)
# The billing key's end for the order that bills what is left when a
# subscription ends (its last usage, its waiting prorations).
FINAL_KEY = ":final"
TRIAL_NOTICE_BEFORE = dt.timedelta(days=3)


class FixedClock:
    """A test clock's frozen time, as a Clock: what everything on the clock
    (orders, attempts, events) is stamped with."""

    def __init__(self, moment: dt.datetime) -> None:
        self._moment = moment

    def now(self) -> dt.datetime:
        return self._moment


@dataclass
class LineDraft:
    """A line before the invoice arithmetic: `amount` as its pricing model
    gave it (rounded once there, or a whole amount)."""

    kind: LineKind
    description: str
    amount: int
    price_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    prorated_seconds: int = 0
    period_seconds: int = 0
    quantity: str = "1"
    meter_id: uuid.UUID | None = None
    event_count: int = 0
    late_quantity: str = ""
    cap_minor: int | None = None
    tax_behavior: invoices.TaxBehavior = invoices.TaxBehavior.UNSPECIFIED


@dataclass(frozen=True)
class PaymentResult:
    """What payments answered for one attempt (a ChargeOrder reply or a
    payment event)."""

    order_id: uuid.UUID
    attempt_number: int
    payment_id: uuid.UUID | None
    status: AttemptStatus
    failure_code: str
    decline_code: str
    failure_message: str
    retryable: bool


def price_of(item: SubscriptionItem) -> products_pb2.Price:
    price = products_pb2.Price()
    price.ParseFromString(item.price_snapshot)
    return price


class Billing:
    """The organization's orders, bound to one scope. `real_clock` is the
    service's own clock, for when payments is asked (a test clock's frozen
    time says what the charge is for, not when to send it)."""

    def __init__(self, scope: WorkScope, real_clock: Clock) -> None:
        self.scope = scope
        self.real_clock = real_clock
        self.subscriptions = SubscriptionRepository(scope)
        self.items = ItemRepository(scope)
        self.orders = OrderRepository(scope)
        self.lines = OrderLineRepository(scope)
        self.pending = PendingLineRepository(scope)
        self.attempts = AttemptRepository(scope)
        self.balances = BalanceRepository(scope)
        self.clocks = TestClockRepository(scope)
        self._rules: BillingRules | None = None

    async def rules(self) -> BillingRules:
        if self._rules is None:
            self._rules = await rules_of(self.scope)
        return self._rules

    async def wake_clock(self, test_clock_id: uuid.UUID | None) -> None:
        """Work on a test clock began outside an advance (a subscription
        made, a new card): the clock is ADVANCING until it has settled, so
        READY always means nothing on it is in flight."""
        if test_clock_id is None:
            return
        clock = await self.clocks.get(test_clock_id, for_update=True)
        if clock is not None and clock.status != "advancing":
            clock.status = "advancing"
            await self.clocks.update(clock, ["status"])

    async def now_for(self, test_clock_id: uuid.UUID | None) -> dt.datetime:
        """The business time of something on `test_clock_id` (or the real one)."""
        if test_clock_id is None:
            return self.scope.clock.now()
        clock = await self.clocks.get(test_clock_id)
        return self.scope.clock.now() if clock is None else clock.frozen_time

    # ---- messages and events ------------------------------------------------

    async def subscription_state(self, sub: Subscription) -> subscriptions_pb2.Subscription:
        return subscription_message(sub, await self.items.of_subscriptions([sub.id]))

    async def announce(
        self, sub: Subscription, *makers: Callable[[subscriptions_pb2.Subscription], Message]
    ) -> None:
        state = await self.subscription_state(sub)
        for make in makers:
            await self.scope.outbox.add(make(state))

    async def order_state(self, order: Order) -> orders_pb2.Order:
        lines = await self.lines.of_orders([order.id])
        attempts = await self.attempts.of_orders([order.id])
        return order_message(order, lines, attempts)

    # ---- opening orders -------------------------------------------------------

    async def open_order(
        self,
        sub: Subscription,
        reason: BillingReason,
        billing_key: str,
        now: dt.datetime,
        lines: Sequence[LineDraft],
        *,
        period: tuple[dt.datetime, dt.datetime] | None = None,
        usage: tuple[dt.datetime, dt.datetime] | None = None,
        take_pending: bool = False,
    ) -> Order | None:
        """Opens the order for `billing_key`, or does nothing (None) if it
        exists: the one place a renewal's uniqueness is enforced. With a
        `usage` window it stays a draft until the finalizer has read the
        usage from metering; otherwise it is final at once."""
        order = new_order(sub, reason, billing_key, self.scope.clock, now, period, usage)
        if not await self.orders.insert_once(order):
            return None
        drafts = list(lines)
        if take_pending:
            for pending in await self.pending.waiting(sub.id):
                drafts.append(draft_of_pending(pending))
                pending.order_id = order.id
                await self.pending.update(pending, ["order_id"])
        rows = self._line_rows(order, drafts)
        sub.latest_order_id = order.id
        sub.updated_at = now
        await self.subscriptions.update(sub, ["latest_order_id", "updated_at"])
        if usage is None:
            # Final at once: amounts computed before the lines are written,
            # so each line is written once.
            await self.finalize(order, sub, now, new_lines=rows)
        else:
            await self.lines.insert(*rows)
        return order

    def _line_rows(
        self, order: Order, drafts: Sequence[LineDraft], start: int = 0
    ) -> list[OrderLine]:
        return order_line_rows(order, drafts, self.scope.clock, start)

    async def add_usage_lines(self, order: Order, drafts: Sequence[LineDraft]) -> None:
        existing = await self.lines.of_orders([order.id])
        await self.lines.insert(*self._line_rows(order, drafts, start=len(existing)))

    # ---- amounts ------------------------------------------------------------

    async def finalize(
        self,
        order: Order,
        sub: Subscription,
        now: dt.datetime,
        *,
        new_lines: list[OrderLine] | None = None,
    ) -> None:
        """Computes the order's amounts (nothing here rounds: the invoice
        arithmetic does), applies the customer's balance and makes it pending
        with its first attempt, or paid when nothing is due. `new_lines`: the
        lines of an order just opened, not written yet (written here, with
        their amounts); otherwise the order's written lines are updated."""
        discount, rate = await self.pricing_of(sub, order.customer_id, order.period_start or now)
        amounts, due = await self._settle_amounts(order, discount, rate, now, new_lines)
        if order_amounts.uses_up_discount(sub, discount, amounts):
            assert sub.discount_remaining_orders is not None
            sub.discount_remaining_orders -= 1
            await self.subscriptions.update(sub, ["discount_remaining_orders"])
        if due == 0:
            await self._paid(order, sub, now)
        else:
            await self.request_attempt(
                order, sub.payment_method_id, now, first=new_lines is not None
            )

    async def open_purchase(
        self,
        order: Order,
        drafts: Sequence[LineDraft],
        discount: invoices.Discount | None,
        payment_method_id: uuid.UUID,
        now: dt.datetime,
    ) -> bool:
        """Opens a one-time purchase's order (no subscription; False: its
        billing key has one already) with its lines, the discount and the
        customer's tax rate, and charges `payment_method_id` for what is due,
        or marks it paid when nothing is."""
        if not await self.orders.insert_once(order):
            return False
        rate = await self.tax_rate(order.customer_id)
        rows = self._line_rows(order, drafts)
        _, due = await self._settle_amounts(order, discount, rate, now, rows)
        if due == 0:
            await self._mark_paid(order, now)
            await checkout_outcome.purchase_paid(self.scope, order, now)
        else:
            await self.request_attempt(order, payment_method_id, now, first=True)
        return True

    async def _settle_amounts(
        self,
        order: Order,
        discount: invoices.Discount | None,
        rate: order_amounts.Rate | None,
        now: dt.datetime,
        new_lines: list[OrderLine] | None,
    ) -> tuple[invoices.InvoiceAmounts, int]:
        """Writes the order's amounts and lines, takes what the customer's
        balance covers and announces `order.created`; returns the amounts and
        what is due now."""
        lines = new_lines if new_lines is not None else await self.lines.of_orders([order.id])
        amounts = order_amounts.invoice_of(order.currency, lines, discount, rate)
        if new_lines is not None:
            await self.lines.insert(*new_lines)
        else:
            for line in lines:
                await self.lines.update(
                    line,
                    ["amount_minor", "discount_minor", "tax_minor", "tax_inclusive", "total_minor"],
                )
        balance = await self.balances.locked(order.customer_id, order.currency, now)
        settlement = order_amounts.settle(balance.credit_minor, amounts, order.currency)
        if settlement.credit_after is not None:
            balance.credit_minor = settlement.credit_after
            balance.updated_at = now
            await self.balances.set_credit(balance)
        order_amounts.record_amounts(order, amounts, rate, settlement, now)
        await self.orders.update(order, list(order_amounts.ORDER_AMOUNT_FIELDS))
        state = (
            order_message(order, lines, [])
            if new_lines is not None
            else await self.order_state(order)
        )
        await self.scope.outbox.add(events.order_created(state))
        return amounts, settlement.due

    async def pricing_of(
        self, sub: Subscription, customer_id: uuid.UUID, at: dt.datetime
    ) -> tuple[invoices.Discount | None, order_amounts.Rate | None]:
        """What an order of `sub` for a period starting `at` is priced with:
        the subscription's discount then, and the customer's tax rate. An
        order's finalizing and a change's preview both take them here."""
        return order_amounts.discount_for(sub, at), await self.tax_rate(customer_id)

    async def tax_rate(self, customer_id: uuid.UUID) -> order_amounts.Rate | None:
        """The rate of the customer's billing address (the read copies)."""
        customer = await CustomerCopies(self.scope).get(customer_id)
        if customer is None or not customer.country:
            return None
        rates = await TaxRateCopies(self.scope).of_country(customer.country)
        return order_amounts.rate_for(customer, rates)

    # ---- charging -------------------------------------------------------------

    async def request_attempt(
        self,
        order: Order,
        payment_method_id: uuid.UUID | None,
        now: dt.datetime,
        *,
        first: bool = False,
    ) -> PaymentAttempt:
        """Records the next attempt, on the card named (None: the
        customer's default); the charger asks payments for it."""
        number = 1 if first else await self._next_attempt_number(order)
        attempt = new_attempt(
            order, payment_method_id, number, self.scope.clock, now, self.real_clock.now()
        )
        await self.attempts.insert(attempt)
        order.next_charge_at = None
        order.updated_at = now
        await self.orders.update(order, ["next_charge_at", "updated_at"])
        return attempt

    async def in_flight(self, order: Order) -> bool:
        """Whether an attempt of the order may still turn into money."""
        attempts = await self.attempts.of_orders([order.id])
        return any(AttemptStatus(a.status) in IN_FLIGHT_ATTEMPTS for a in attempts)

    async def _next_attempt_number(self, order: Order) -> int:
        attempts = await self.attempts.of_orders([order.id])
        return 1 + max((a.attempt_number for a in attempts), default=0)

    async def apply_payment(self, result: PaymentResult) -> bool:
        """Applies payments' answer for one attempt, once: a repeat, or an
        answer older than the one applied, changes nothing (False). An
        attempt not known yet raises LookupError: the answer is retried
        until the attempt's transaction is visible."""
        attempt = await self.attempts.find(result.order_id, result.attempt_number, for_update=True)
        if attempt is None:
            raise LookupError(
                f"attempt {result.attempt_number} of order {result.order_id} is not known"
            )
        if AttemptStatus(attempt.status) in SETTLED_ATTEMPTS:
            return False
        if attempt.status == result.status.value and attempt.payment_id == result.payment_id:
            return False
        # The subscription's lock before its order's, as a cancel, a change
        # and the scheduler take them (subscription, then its orders): a
        # payment applied while the merchant cancels waits, never deadlocks.
        unlocked = await self.orders.require(attempt.order_id)
        sub = None
        if unlocked.subscription_id is not None:
            sub = await self.subscriptions.require(unlocked.subscription_id, for_update=True)
        order = await self.orders.require(attempt.order_id, for_update=True)
        now = await self.now_for(order.test_clock_id)
        attempt.status = result.status.value
        attempt.payment_id = result.payment_id
        attempt.failure_code = result.failure_code or None
        attempt.decline_code = result.decline_code or None
        attempt.failure_message = result.failure_message or None
        attempt.retryable = result.retryable
        attempt.send_at = None
        attempt.updated_at = now
        await self.attempts.update(attempt, _ATTEMPT_RESULT)
        if result.status is AttemptStatus.SUCCEEDED and (
            OrderStatus(order.status) in _SETTLED_ORDERS
            or (
                sub is not None
                and sub.ended_at is not None
                and BillingReason(order.billing_reason) is BillingReason.SUBSCRIPTION_CREATE
                and sub.trial_end is None
            )
        ):
            # Money moved for an order settled already (a charge confirmed
            # after its order was voided), or for the first period of a
            # subscription that ended before it started: recorded, and
            # reported here (and a void order's by `./billingos reconcile`)
            # for a person to refund.
            log.error(
                "a payment succeeded for an order that delivers nothing (%s, its subscription "
                "ended: %s); refund it",
                order.status,
                sub is not None and sub.ended_at is not None,
                extra={"order_id": str(order.id), "payment_id": str(result.payment_id)},
            )
        if sub is None:
            await self._purchase_result(order, attempt, now)
        elif result.status is AttemptStatus.SUCCEEDED:
            if OrderStatus(order.status) is OrderStatus.PENDING:
                order.amount_paid_minor = attempt.amount_minor
                await self._paid(order, sub, now)
        elif (
            result.status is AttemptStatus.FAILED
            and OrderStatus(order.status) is OrderStatus.PENDING
        ):
            await self._failed(order, sub, attempt, now)
        return True

    async def apply_refund(
        self,
        refund_id: uuid.UUID,
        payment_id: uuid.UUID,
        amount_minor: int,
        status: str,
        updated_at: dt.datetime,
    ) -> bool:
        """Records a refund of an order's payment (False: an older state
        than the one recorded; LookupError: a payment not known) and sets the
        order's refunded amount and status from all its succeeded refunds."""
        attempt = await self.attempts.by_payment(payment_id)
        if attempt is None:
            # Not a payment of ours, or its result is not applied yet (its
            # event can come after the refund's): the consumer retries.
            raise LookupError(f"payment {payment_id} is not known (yet)")
        refunds = RefundCopies(self.scope)
        changed = await refunds.remember(
            OrderRefund(
                refund_id,
                self.scope.organization_id,
                attempt.order_id,
                amount_minor,
                status,
                updated_at,
            )
        )
        if not changed:
            return False
        order = await self.orders.require(attempt.order_id, for_update=True)
        refunded = await refunds.refunded(order.id)
        if refunded == order.amount_refunded_minor:
            return True
        order.amount_refunded_minor = refunded
        if OrderStatus(order.status) in _REFUNDABLE:
            paid = order.amount_paid_minor
            order.status = (
                OrderStatus.PAID
                if refunded == 0
                else OrderStatus.REFUNDED
                if refunded >= paid
                else OrderStatus.PARTIALLY_REFUNDED
            ).value
        order.updated_at = await self.now_for(order.test_clock_id)
        await self.orders.update(order, ["amount_refunded_minor", "status", "updated_at"])
        await self.scope.outbox.add(events.order_updated(await self.order_state(order)))
        return True

    async def _purchase_result(
        self, order: Order, attempt: PaymentAttempt, now: dt.datetime
    ) -> None:
        """A one-time purchase's payment: paid, its checkout completes; failed,
        its checkout opens again for another card (no dunning: nothing was
        delivered yet), and the order is voided once the checkout gives up
        (or is gone: expired while the payment was in flight)."""
        if OrderStatus(order.status) is not OrderStatus.PENDING:
            return
        status = AttemptStatus(attempt.status)
        if status is AttemptStatus.SUCCEEDED:
            order.amount_paid_minor = attempt.amount_minor
            await self._mark_paid(order, now)
            await checkout_outcome.purchase_paid(self.scope, order, now)
        elif status is AttemptStatus.FAILED:
            order.attempt_count += 1
            if order.first_failed_at is None:
                order.first_failed_at = now
            order.updated_at = now
            await self.orders.update(order, ["attempt_count", "first_failed_at", "updated_at"])
            if await checkout_outcome.purchase_reopened_after_failure(
                self.scope, order, attempt, now
            ):
                await self.scope.outbox.add(events.order_updated(await self.order_state(order)))
            else:
                await self._void_purchase(order, now)

    async def abandon_purchase(self, order_id: uuid.UUID) -> None:
        """A one-time purchase whose checkout expired unpaid: voided, unless
        an attempt may still turn into money (then its answer decides)."""
        order = await self.orders.get(order_id, for_update=True)
        if (
            order is None
            or order.subscription_id is not None
            or OrderStatus(order.status) is not OrderStatus.PENDING
            or await self.in_flight(order)
        ):
            return
        await self._void_purchase(order, await self.now_for(order.test_clock_id))

    async def _void_purchase(self, order: Order, now: dt.datetime) -> None:
        """Voids a one-time purchase's order, never paid for."""
        await self._void(order, now)
        await self._give_back(order, now, purchase_reference(order), order_id=order.id)

    async def void_open(self, sub: Subscription, order: Order, now: dt.datetime) -> None:
        """Voids one of the subscription's open orders. The first order of
        one that never started (no trial, never paid) delivered nothing, so
        what it took is given back too."""
        await self._void(order, now)
        if (
            BillingReason(order.billing_reason) is BillingReason.SUBSCRIPTION_CREATE
            and sub.trial_end is None
            and sub.purchase_reference is not None
        ):
            await self._give_back(order, now, sub.purchase_reference, subscription_id=sub.id)

    async def _give_back(
        self,
        order: Order,
        now: dt.datetime,
        reference: str,
        *,
        subscription_id: uuid.UUID | None = None,
        order_id: uuid.UUID | None = None,
    ) -> None:
        """A voided order that delivered nothing: `purchase.abandoned` has
        the catalog give back the discount use redeemed under `reference`
        (and stop counting the purchase)."""
        await self.scope.outbox.add(
            events.purchase_abandoned(
                reference, order.customer_id, subscription_id=subscription_id, order_id=order_id
            )
        )

    async def _mark_paid(self, order: Order, now: dt.datetime) -> None:
        order.status = OrderStatus.PAID.value
        order.paid_at = now
        order.next_charge_at = None
        order.updated_at = now
        await self.orders.update(
            order, ["status", "amount_paid_minor", "paid_at", "next_charge_at", "updated_at"]
        )
        await self.scope.outbox.add(events.order_paid(await self.order_state(order)))

    async def _paid(self, order: Order, sub: Subscription, now: dt.datetime) -> None:
        await self._mark_paid(order, now)
        status = SubscriptionStatus(sub.status)
        if status is SubscriptionStatus.INCOMPLETE:
            sub.status = SubscriptionStatus.ACTIVE.value
            schedule_next_action(sub)
            sub.updated_at = now
            await self.subscriptions.update(sub, ["status", "next_action_at", "updated_at"])
            await self.announce(sub, events.activated)
            await checkout_outcome.first_payment_paid(self.scope, sub, now)
        elif status in (
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.UNPAID,
            SubscriptionStatus.TRIALING,
        ) and not await self._in_dunning(sub, besides=order.id):
            sub.status = SubscriptionStatus.ACTIVE.value
            sub.next_retry_at = None
            schedule_next_action(sub)
            sub.updated_at = now
            await self.subscriptions.update(
                sub, ["status", "next_retry_at", "next_action_at", "updated_at"]
            )
            await self.announce(sub, events.updated)

    async def _in_dunning(self, sub: Subscription, besides: uuid.UUID) -> bool:
        opened = await self.orders.open_of_subscription(sub.id)
        return any(o.id != besides and o.attempt_count > 0 for o in opened)

    async def _failed(
        self, order: Order, sub: Subscription, attempt: PaymentAttempt, now: dt.datetime
    ) -> None:
        order.attempt_count += 1
        if order.first_failed_at is None:
            order.first_failed_at = now
        order.updated_at = now
        reason = BillingReason(order.billing_reason)
        status = SubscriptionStatus(sub.status)
        if status is SubscriptionStatus.INCOMPLETE and reason is BillingReason.SUBSCRIPTION_CREATE:
            # A first charge that fails leaves the subscription incomplete: the
            # customer fixes the card (a new default retries at once) or it
            # expires a day later. No dunning for what never started.
            await self.orders.update(order, ["attempt_count", "first_failed_at", "updated_at"])
            await self.scope.outbox.add(events.order_updated(await self.order_state(order)))
            await checkout_outcome.first_payment_failed(self.scope, sub, attempt, now)
            return
        if sub.ended_at is not None and reason is BillingReason.SUBSCRIPTION_CREATE:
            # Its attempt was in flight when the subscription ended (a first
            # charge waiting for authentication): the period it billed will
            # never be delivered, so it is voided, never dunned. (A renewal's
            # or a final order's usage was delivered: dunned on its own.)
            await self.orders.update(order, ["attempt_count", "first_failed_at", "updated_at"])
            await self.void_open(sub, order, now)
            return
        if (
            reason is BillingReason.SUBSCRIPTION_CREATE
            and sub.trial_end is not None
            and attempt.failure_code in NO_CARD_FAILURES
        ):
            # The trial ended and there is no card to charge.
            await self._void(order, now)
            await self.end(sub, now, CancellationReason.TRIAL_ENDED_WITHOUT_PAYMENT_METHOD)
            return
        rules = await self.rules()
        step = after_failure(
            rules.dunning, order.first_failed_at, order.attempt_count, attempt.retryable
        )
        retries_left = max(0, len(rules.dunning.retry_delays) - (order.attempt_count - 1))
        order.next_charge_at = step.retry_at
        await self.orders.update(
            order, ["attempt_count", "first_failed_at", "next_charge_at", "updated_at"]
        )
        if sub.ended_at is not None:
            # The subscription has ended (its final usage order failed): the
            # order is dunned on its own; nothing revives the subscription.
            if step.give_up:
                await self._void(order, now)
            else:
                await self.scope.outbox.add(events.order_updated(await self.order_state(order)))
            return
        if step.give_up:
            if rules.final_action is DunningFinalAction.MARK_UNPAID:
                # Uncollectible but kept: a new default card can still pay it.
                order.next_charge_at = None
                await self.orders.update(order, ["next_charge_at"])
                await self.scope.outbox.add(events.order_updated(await self.order_state(order)))
                sub.status = SubscriptionStatus.UNPAID.value
                sub.next_retry_at = None
                sub.next_action_at = None
                sub.updated_at = now
                await self.subscriptions.update(
                    sub, ["status", "next_retry_at", "next_action_at", "updated_at"]
                )
                await self.announce(sub, events.updated)
            else:
                await self._void(order, now)
                await self.end(sub, now, CancellationReason.PAYMENT_FAILED)
            return
        sub.status = SubscriptionStatus.PAST_DUE.value
        sub.next_retry_at = step.retry_at
        schedule_next_action(sub)
        sub.updated_at = now
        await self.subscriptions.update(
            sub, ["status", "next_retry_at", "next_action_at", "updated_at"]
        )
        order_state = await self.order_state(order)
        await self.scope.outbox.add(events.order_updated(order_state))
        state = await self.subscription_state(sub)
        await self.scope.outbox.add(
            events.past_due(
                state, order_state, attempt_message(attempt), step.retry_at, retries_left
            )
        )

    async def _void(self, order: Order, now: dt.datetime) -> None:
        """Voids an unpaid order. The customer's balance gets back what the
        order took from it (the credit it applied, or the debt it collected,
        less a credit it carried), as Stripe credits back a voided invoice's
        applied balance: nothing of it was paid."""
        order.status = OrderStatus.VOID.value
        order.next_charge_at = None
        order.updated_at = now
        await self.orders.update(order, ["status", "next_charge_at", "updated_at"])
        taken = order.credit_applied_minor - order.credit_carried_minor
        if taken:
            balance = await self.balances.locked(order.customer_id, order.currency, now)
            balance.credit_minor += taken
            balance.updated_at = now
            await self.balances.set_credit(balance)
        await self.scope.outbox.add(events.order_updated(await self.order_state(order)))

    async def retry_now(self, order: Order, sub: Subscription, now: dt.datetime) -> None:
        """A due retry (or a new default card): the next attempt."""
        if OrderStatus(order.status) is not OrderStatus.PENDING:
            order.next_charge_at = None
            await self.orders.update(order, ["next_charge_at"])
            return
        await self.request_attempt(order, sub.payment_method_id, now)

    # ---- ending ---------------------------------------------------------------

    async def open_final_order(
        self,
        sub: Subscription,
        period: tuple[dt.datetime, dt.datetime],
        now: dt.datetime,
        *,
        metered: bool,
    ) -> None:
        """The order of what is left when a subscription ends: the usage of
        its last (or cut-short) period and the prorations waiting for the next
        order. None when there is nothing left."""
        waiting = await self.pending.waiting(sub.id)
        if not metered and not waiting:
            return
        await self.open_order(
            sub,
            BillingReason.SUBSCRIPTION_CYCLE,
            f"{sub.id}:{period[1].isoformat()}{FINAL_KEY}",
            now,
            [],
            usage=period if metered else None,
            take_pending=True,
        )

    async def end(self, sub: Subscription, now: dt.datetime, reason: CancellationReason) -> None:
        """Ends the subscription now: canceled, revoked, nothing renews; its
        pending orders other than the final one are voided unless a charge of
        theirs is in flight (its answer decides: `_failed`). One that never
        started gives back what its first order took (`void_open`)."""
        already_canceled = sub.canceled_at is not None
        sub.status = SubscriptionStatus.CANCELED.value
        sub.ended_at = now
        sub.canceled_at = sub.canceled_at or now
        sub.cancellation_reason = sub.cancellation_reason or reason.value
        sub.next_action_at = None
        sub.next_retry_at = None
        sub.updated_at = now
        await self.subscriptions.update(
            sub,
            [
                "status",
                "ended_at",
                "canceled_at",
                "cancellation_reason",
                "next_action_at",
                "next_retry_at",
                "updated_at",
            ],
        )
        for order in await self.orders.open_of_subscription(sub.id):
            final = order.billing_key.endswith(FINAL_KEY)
            if (
                OrderStatus(order.status) is OrderStatus.PENDING
                and not final
                and not await self.in_flight(order)
            ):
                await self.void_open(sub, order, now)
        if await self._waits_for_customer(sub):
            # A charge waiting for the customer's 3-D Secure may never be
            # answered: the scheduler gives it up at once (`_after_end`).
            sub.next_action_at = now
            await self.subscriptions.update(sub, ["next_action_at"])
        # Its seats end with it: an ended subscription is never live again.
        for seat in await SeatRepository(self.scope).held_of_subscription(sub.id):
            await self.free_seat(sub, seat, now)
        if already_canceled:
            await self.announce(sub, events.revoked)
        else:
            await self.announce(sub, lambda state: events.canceled(state, ""), events.revoked)
        await checkout_outcome.subscription_ended(self.scope, sub, now)

    async def _waits_for_customer(self, sub: Subscription) -> bool:
        """Whether an open order of the subscription has a charge waiting for
        the customer's authentication."""
        opened = await self.orders.open_of_subscription(sub.id)
        attempts = await self.attempts.of_orders([order.id for order in opened])
        return any(AttemptStatus(a.status) is AttemptStatus.REQUIRES_ACTION for a in attempts)

    async def free_seat(self, sub: Subscription, seat: SubscriptionSeat, now: dt.datetime) -> None:
        """Frees a held seat (the caller holds the subscription's row lock,
        then the seat's): its member's grants are revoked."""
        seat.revoked_at = seat.updated_at = max(now, seat.assigned_at)
        await SeatRepository(self.scope).update(seat, ["revoked_at", "updated_at"])
        await self.scope.outbox.add(events.seat_revoked(seat_message(seat)))


_REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED})
# Orders settled already: another attempt's money for one is an anomaly (a
# charge confirmed after its order was voided, or paid otherwise).
_SETTLED_ORDERS = _REFUNDABLE | {OrderStatus.VOID}


def schedule_next_action(sub: Subscription) -> None:
    """When the scheduler next has work for the subscription."""
    status = SubscriptionStatus(sub.status)
    times: list[dt.datetime] = []
    if status is SubscriptionStatus.TRIALING and sub.trial_end is not None:
        times.append(sub.trial_end)
        if not sub.trial_will_end_sent:
            times.append(max(sub.trial_end - TRIAL_NOTICE_BEFORE, sub.trial_start or sub.trial_end))
    elif status is SubscriptionStatus.INCOMPLETE:
        times.append(sub.created_at + INCOMPLETE_EXPIRES_AFTER)
    elif status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
        times.append(sub.current_period_end)
    sub.next_action_at = min(times) if times else None


PURCHASE_KEY_PREFIX = "purchase:"


def purchase_billing_key(reference: str) -> str:
    """A one-time purchase's order's unique key: its reference's (a
    checkout's `checkout:<id>`), so a purchase has one order."""
    return PURCHASE_KEY_PREFIX + reference


def purchase_reference(order: Order) -> str:
    """The reference a one-time purchase's order was opened under."""
    assert order.billing_key.startswith(PURCHASE_KEY_PREFIX), order.billing_key
    return order.billing_key.removeprefix(PURCHASE_KEY_PREFIX)


def period_billing_key(
    subscription_id: uuid.UUID, start: dt.datetime, reason: BillingReason
) -> str:
    """The unique key of a subscription's order for the period starting at
    `start`: the one thing that makes a second such order impossible, so
    every path that opens one (first order, renewal alone or in a batch)
    spells it here."""
    return f"{subscription_id}:{start.isoformat()}:{reason.value}"


def new_order(
    sub: Subscription,
    reason: BillingReason,
    billing_key: str,
    clock: Clock,
    now: dt.datetime,
    period: tuple[dt.datetime, dt.datetime] | None = None,
    usage: tuple[dt.datetime, dt.datetime] | None = None,
) -> Order:
    """A new order of the subscription, a draft with nothing on it yet."""
    order = blank_order(
        sub.organization_id,
        sub.customer_id,
        sub.currency,
        sub.test_clock_id,
        reason,
        billing_key,
        clock,
        now,
    )
    order.subscription_id = sub.id
    order.period_start, order.period_end = period if period else (None, None)
    order.usage_from, order.usage_to = usage if usage else (None, None)
    return order


def blank_order(
    organization_id: uuid.UUID,
    customer_id: uuid.UUID,
    currency: str,
    test_clock_id: uuid.UUID | None,
    reason: BillingReason,
    billing_key: str,
    clock: Clock,
    now: dt.datetime,
) -> Order:
    """A new draft order of the customer's, of no subscription (a one-time
    purchase's) until one is set, with nothing on it yet."""
    return Order(
        id=new_id(clock),
        organization_id=organization_id,
        customer_id=customer_id,
        subscription_id=None,
        billing_key=billing_key,
        billing_reason=reason.value,
        status=OrderStatus.DRAFT.value,
        currency=currency,
        period_start=None,
        period_end=None,
        usage_from=None,
        usage_to=None,
        subtotal_minor=0,
        discount_minor=0,
        tax_minor=0,
        inclusive_tax_minor=0,
        total_minor=0,
        credit_applied_minor=0,
        credit_carried_minor=0,
        amount_due_minor=0,
        amount_paid_minor=0,
        amount_refunded_minor=0,
        tax_rate_percent=None,
        test_clock_id=test_clock_id,
        attempt_count=0,
        first_failed_at=None,
        next_charge_at=None,
        created_at=now,
        finalized_at=None,
        paid_at=None,
        updated_at=now,
    )


def new_attempt(
    order: Order,
    payment_method_id: uuid.UUID | None,
    number: int,
    clock: Clock,
    now: dt.datetime,
    send_at: dt.datetime,
) -> PaymentAttempt:
    """Attempt `number` at the order's amount due, for the charger to send
    at `send_at` (the service's own time, even on a test clock)."""
    return PaymentAttempt(
        id=new_id(clock),
        organization_id=order.organization_id,
        order_id=order.id,
        customer_id=order.customer_id,
        attempt_number=number,
        amount_minor=order.amount_due_minor,
        currency=order.currency,
        payment_method_id=payment_method_id,
        test_clock_id=order.test_clock_id,
        status=AttemptStatus.REQUESTED.value,
        payment_id=None,
        failure_code=None,
        decline_code=None,
        failure_message=None,
        retryable=True,
        send_at=send_at,
        send_tries=0,
        created_at=now,
        updated_at=now,
    )


class OrderKey(Protocol):
    """What an order's lines name of it: an order, or a quote of one."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def organization_id(self) -> uuid.UUID: ...


def order_line_rows(
    order: OrderKey, drafts: Sequence[LineDraft], clock: Clock, start: int = 0
) -> list[OrderLine]:
    """The order's line rows for `drafts` (positions from `start`), their
    amounts still to be computed."""
    return [
        OrderLine(
            id=line_id,
            organization_id=order.organization_id,
            order_id=order.id,
            position=start + index,
            kind=draft.kind.value,
            description=draft.description,
            price_id=draft.price_id,
            product_id=draft.product_id,
            period_start=draft.period_start,
            period_end=draft.period_end,
            prorated_seconds=draft.prorated_seconds,
            period_seconds=draft.period_seconds,
            quantity=draft.quantity,
            meter_id=draft.meter_id,
            event_count=draft.event_count,
            late_quantity=draft.late_quantity,
            amount_given=str(draft.amount),
            cap_minor=draft.cap_minor,
            tax_behavior=draft.tax_behavior.value,
            amount_minor=0,
            discount_minor=0,
            tax_minor=0,
            tax_inclusive=False,
            total_minor=0,
        )
        for index, (draft, line_id) in enumerate(
            zip(drafts, new_ids(clock, len(drafts)), strict=True)
        )
    ]


def draft_of_pending(row: PendingLine) -> LineDraft:
    return LineDraft(
        kind=LineKind(row.kind),
        description=row.description,
        amount=row.amount_minor,
        price_id=row.price_id,
        product_id=row.product_id,
        period_start=row.period_start,
        period_end=row.period_end,
        prorated_seconds=row.prorated_seconds,
        period_seconds=row.period_seconds,
        quantity=row.quantity,
        tax_behavior=invoices.TaxBehavior(row.tax_behavior),
    )


_ATTEMPT_RESULT = [
    "status",
    "payment_id",
    "failure_code",
    "decline_code",
    "failure_message",
    "retryable",
    "send_at",
    "updated_at",
]
