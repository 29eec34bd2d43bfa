"""What the catalog does with other contexts' events: it keeps a read copy of
organizations (id, slug, name) so the public catalog can be found by slug
without calling the customers service."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from billingos.customers.v1 import events_pb2 as customer_events
from billingos_catalog.models import kit_tables
from billingos_catalog.repository import OrganizationDirectory
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database


async def remember_organization(scope: EventScope, data: Message) -> None:
    assert isinstance(data, customer_events.OrganizationCreatedEvent)
    organization = data.organization
    await OrganizationDirectory(scope.session).remember(
        uuid.UUID(organization.id), organization.slug, organization.name
    )


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
