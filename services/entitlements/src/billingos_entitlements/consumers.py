"""What entitlements hears: the customers' and the catalog's latest states
(read copies: who a customer is, which benefits a product grants) and the
engine's subscriptions and one-time orders (what grants) and subscriptions'
seats (who else a subscription grants to). Each state that
changes a copy is followed by granting or revoking what it changes
(grants.py), in the same transaction; a redelivered or older state changes
no copy and so nothing else."""

from __future__ import annotations

import uuid

from billingos.catalog.v1 import events_pb2 as catalog_events
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos_entitlements.copies import (
    customer_copy,
    product_copy,
    purchase_source,
    seat_copy,
    subscription_source,
)
from billingos_entitlements.grants import Grants
from billingos_entitlements.models import GrantSourceCopy, kit_tables
from billingos_entitlements.repository import (
    CustomerCopies,
    GrantSourceCopies,
    ProductCopies,
    SeatCopies,
)
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database

SOURCE = "entitlements"


def _event_id(scope: EventScope) -> uuid.UUID:
    return uuid.UUID(scope.envelope.event_id)


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
        if copy is not None:
            await CustomerCopies(scope).remember(copy)

    consumer = EventConsumer.of_state("entitlements-customers", database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.CustomerCreatedEvent, learn)
    consumer.on(customer_events.CustomerUpdatedEvent, learn)
    consumer.on(customer_events.CustomerDeletedEvent, forget)
    return consumer


def products_copy(database: Database, clock: Clock) -> EventConsumer:
    async def product(
        scope: EventScope,
        data: catalog_events.ProductCreatedEvent
        | catalog_events.ProductUpdatedEvent
        | catalog_events.ProductArchivedEvent,
    ) -> None:
        copy = product_copy(data.product, scope.organization_id)
        if copy is None:
            return
        copies = ProductCopies(scope)
        await copies.lock(copy.id)  # before the copy changes: see Grants.reconcile
        if await copies.remember(copy):
            await Grants(scope).product_changed(copy.id, scope.clock.now())

    consumer = EventConsumer.of_state("entitlements-catalog", database, kit_tables, clock, SOURCE)
    consumer.on(catalog_events.ProductCreatedEvent, product)
    consumer.on(catalog_events.ProductUpdatedEvent, product)
    consumer.on(catalog_events.ProductArchivedEvent, product)
    return consumer


_SUBSCRIPTION_EVENTS = (
    subscription_events.SubscriptionCreatedEvent,
    subscription_events.SubscriptionActivatedEvent,
    subscription_events.SubscriptionRenewedEvent,
    subscription_events.SubscriptionUpdatedEvent,
    subscription_events.SubscriptionCanceledEvent,
    subscription_events.SubscriptionUncanceledEvent,
    subscription_events.SubscriptionPastDueEvent,
    subscription_events.SubscriptionRevokedEvent,
)
_SEAT_EVENTS = (
    subscription_events.SubscriptionSeatAssignedEvent,
    subscription_events.SubscriptionSeatRevokedEvent,
)
_ORDER_EVENTS = (
    subscription_events.OrderCreatedEvent,
    subscription_events.OrderPaidEvent,
    subscription_events.OrderUpdatedEvent,
)


def grant_sources(database: Database, clock: Clock) -> EventConsumer:
    """The engine's latest states: each subscription and one-time order, as
    it is now, decides its grants."""

    async def follow(scope: EventScope, source: GrantSourceCopy | None) -> None:
        if source is None:
            return
        # The product's lock before the source's row: the order a product's
        # change takes them in (its lock, then its sources' rows); the
        # source's own lock between them, as a seat's change takes it.
        await ProductCopies(scope).lock(source.product_id)
        sources = GrantSourceCopies(scope)
        await sources.lock(source.id)
        if await sources.remember(source):
            await Grants(scope).reconcile(source, source.source_updated_at)

    async def subscription(scope: EventScope, data: object) -> None:
        message = getattr(data, "subscription")  # noqa: B009 - every subscription event has it
        await follow(scope, subscription_source(message, scope.organization_id, _event_id(scope)))

    async def order(scope: EventScope, data: object) -> None:
        message = getattr(data, "order")  # noqa: B009 - every order event has it
        await follow(scope, purchase_source(message, scope.organization_id, _event_id(scope)))

    async def seat(scope: EventScope, data: object) -> None:
        copy = seat_copy(getattr(data, "seat"), scope.organization_id)  # noqa: B009
        if copy is None:
            return
        # The source's lock before the seat's copy and the source's row: a
        # subscription heard meanwhile reconciles after this commits (and
        # sees the seat), or before (and this sees it). No product lock: the
        # source's row lock keeps a product change's reconcile out.
        sources = GrantSourceCopies(scope)
        await sources.lock(copy.subscription_id)
        if not await SeatCopies(scope).remember(copy):
            return
        source = await sources.get(copy.subscription_id, for_update=True)
        if source is not None:
            await Grants(scope).reconcile(source, copy.source_updated_at)

    consumer = EventConsumer.of_state(
        "entitlements-subscriptions", database, kit_tables, clock, SOURCE
    )
    for subscription_event in _SUBSCRIPTION_EVENTS:
        consumer.on(subscription_event, subscription)
    for order_event in _ORDER_EVENTS:
        consumer.on(order_event, order)
    for seat_event in _SEAT_EVENTS:
        consumer.on(seat_event, seat)
    return consumer
