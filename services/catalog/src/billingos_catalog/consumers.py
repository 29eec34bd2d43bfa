"""Read copies of the customers context, built from its latest-state stream:
organizations (id, slug, name), so the public catalog can be found by slug,
and customers (who exists, in which organization, whether deleted), so a
redemption names a live customer, without calling the customers service.

The state stream holds the latest event of every organization and customer
however old, so a catalog that starts late (or a new consumer) still learns
all of them. Handlers are idempotent under redelivery, replay and
reordering: an organization's announced state never changes (a known one is
kept), and a customer's deletion is final (an older state arriving later
never brings it back). The organization is always the envelope's.
"""

from __future__ import annotations

import datetime as dt
import logging

from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos_catalog.models import KnownCustomer, KnownOrganization, kit_tables
from billingos_catalog.repository import KnownCustomers, KnownOrganizations
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import canonical_id

log = logging.getLogger(__name__)

SOURCE = "catalog"
ORGANIZATIONS_CONSUMER = "catalog-organizations"
CUSTOMERS_CONSUMER = "catalog-customers"


async def remember_organization(
    scope: EventScope, data: customer_events.OrganizationCreatedEvent
) -> None:
    """An organization, as its envelope names it (the event is its own)."""
    organization = data.organization
    if organization.id != str(scope.organization_id):
        log.warning(
            "ignoring an organization event about another organization",
            extra={"event_id": scope.envelope.event_id},
        )
        return
    await KnownOrganizations(scope).remember(
        KnownOrganization(id=scope.organization_id, slug=organization.slug, name=organization.name)
    )


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


def organization_copy(
    database: Database, clock: Clock, name: str = ORGANIZATIONS_CONSUMER
) -> EventConsumer:
    """The consumer that keeps the organizations read copy."""
    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.OrganizationCreatedEvent, remember_organization)
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
