"""A customer on a test clock (the subscriptions context's): the clock id is
set on create only, read back everywhere the customer is (responses, events,
the state stream), and refused, never ignored, by an update that would
change it."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc, events_pb2
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

from .test_bad_input import rows_and_events
from .test_state_sources import current_states

Stub = customers_pb2_grpc.CustomerServiceStub
FIELD = "customer.test_clock_id"


def on_clock(clock_id: str, **fields: object) -> customers_pb2.CreateCustomerRequest:
    values: dict[str, object] = {"email": "clocked@example.com", "test_clock_id": clock_id}
    values.update(fields)
    return customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(**values))


async def test_customer_created_on_a_test_clock_reads_back_with_it(
    customers: Stub, tenant, servers: SessionServers
) -> None:
    clock_id = str(uuid.uuid4())
    created = await customers.CreateCustomer(on_clock(clock_id), metadata=tenant.metadata())
    assert created.test_clock_id == clock_id

    fetched = await customers.GetCustomer(
        customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created
    listed = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(), metadata=tenant.metadata()
    )
    assert [c.test_clock_id for c in listed.customers] == [clock_id]

    events = await published_events(
        servers.nats_url, "billingos.customers.customer.created", tenant.organization_id
    )
    payload = events_pb2.CustomerCreatedEvent()
    assert events[0].data.Unpack(payload)
    assert payload.customer.test_clock_id == clock_id


async def test_customer_without_a_clock_is_on_the_real_clock(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email="a@x.io")),
        metadata=tenant.metadata(),
    )
    assert created.test_clock_id == ""


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-a-uuid",
        "42",
        str(uuid.uuid4()).upper(),
        "{" + str(uuid.uuid4()) + "}",
        uuid.uuid4().hex,
        f"urn:uuid:{uuid.uuid4()}",
    ],
)
async def test_malformed_test_clock_id_is_refused_naming_the_field(
    customers: Stub, customers_service: RunningService, tenant, bad_id: str
) -> None:
    before = await rows_and_events(customers_service, tenant.organization_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(on_clock(bad_id), metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [FIELD]
    assert FIELD in error.message
    assert await rows_and_events(customers_service, tenant.organization_id) == before


async def test_malformed_test_clock_id_is_reported_with_the_other_bad_fields(
    customers: Stub, tenant
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(
            on_clock("nope", email="not-an-email"), metadata=tenant.metadata()
        )
    assert set(call_error(refused.value).fields) == {"customer.email", FIELD}


@pytest.mark.parametrize("clock_id", ["", "same", "other"])
async def test_update_mask_naming_the_test_clock_is_refused(
    customers: Stub, customers_service: RunningService, tenant, clock_id: str
) -> None:
    """Even to the value it has: the clock is not a field an update sets."""
    created = await customers.CreateCustomer(
        on_clock(str(uuid.uuid4())), metadata=tenant.metadata()
    )
    given = {"same": created.test_clock_id, "other": str(uuid.uuid4())}.get(clock_id, "")
    before = await rows_and_events(customers_service, tenant.organization_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customers_pb2.Customer(id=created.id, name="x", test_clock_id=given),
                update_mask=field_mask_pb2.FieldMask(paths=["name", "test_clock_id"]),
            ),
            metadata=tenant.metadata(),
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [FIELD]
    assert "test clock it was created on" in error.message
    assert await rows_and_events(customers_service, tenant.organization_id) == before
    fetched = await customers.GetCustomer(
        customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created


async def test_update_without_mask_refuses_another_clock_and_accepts_the_same(
    customers: Stub, tenant
) -> None:
    created = await customers.CreateCustomer(
        on_clock(str(uuid.uuid4())), metadata=tenant.metadata()
    )
    for other in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await customers.UpdateCustomer(
                customers_pb2.UpdateCustomerRequest(
                    customer=customers_pb2.Customer(id=created.id, name="x", test_clock_id=other)
                ),
                metadata=tenant.metadata(),
            )
        assert call_error(refused.value).fields == [FIELD]

    # The whole resource sent back, one field changed: the unchanged clock passes.
    edited = customers_pb2.Customer()
    edited.CopyFrom(created)
    edited.name = "Renamed"
    updated = await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(customer=edited), metadata=tenant.metadata()
    )
    assert updated.name == "Renamed"
    assert updated.test_clock_id == created.test_clock_id


async def test_a_real_clock_customer_cannot_be_moved_onto_a_test_clock(
    customers: Stub, tenant
) -> None:
    created = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email="a@x.io")),
        metadata=tenant.metadata(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customers_pb2.Customer(id=created.id, test_clock_id=str(uuid.uuid4()))
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).fields == [FIELD]


async def test_updated_and_deleted_events_and_the_state_carry_the_clock(
    customers: Stub, customers_service: RunningService, tenant, servers: SessionServers
) -> None:
    clock_id = str(uuid.uuid4())
    created = await customers.CreateCustomer(on_clock(clock_id), metadata=tenant.metadata())
    await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            customer=customers_pb2.Customer(id=created.id, name="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=tenant.metadata(),
    )
    updated_events = await published_events(
        servers.nats_url, "billingos.customers.customer.updated", tenant.organization_id
    )
    updated = events_pb2.CustomerUpdatedEvent()
    assert updated_events[0].data.Unpack(updated)
    assert updated.customer.test_clock_id == clock_id
    assert list(updated.update_mask.paths) == ["name"]

    state, _owner = (await current_states(customers_service))[
        f"billingos.state.customers.customer.{created.id}"
    ]
    assert isinstance(state, events_pb2.CustomerCreatedEvent)
    assert state.customer.test_clock_id == clock_id

    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    deleted_events = await published_events(
        servers.nats_url, "billingos.customers.customer.deleted", tenant.organization_id
    )
    deleted = events_pb2.CustomerDeletedEvent()
    assert deleted_events[0].data.Unpack(deleted)
    assert deleted.customer.test_clock_id == clock_id
    state, _owner = (await current_states(customers_service))[
        f"billingos.state.customers.customer.{created.id}"
    ]
    assert isinstance(state, events_pb2.CustomerDeletedEvent)
    assert state.customer.test_clock_id == clock_id
