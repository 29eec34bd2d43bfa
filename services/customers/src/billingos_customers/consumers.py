"""What the customers service hears from the payments context: each
customer's Stripe customer (`stripe_customer.created`, from payments'
latest-state stream, so a mapping made while customers was down is learnt
too). It fills the customer's `stripe_customer_id` and announces
`customer.updated` with that path. Idempotent: a mapping already there
changes nothing; a deleted customer keeps what it had."""

from __future__ import annotations

import logging

from billingos.payments.v1 import events_pb2 as payment_events
from billingos_customers import events
from billingos_customers.models import kit_tables
from billingos_customers.repository import CustomerRepository
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import canonical_id

log = logging.getLogger(__name__)

SOURCE = "customers"
STRIPE_CUSTOMERS_CONSUMER = "customers-stripe-customers"


async def link_stripe_customer(
    scope: EventScope, data: payment_events.StripeCustomerCreatedEvent
) -> None:
    customer_id = canonical_id(data.stripe_customer.id)
    stripe_id = data.stripe_customer.stripe_customer_id
    if customer_id is None or not stripe_id:
        log.warning(
            "ignoring a Stripe customer event without ids",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    repository = CustomerRepository(scope)
    customer = await repository.get(customer_id, for_update=True)
    if customer is None or customer.stripe_customer_id == stripe_id:
        return
    customer.stripe_customer_id = stripe_id
    customer.updated_at = scope.clock.now()
    await repository.update(customer, ["stripe_customer_id", "updated_at"])
    await scope.outbox.add(events.customer_updated(customer, ["stripe_customer_id"]))


def stripe_customer_links(
    database: Database, clock: Clock, name: str = STRIPE_CUSTOMERS_CONSUMER
) -> EventConsumer:
    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(payment_events.StripeCustomerCreatedEvent, link_stripe_customer)
    return consumer
