"""What payments hears from the customers context: every customer's latest
state (its state stream, so customers made before payments started are
learnt too). Each one gets its Stripe customer; an email or name change is
sent to Stripe once. Handlers are idempotent under redelivery and
reordering: an older state than the one applied is ignored, a deletion is
final, and making the Stripe customer finds one an interrupted try made.
A handler that cannot reach Stripe fails, and the event is redelivered
with backoff (the kit's consumer)."""

from __future__ import annotations

import logging

from billingos.customers.v1 import events_pb2 as customer_events
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Database
from billingos_payments.customers import StripeCustomers, copy_of
from billingos_payments.models import kit_tables
from billingos_payments.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)

SOURCE = "payments"
CUSTOMERS_CONSUMER = "payments-customers"


def customer_copy(
    database: Database,
    clock: Clock,
    stripe: StripeGateway,
    directory: CustomerDirectory,
    name: str = CUSTOMERS_CONSUMER,
) -> EventConsumer:
    async def learn(
        scope: EventScope,
        data: customer_events.CustomerCreatedEvent | customer_events.CustomerUpdatedEvent,
    ) -> None:
        copy = copy_of(data.customer, scope)
        if copy is None:
            log.warning(
                "ignoring a customer event without a customer id",
                extra={"event_id": scope.envelope.event_id},
            )
            return
        await StripeCustomers(scope, stripe, directory).learn(copy)

    async def forget(scope: EventScope, data: customer_events.CustomerDeletedEvent) -> None:
        copy = copy_of(data.customer, scope, deleted=True)
        if copy is not None:
            await StripeCustomers(scope, stripe, directory).learn(copy)

    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.CustomerCreatedEvent, learn)
    consumer.on(customer_events.CustomerUpdatedEvent, learn)
    consumer.on(customer_events.CustomerDeletedEvent, forget)
    return consumer
