"""What the catalog does with other contexts' events: it keeps read copies of
organizations (id, slug, name), so the public catalog can be found by slug,
and of customers (who exists, in which organization), so a redemption names a
real customer, without calling the customers service."""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf.message import Message

from billingos.customers.v1 import events_pb2 as customer_events
from billingos_catalog.models import kit_tables
from billingos_catalog.repository import CustomerDirectory, OrganizationDirectory
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database


async def remember_organization(scope: EventScope, data: Message) -> None:
    assert isinstance(data, customer_events.OrganizationCreatedEvent)
    organization = data.organization
    await OrganizationDirectory(scope.session).remember(
        uuid.UUID(organization.id), organization.slug, organization.name
    )


async def remember_customer(scope: EventScope, data: Message) -> None:
    assert isinstance(data, customer_events.CustomerCreatedEvent)
    await CustomerDirectory(scope.session).remember(
        uuid.UUID(data.customer.id), scope.organization_id
    )


async def forget_customer(scope: EventScope, data: Message) -> None:
    assert isinstance(data, customer_events.CustomerDeletedEvent)
    customer = data.customer
    deleted_at = (
        customer.delete_time.ToDatetime(tzinfo=dt.UTC)
        if customer.HasField("delete_time")
        else scope.clock.now()
    )
    await CustomerDirectory(scope.session).forget(
        uuid.UUID(customer.id), scope.organization_id, deleted_at
    )


def customer_consumer(database: Database, clock: Clock) -> EventConsumer:
    consumer = EventConsumer(
        name="catalog-customers",
        source="customers",
        database=database,
        tables=kit_tables,
        clock=clock,
        own_source="catalog",
    )
    consumer.on("customer.created", customer_events.CustomerCreatedEvent, remember_customer)
    consumer.on("customer.deleted", customer_events.CustomerDeletedEvent, forget_customer)
    return consumer


def organization_consumer(database: Database, clock: Clock) -> EventConsumer:
    consumer = EventConsumer(
        name="catalog-organizations",
        source="customers",
        database=database,
        tables=kit_tables,
        clock=clock,
        own_source="catalog",
    )
    consumer.on(
        "organization.created", customer_events.OrganizationCreatedEvent, remember_organization
    )
    return consumer
