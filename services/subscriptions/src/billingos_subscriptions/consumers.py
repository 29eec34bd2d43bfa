"""What the engine hears: the customers' and the catalog's latest states
(read copies: a customer's test clock; products and prices to buy), and
payments' results (a charge's outcome, applied once by order and attempt;
a new default card, which retries the customer's unpaid orders at once).
Handlers are idempotent under redelivery: copies keep the newer state, a
result already applied changes nothing."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable

from billingos.catalog.v1 import events_pb2 as catalog_events
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.payments.v1 import events_pb2 as payment_events
from billingos.payments.v1 import payments_pb2
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import canonical_id
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import events
from billingos_subscriptions.billing import FINAL_KEY, Billing, FixedClock
from billingos_subscriptions.catalog_copy import (
    customer_copy,
    price_copy,
    product_copy,
    tax_rate_copy,
)
from billingos_subscriptions.charger import result_of
from billingos_subscriptions.models import kit_tables
from billingos_subscriptions.repository import (
    CustomerCopies,
    PriceCopies,
    ProductCopies,
    SeatRepository,
    TaxRateCopies,
    TestClockRepository,
)
from billingos_subscriptions.seats import free_member_seats
from billingos_subscriptions.vocabulary import CancellationReason, OrderStatus

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
# How long an answer about an unknown attempt is retried before it is taken
# for a payment the engine never asked for.
UNKNOWN_FOR = dt.timedelta(hours=1)

_REFUND_STATUSES = {
    payments_pb2.REFUND_STATUS_PENDING: "pending",
    payments_pb2.REFUND_STATUS_SUCCEEDED: "succeeded",
    payments_pb2.REFUND_STATUS_FAILED: "failed",
    payments_pb2.REFUND_STATUS_CANCELED: "canceled",
}


def customers_copy(database: Database, clock: Clock) -> EventConsumer:
    async def learn(
        scope: EventScope,
        data: customer_events.CustomerCreatedEvent | customer_events.CustomerUpdatedEvent,
    ) -> None:
        copy = customer_copy(data.customer, scope.organization_id)
        if copy is not None:
            await CustomerCopies(scope).remember(copy)

    async def forget(scope: EventScope, data: customer_events.CustomerDeletedEvent) -> None:
        copy = customer_copy(data.customer, scope.organization_id, deleted=True)
        if copy is None:
            return
        # The member's lock before the copy says deleted: an assign of the
        # customer's seat either committed before (freed below) or sees it.
        await SeatRepository(scope).lock("member", str(copy.id))
        await CustomerCopies(scope).remember(copy)
        # A deleted customer keeps nothing: its subscriptions end now (a
        # redelivery finds them ended).
        billing = Billing(scope, clock)
        for sub in await billing.subscriptions.of_customer(copy.id):
            if sub.ended_at is None:
                locked = await billing.subscriptions.require(sub.id, for_update=True)
                if locked.ended_at is None:
                    now = await billing.now_for(locked.test_clock_id)
                    await billing.end(locked, now, CancellationReason.CUSTOMER_DELETED)
        # Nor does it hold seats of others' subscriptions: freed, their
        # benefits revoked.
        await free_member_seats(billing, copy.id)

    consumer = EventConsumer.of_state(
        "subscriptions-customers", database, kit_tables, clock, SOURCE
    )
    consumer.on(customer_events.CustomerCreatedEvent, learn)
    consumer.on(customer_events.CustomerUpdatedEvent, learn)
    consumer.on(customer_events.CustomerDeletedEvent, forget)
    return consumer


def catalog_copy(database: Database, clock: Clock) -> EventConsumer:
    async def product(
        scope: EventScope,
        data: catalog_events.ProductCreatedEvent
        | catalog_events.ProductUpdatedEvent
        | catalog_events.ProductArchivedEvent,
    ) -> None:
        copy = product_copy(data.product, scope.organization_id)
        if copy is not None:
            await ProductCopies(scope).remember(copy)

    async def price(
        scope: EventScope,
        data: catalog_events.PriceCreatedEvent
        | catalog_events.PriceUpdatedEvent
        | catalog_events.PriceArchivedEvent,
    ) -> None:
        copy = price_copy(data.price, scope.organization_id)
        if copy is not None:
            await PriceCopies(scope).remember(copy)

    async def tax_rate(
        scope: EventScope,
        data: catalog_events.TaxRateCreatedEvent | catalog_events.TaxRateUpdatedEvent,
    ) -> None:
        copy = tax_rate_copy(data.tax_rate, scope.organization_id)
        if copy is not None:
            await TaxRateCopies(scope).remember(copy)

    async def tax_rate_gone(scope: EventScope, data: catalog_events.TaxRateDeletedEvent) -> None:
        copy = tax_rate_copy(data.tax_rate, scope.organization_id, deleted=True)
        if copy is not None:
            await TaxRateCopies(scope).remember(copy)

    consumer = EventConsumer.of_state("subscriptions-catalog", database, kit_tables, clock, SOURCE)
    consumer.on(catalog_events.TaxRateCreatedEvent, tax_rate)
    consumer.on(catalog_events.TaxRateUpdatedEvent, tax_rate)
    consumer.on(catalog_events.TaxRateDeletedEvent, tax_rate_gone)
    consumer.on(catalog_events.ProductCreatedEvent, product)
    consumer.on(catalog_events.ProductUpdatedEvent, product)
    consumer.on(catalog_events.ProductArchivedEvent, product)
    consumer.on(catalog_events.PriceCreatedEvent, price)
    consumer.on(catalog_events.PriceUpdatedEvent, price)
    consumer.on(catalog_events.PriceArchivedEvent, price)
    return consumer


def payment_results(
    database: Database, clock: Clock, on_retry: Callable[[], None] = lambda: None
) -> EventConsumer:
    async def outcome(
        scope: EventScope,
        data: payment_events.PaymentSucceededEvent
        | payment_events.PaymentFailedEvent
        | payment_events.PaymentRequiresActionEvent,
    ) -> None:
        result = result_of(data.payment)
        if result is None:
            return
        billing = await _billing(scope, clock, result.order_id)
        try:
            await billing.apply_payment(result)
        except LookupError:
            _unknown_for_now(scope, clock)

    async def new_default(
        scope: EventScope,
        data: payment_events.PaymentMethodAttachedEvent | payment_events.PaymentMethodUpdatedEvent,
    ) -> None:
        method = data.payment_method
        if not method.is_default:
            return
        billing = Billing(scope, clock)
        customer_id = uuid.UUID(method.customer_id)
        retried = False
        for order in await billing.orders.open_of_customer(customer_id):
            if OrderStatus(order.status) is not OrderStatus.PENDING or order.attempt_count == 0:
                continue
            if order.subscription_id is not None:
                sub = await billing.subscriptions.get(order.subscription_id)
                ended = sub is None or sub.ended_at is not None
                if ended and not order.billing_key.endswith(FINAL_KEY):
                    continue  # voided when it ended; nothing to retry
            if await billing.in_flight(order):
                continue
            order.next_charge_at = await billing.now_for(order.test_clock_id)
            await billing.orders.update(order, ["next_charge_at"])
            await billing.wake_clock(order.test_clock_id)
            retried = True
        if retried:
            on_retry()

    async def refund(
        scope: EventScope,
        data: payment_events.RefundCreatedEvent | payment_events.RefundUpdatedEvent,
    ) -> None:
        found = data.refund
        refund_id, payment_id = canonical_id(found.id), canonical_id(found.payment_id)
        if refund_id is None or payment_id is None:
            return
        status = _REFUND_STATUSES.get(found.status, "pending")
        updated = (
            found.update_time.ToDatetime(tzinfo=dt.UTC)
            if found.HasField("update_time")
            else clock.now()
        )
        try:
            await Billing(scope, clock).apply_refund(
                refund_id, payment_id, found.amount.amount_minor, status, updated
            )
        except LookupError:
            _unknown_for_now(scope, clock)

    consumer = EventConsumer.of_events(
        "subscriptions-payments", database, kit_tables, clock, SOURCE
    )
    consumer.on(payment_events.RefundCreatedEvent, refund)
    consumer.on(payment_events.RefundUpdatedEvent, refund)
    consumer.on(payment_events.PaymentSucceededEvent, outcome)
    consumer.on(payment_events.PaymentFailedEvent, outcome)
    consumer.on(payment_events.PaymentRequiresActionEvent, outcome)

    async def detached(scope: EventScope, data: payment_events.PaymentMethodDetachedEvent) -> None:
        """A removed card no longer pins a subscription: it is charged on the
        customer's default from now on."""
        card_id = canonical_id(data.payment_method.id)
        customer_id = canonical_id(data.payment_method.customer_id)
        if card_id is None or customer_id is None:
            return
        billing = Billing(scope, clock)
        for sub in await billing.subscriptions.of_customer(customer_id):
            if sub.payment_method_id == card_id:
                locked = await billing.subscriptions.require(sub.id, for_update=True)
                if locked.payment_method_id == card_id:
                    locked.payment_method_id = None
                    locked.updated_at = await billing.now_for(locked.test_clock_id)
                    await billing.subscriptions.update(locked, ["payment_method_id", "updated_at"])
                    await billing.announce(locked, events.updated)

    consumer.on(payment_events.PaymentMethodDetachedEvent, detached)
    consumer.on(payment_events.PaymentMethodAttachedEvent, new_default)
    consumer.on(payment_events.PaymentMethodUpdatedEvent, new_default)
    return consumer


def _unknown_for_now(scope: EventScope, clock: Clock) -> None:
    """An answer about an attempt (or payment) not known: most often its
    transaction is not visible yet, so the event is redelivered with backoff
    (raise). Past UNKNOWN_FOR, it is about a payment the engine never asked
    for (payments charges for others too): logged and let go."""
    occurred = scope.envelope.occur_time.ToDatetime(tzinfo=dt.UTC)
    if clock.now() - occurred < UNKNOWN_FOR:
        raise LookupError("the payment's attempt is not known yet")
    log.warning(
        "a payment result about no order of ours was let go",
        extra={"event_id": scope.envelope.event_id},
    )


async def _billing(scope: EventScope, clock: Clock, order_id: uuid.UUID) -> Billing:
    """Billing in the handler's transaction, on the order's test clock if it
    has one (its events then carry the clock's time)."""
    probe = Billing(scope, clock)
    order = await probe.orders.get(order_id)
    if order is None or order.test_clock_id is None:
        return probe
    found = await TestClockRepository(scope).get(order.test_clock_id)
    if found is None:
        return probe
    work = OrganizationWork(
        await scope.connection(),
        scope.organization_id,
        FixedClock(found.frozen_time),
        kit_tables,
        SOURCE,
    )
    return Billing(work, clock)
