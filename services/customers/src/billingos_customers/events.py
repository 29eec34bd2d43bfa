"""The events the customers context publishes, through the call's outbox."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from billingos.customers.v1 import events_pb2
from billingos_customers.messages import customer_message, organization_message
from billingos_customers.models import Customer, Organization
from billingos_kit.outbox import Outbox


async def customer_created(outbox: Outbox, customer: Customer) -> None:
    await outbox.add(
        "customer.created",
        customer.organization_id,
        events_pb2.CustomerCreatedEvent(customer=customer_message(customer)),
    )


async def customer_updated(outbox: Outbox, customer: Customer, changed: list[str]) -> None:
    await outbox.add(
        "customer.updated",
        customer.organization_id,
        events_pb2.CustomerUpdatedEvent(
            customer=customer_message(customer),
            update_mask=field_mask_pb2.FieldMask(paths=changed),
        ),
    )


async def customer_deleted(outbox: Outbox, customer: Customer) -> None:
    await outbox.add(
        "customer.deleted",
        customer.organization_id,
        events_pb2.CustomerDeletedEvent(customer=customer_message(customer)),
    )


async def organization_created(outbox: Outbox, organization: Organization) -> None:
    await outbox.add(
        "organization.created",
        organization.id,
        events_pb2.OrganizationCreatedEvent(organization=organization_message(organization)),
    )
