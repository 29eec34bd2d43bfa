"""The current state of every entity the customers context announces, read
from its tables: what seeds the latest-state stream for entities that last
changed before that stream existed (billingos_kit.snapshot)."""

from __future__ import annotations

from billingos.customers.v1 import events_pb2
from billingos_customers import events
from billingos_customers.models import Customer, Organization, customers, organizations
from billingos_kit.snapshot import StateSource, rows_as_states


def customer_state(
    customer: Customer,
) -> events_pb2.CustomerCreatedEvent | events_pb2.CustomerDeletedEvent:
    """The event that leaves a read copy holding this customer as it is now."""
    if customer.deleted_at is None:
        return events.customer_created(customer)
    return events.customer_deleted(customer)


def state_sources() -> list[StateSource]:
    return [
        rows_as_states(
            "organization",
            organizations,
            Organization,
            events.organization_created,
            organization_of=lambda organization: organization.id,
        ),
        rows_as_states("customer", customers, Customer, customer_state),
    ]
