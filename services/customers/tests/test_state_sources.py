"""What the customers context seeds its latest-state stream with
(states.py): every organization and every customer as it is now, a deleted
customer as a deletion, each under its own organization."""

from __future__ import annotations

import uuid
from typing import Any

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc, events_pb2
from billingos_customers.states import state_sources
from billingos_kit.streams import state_subject_of
from billingos_kit.testing.service import RunningService


async def current_states(service: RunningService) -> dict[str, tuple[Message, uuid.UUID]]:
    """Every state the sources yield, by state subject."""
    found: dict[str, tuple[Message, uuid.UUID]] = {}
    async with (
        service.app.database.connection() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        for source in state_sources():
            async for message, organization_id in source.read(connection):
                subject = state_subject_of(message)
                assert subject is not None
                found[subject] = (message, organization_id)
    return found


async def test_sources_hold_every_organization_and_customer_as_it_is_now(
    customers_service: RunningService, tenant: Any, other_tenant: Any
) -> None:
    customers = customers_pb2_grpc.CustomerServiceStub(customers_service.channel)
    kept = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="kept@example.com", name="Kept")
        ),
        metadata=tenant.metadata(),
    )
    await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            customer=customers_pb2.Customer(id=kept.id, name="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=tenant.metadata(),
    )
    gone = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="gone@example.com")
        ),
        metadata=other_tenant.metadata(),
    )
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=gone.id), metadata=other_tenant.metadata()
    )

    states = await current_states(customers_service)

    kept_state, kept_owner = states[f"billingos.state.customers.customer.{kept.id}"]
    assert isinstance(kept_state, events_pb2.CustomerCreatedEvent)
    assert kept_state.customer.name == "Renamed"
    assert kept_owner == tenant.organization_id
    gone_state, gone_owner = states[f"billingos.state.customers.customer.{gone.id}"]
    assert isinstance(gone_state, events_pb2.CustomerDeletedEvent)
    assert gone_state.customer.HasField("delete_time")
    assert gone_owner == other_tenant.organization_id
    for organization in (tenant, other_tenant):
        state, owner = states[
            f"billingos.state.customers.organization.{organization.organization_id}"
        ]
        assert isinstance(state, events_pb2.OrganizationCreatedEvent)
        assert state.organization.slug == organization.slug
        assert owner == organization.organization_id
