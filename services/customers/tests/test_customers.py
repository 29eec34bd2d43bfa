"""Customer lifecycle over gRPC against real Postgres and JetStream."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from billingos.common.v1 import address_pb2
from billingos.customers.v1 import customers_pb2, customers_pb2_grpc, events_pb2
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers

Stub = customers_pb2_grpc.CustomerServiceStub


def new_customer(**fields: object) -> customers_pb2.CreateCustomerRequest:
    values: dict[str, object] = {"email": "ada@example.com", "name": "Ada Lovelace"}
    values.update(fields)
    return customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(**values))


async def test_created_customer_reads_back_with_every_field(customers: Stub, tenant) -> None:
    request = new_customer(
        external_id="user_123",
        metadata={
            "plan": struct_pb2.Value(string_value="pro"),
            "seats": struct_pb2.Value(number_value=3),
            "beta": struct_pb2.Value(bool_value=True),
        },
        billing_address=address_pb2.Address(line1="1 Main St", city="Paris", country="FR"),
    )
    created = await customers.CreateCustomer(request, metadata=tenant.metadata())

    fetched = await customers.GetCustomer(
        customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created
    assert fetched.organization_id == str(tenant.organization_id)
    assert fetched.email == "ada@example.com"
    assert fetched.external_id == "user_123"
    assert fetched.metadata["seats"].number_value == 3
    assert fetched.metadata["beta"].bool_value is True
    assert fetched.billing_address.country == "FR"
    assert fetched.stripe_customer_id == ""
    assert fetched.create_time == fetched.update_time
    assert not fetched.HasField("delete_time")


async def test_create_publishes_customer_created(
    customers: Stub, tenant, servers: SessionServers
) -> None:
    created = await customers.CreateCustomer(new_customer(), metadata=tenant.metadata())

    events = await published_events(
        servers.nats_url, "billingos.customers.customer.created", tenant.organization_id
    )
    assert len(events) == 1
    assert events[0].type == "customer.created"
    assert events[0].source == "customers"
    payload = events_pb2.CustomerCreatedEvent()
    assert events[0].data.Unpack(payload)
    assert payload.customer == created


async def test_get_by_external_id(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(
        new_customer(external_id="ext-42"), metadata=tenant.metadata()
    )
    found = await customers.GetCustomerByExternalId(
        customers_pb2.GetCustomerByExternalIdRequest(external_id="ext-42"),
        metadata=tenant.metadata(),
    )
    assert found.id == created.id


async def test_list_pages_newest_first_without_gaps_or_repeats(customers: Stub, tenant) -> None:
    created = [
        await customers.CreateCustomer(
            new_customer(email=f"c{i}@example.com"), metadata=tenant.metadata()
        )
        for i in range(5)
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(page_size=2, page_token=token),
            metadata=tenant.metadata(),
        )
        assert len(page.customers) <= 2
        seen += [c.id for c in page.customers]
        token = page.next_page_token
        if not token:
            break
    assert seen == [c.id for c in reversed(created)]


async def test_list_filters_by_email_case_insensitively_and_by_external_id(
    customers: Stub, tenant
) -> None:
    ada = await customers.CreateCustomer(
        new_customer(email="Ada@Example.com", external_id="a"), metadata=tenant.metadata()
    )
    await customers.CreateCustomer(
        new_customer(email="bob@example.com", external_id="b"), metadata=tenant.metadata()
    )

    by_email = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(email="ada@example.COM"), metadata=tenant.metadata()
    )
    by_external_id = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(external_id="a"), metadata=tenant.metadata()
    )
    assert [c.id for c in by_email.customers] == [ada.id]
    assert [c.id for c in by_external_id.customers] == [ada.id]


async def test_update_changes_only_masked_fields_and_publishes_the_change(
    customers: Stub, tenant, servers: SessionServers, session_clock
) -> None:
    created = await customers.CreateCustomer(
        new_customer(external_id="keep"), metadata=tenant.metadata()
    )
    session_clock.advance(dt.timedelta(seconds=5))
    updated = await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            customer=customers_pb2.Customer(id=created.id, name="Countess", email="ignored@x.io"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=tenant.metadata(),
    )
    assert updated.name == "Countess"
    assert updated.email == created.email
    assert updated.external_id == "keep"
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    events = await published_events(
        servers.nats_url, "billingos.customers.customer.updated", tenant.organization_id
    )
    payload = events_pb2.CustomerUpdatedEvent()
    assert events[0].data.Unpack(payload)
    assert list(payload.update_mask.paths) == ["name"]
    assert payload.customer == updated


async def test_update_without_mask_updates_the_fields_given(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(new_customer(), metadata=tenant.metadata())
    updated = await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            customer=customers_pb2.Customer(id=created.id, email="new@example.com")
        ),
        metadata=tenant.metadata(),
    )
    assert updated.email == "new@example.com"
    assert updated.name == created.name


async def test_update_can_clear_the_external_id_and_address(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(
        new_customer(external_id="to-clear", billing_address=address_pb2.Address(country="US")),
        metadata=tenant.metadata(),
    )
    updated = await customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            customer=customers_pb2.Customer(id=created.id),
            update_mask=field_mask_pb2.FieldMask(paths=["external_id", "billing_address"]),
        ),
        metadata=tenant.metadata(),
    )
    assert updated.external_id == ""
    assert not updated.HasField("billing_address")


async def test_deleted_customer_is_gone_and_frees_its_external_id(
    customers: Stub, tenant, servers: SessionServers
) -> None:
    created = await customers.CreateCustomer(
        new_customer(external_id="reuse-me"), metadata=tenant.metadata()
    )
    deleted = await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    assert deleted.HasField("delete_time")

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata()
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(), metadata=tenant.metadata()
    )
    assert created.id not in [c.id for c in listed.customers]

    again = await customers.CreateCustomer(
        new_customer(external_id="reuse-me"), metadata=tenant.metadata()
    )
    assert again.id != created.id
    events = await published_events(
        servers.nats_url, "billingos.customers.customer.deleted", tenant.organization_id
    )
    assert [e.type for e in events] == ["customer.deleted"]


async def test_deleting_twice_is_not_found(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(new_customer(), metadata=tenant.metadata())
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await customers.DeleteCustomer(
            customers_pb2.DeleteCustomerRequest(id=created.id), metadata=tenant.metadata()
        )
    assert call_error(again.value).reason == "CUSTOMER_NOT_FOUND"
