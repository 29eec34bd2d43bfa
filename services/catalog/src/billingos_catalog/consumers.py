"""Read copies of other contexts, built from their latest-state streams. Of
the customers context: organizations (id, slug, name), so the public catalog
can be found by slug, and customers (who exists, in which organization,
whether deleted), so a redemption names a live customer, without calling the
customers service. Of the entitlements context: benefits (which
organization's, whether deleted), so a product only lists a live benefit of
its own, and a deleted benefit is detached from every product listing it
(product_benefits.py), in the handler's transaction.

The state stream holds the latest event of every organization and customer
however old (an organization's latest is its `organization.created` or its
last `organization.updated`), so a catalog that starts late (or a new
consumer) still learns all of them as they are now. Handlers are idempotent
under redelivery, replay and reordering: an organization's or a benefit's
older state never overwrites a newer one (update times compared), and a
customer's or a benefit's deletion is final (an older state arriving later
never brings it back). The organization is always the envelope's.

Of the subscriptions context's events (not states): `purchase.abandoned`,
what was bought under a reference was never paid for; the purchase recorded
under it stops counting as the customer's, and the discount uses redeemed
under it are given back (discounts.py). Both leave what is done already as
it is, so a redelivery changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from billingos.customers.v1 import customers_pb2, organizations_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.entitlements.v1 import benefits_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos_catalog.discounts import DiscountService
from billingos_catalog.models import KnownBenefit, KnownCustomer, KnownOrganization, kit_tables
from billingos_catalog.product_benefits import ProductBenefits
from billingos_catalog.purchases import PurchaseService
from billingos_catalog.repository import KnownBenefits, KnownCustomers, KnownOrganizations
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import canonical_id

log = logging.getLogger(__name__)

SOURCE = "catalog"
ORGANIZATIONS_CONSUMER = "catalog-organizations"
CUSTOMERS_CONSUMER = "catalog-customers"
BENEFITS_CONSUMER = "catalog-benefits"
ABANDONED_PURCHASES_CONSUMER = "catalog-abandoned-purchases"


async def remember_organization(
    scope: EventScope,
    data: customer_events.OrganizationCreatedEvent | customer_events.OrganizationUpdatedEvent,
) -> None:
    """An organization, as its envelope names it (the event is its own):
    created, or renamed (the newer state wins)."""
    organization = data.organization
    if organization.id != str(scope.organization_id):
        log.warning(
            "ignoring an organization event about another organization",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    await KnownOrganizations(scope).remember(
        KnownOrganization(
            id=scope.organization_id,
            slug=organization.slug,
            name=organization.name,
            updated_at=_organization_time(scope, organization),
        )
    )


def _organization_time(
    scope: EventScope, organization: organizations_pb2.Organization
) -> dt.datetime:
    """When the state was the organization's: its update time; failing that,
    its creation time, then when the event occurred."""
    for name in ("update_time", "create_time"):
        if organization.HasField(name):
            moment: dt.datetime = getattr(organization, name).ToDatetime(tzinfo=dt.UTC)
            return moment
    if scope.envelope.HasField("occur_time"):
        return scope.envelope.occur_time.ToDatetime(tzinfo=dt.UTC)
    return scope.clock.now()


async def remember_customer(
    scope: EventScope,
    data: customer_events.CustomerCreatedEvent | customer_events.CustomerUpdatedEvent,
) -> None:
    """A customer that exists (or, if the state says so, was deleted)."""
    await _remember(scope, data.customer, deleted=False)


async def forget_customer(scope: EventScope, data: customer_events.CustomerDeletedEvent) -> None:
    """A deleted customer: no redemption may name it any more."""
    await _remember(scope, data.customer, deleted=True)


async def _remember(scope: EventScope, customer: customers_pb2.Customer, *, deleted: bool) -> None:
    customer_id = canonical_id(customer.id)
    if customer_id is None:
        log.warning(
            "ignoring a customer event without a customer id",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    deleted_at: dt.datetime | None = None
    if customer.HasField("delete_time"):
        deleted_at = customer.delete_time.ToDatetime(tzinfo=dt.UTC)
    elif deleted:
        deleted_at = scope.clock.now()
    await KnownCustomers(scope).remember(
        KnownCustomer(id=customer_id, organization_id=scope.organization_id, deleted_at=deleted_at)
    )


async def remember_benefit(
    scope: EventScope,
    data: entitlement_events.BenefitCreatedEvent | entitlement_events.BenefitUpdatedEvent,
) -> None:
    """A benefit that exists (or, if its state says so, was deleted)."""
    await _remember_benefit(scope, data.benefit, deleted=False)


async def forget_benefit(scope: EventScope, data: entitlement_events.BenefitDeletedEvent) -> None:
    """A deleted benefit: no product may list it any more."""
    await _remember_benefit(scope, data.benefit, deleted=True)


async def _remember_benefit(
    scope: EventScope, benefit: benefits_pb2.Benefit, *, deleted: bool
) -> None:
    benefit_id = canonical_id(benefit.id)
    if benefit_id is None:
        log.warning(
            "ignoring a benefit event without a benefit id",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    deleted_at: dt.datetime | None = None
    if benefit.HasField("delete_time"):
        deleted_at = benefit.delete_time.ToDatetime(tzinfo=dt.UTC)
    elif deleted:
        deleted_at = scope.clock.now()
    await KnownBenefits(scope).remember(
        KnownBenefit(
            id=benefit_id,
            organization_id=scope.organization_id,
            key=benefit.key,
            updated_at=_state_time(scope, benefit, deleted_at),
            deleted_at=deleted_at,
        )
    )
    if deleted_at is not None:
        # After the copy's row is written (and so held): see product_benefits.py.
        await ProductBenefits(scope).benefit_deleted(benefit_id)


def _state_time(
    scope: EventScope, benefit: benefits_pb2.Benefit, deleted_at: dt.datetime | None
) -> dt.datetime:
    """When the state was the benefit's: its update time; failing that, its
    deletion or creation time, then when the event occurred (a state without
    times is taken as of its event)."""
    for name in ("update_time", "delete_time", "create_time"):
        if benefit.HasField(name):
            moment: dt.datetime = getattr(benefit, name).ToDatetime(tzinfo=dt.UTC)
            return moment
    if deleted_at is not None:
        return deleted_at
    if scope.envelope.HasField("occur_time"):
        return scope.envelope.occur_time.ToDatetime(tzinfo=dt.UTC)
    return scope.clock.now()


def organization_copy(
    database: Database, clock: Clock, name: str = ORGANIZATIONS_CONSUMER
) -> EventConsumer:
    """The consumer that keeps the organizations read copy."""
    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.OrganizationCreatedEvent, remember_organization)
    consumer.on(customer_events.OrganizationUpdatedEvent, remember_organization)
    return consumer


def customer_copy(
    database: Database, clock: Clock, name: str = CUSTOMERS_CONSUMER
) -> EventConsumer:
    """The consumer that keeps the customers read copy."""
    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.CustomerCreatedEvent, remember_customer)
    consumer.on(customer_events.CustomerUpdatedEvent, remember_customer)
    consumer.on(customer_events.CustomerDeletedEvent, forget_customer)
    return consumer


def benefit_copy(database: Database, clock: Clock, name: str = BENEFITS_CONSUMER) -> EventConsumer:
    """The consumer that keeps the benefits read copy and detaches deleted
    benefits from products (each `product.updated` through this service's
    outbox, in the handler's transaction)."""
    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(entitlement_events.BenefitCreatedEvent, remember_benefit)
    consumer.on(entitlement_events.BenefitUpdatedEvent, remember_benefit)
    consumer.on(entitlement_events.BenefitDeletedEvent, forget_benefit)
    return consumer


async def purchase_abandoned(
    scope: EventScope, data: subscription_events.PurchaseAbandonedEvent
) -> None:
    """Gives back what the purchase used: its discount redemptions and its
    standing as the customer's purchase."""
    if not data.reference:
        log.warning(
            "ignoring a purchase.abandoned event without a reference",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    await DiscountService(scope).release(data.reference)
    await PurchaseService(scope).abandon(data.reference)


def abandoned_purchases(
    database: Database, clock: Clock, name: str = ABANDONED_PURCHASES_CONSUMER
) -> EventConsumer:
    """The consumer that gives back abandoned purchases' discount uses."""
    consumer = EventConsumer.of_events(name, database, kit_tables, clock, SOURCE)
    consumer.on(subscription_events.PurchaseAbandonedEvent, purchase_abandoned)
    return consumer
