"""Every kind of bad input gets a clear error naming the field, and leaves no
row and no event behind."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import func, select

from billingos.common.v1 import address_pb2
from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_customers.models import customers as customers_table
from billingos_customers.models import kit_tables
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService, call_metadata

Stub = customers_pb2_grpc.CustomerServiceStub


async def rows_and_events(service: RunningService, organization_id: uuid.UUID) -> tuple[int, int]:
    database = service.app.database
    customers = await scalar(
        database,
        select(func.count())
        .select_from(customers_table)
        .where(customers_table.c.organization_id == organization_id),
    )
    events = await scalar(
        database,
        select(func.count())
        .select_from(kit_tables.outbox)
        .where(
            kit_tables.outbox.c.organization_id == organization_id,
            kit_tables.outbox.c.event_type.startswith("customer."),
        ),
    )
    return int(customers or 0), int(events or 0)


def create(**fields: object) -> customers_pb2.CreateCustomerRequest:
    values: dict[str, object] = {"email": "ok@example.com"}
    values.update(fields)
    return customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(**values))


TOO_MANY_KEYS = {f"k{i}": struct_pb2.Value(string_value="v") for i in range(51)}
BAD_CREATES = [
    pytest.param(create(email="not-an-email"), "customer.email", id="invalid-email"),
    pytest.param(create(email=""), "customer.email", id="missing-email"),
    pytest.param(create(email="a" * 310 + "@example.com"), "customer.email", id="long-email"),
    pytest.param(create(name="n" * 257), "customer.name", id="long-name"),
    pytest.param(create(external_id="e" * 257), "customer.external_id", id="long-external-id"),
    pytest.param(create(external_id=" padded "), "customer.external_id", id="padded-external-id"),
    pytest.param(create(metadata=TOO_MANY_KEYS), "customer.metadata", id="too-many-metadata-keys"),
    pytest.param(
        create(metadata={"k" * 41: struct_pb2.Value(string_value="v")}),
        "customer.metadata." + "k" * 41,
        id="long-metadata-key",
    ),
    pytest.param(
        create(metadata={"note": struct_pb2.Value(string_value="x" * 501)}),
        "customer.metadata.note",
        id="long-metadata-value",
    ),
    pytest.param(
        create(metadata={"nested": struct_pb2.Value(struct_value=struct_pb2.Struct())}),
        "customer.metadata.nested",
        id="nested-metadata-value",
    ),
    pytest.param(create(name="Ada\nLovelace"), "customer.name", id="name-line-break"),
    pytest.param(create(name="Ada\tLovelace"), "customer.name", id="name-tab"),
    pytest.param(create(name="Ada\u2028Lovelace"), "customer.name", id="name-line-separator"),
    pytest.param(
        create(name="\u2067\u05e9\u05dc\u05d5\u05dd\u2069 Ada"),
        "customer.name",
        id="name-balanced-isolate",  # a single-line field takes no bidi formatting at all
    ),
    pytest.param(
        create(billing_address=address_pb2.Address(line1="1 Main St\nBcc", country="US")),
        "customer.billing_address.line1",
        id="address-line-break",
    ),
    pytest.param(
        create(billing_address=address_pb2.Address(city="Paris\r", country="FR")),
        "customer.billing_address.city",
        id="address-carriage-return",
    ),
    pytest.param(
        create(billing_address=address_pb2.Address(line2="\u202aFlat 2\u202c", country="GB")),
        "customer.billing_address.line2",
        id="address-balanced-embedding",
    ),
    pytest.param(create(email="ada\n@example.com"), "customer.email", id="email-line-break"),
    pytest.param(create(email="ada@exa\u2029mple.com"), "customer.email", id="email-paragraph"),
    pytest.param(
        create(billing_address=address_pb2.Address(line1="1 Main St")),
        "customer.billing_address.country",
        id="address-without-country",
    ),
    pytest.param(
        create(billing_address=address_pb2.Address(country="XX")),
        "customer.billing_address.country",
        id="unknown-country",
    ),
]


@pytest.mark.parametrize(("request_", "field"), BAD_CREATES)
async def test_bad_create_names_the_field_and_writes_nothing(
    customers: Stub, customers_service: RunningService, tenant, request_, field: str
) -> None:
    before = await rows_and_events(customers_service, tenant.organization_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(request_, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.fields
    assert field in error.message
    assert await rows_and_events(customers_service, tenant.organization_id) == before


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        pytest.param(customers_pb2.Customer(name="Ada\nLovelace"), "customer.name", id="name"),
        pytest.param(
            customers_pb2.Customer(
                billing_address=address_pb2.Address(line1="1 Main St\n2nd floor", country="US")
            ),
            "customer.billing_address.line1",
            id="address-line",
        ),
        pytest.param(
            customers_pb2.Customer(email="ada\r\n@example.com"), "customer.email", id="email"
        ),
    ],
)
async def test_an_update_takes_no_line_break_in_a_name_address_or_email(
    customers: Stub, tenant, customer: customers_pb2.Customer, field: str
) -> None:
    created = await customers.CreateCustomer(
        create(name="Ada Lovelace"), metadata=tenant.metadata()
    )
    customer.id = created.id
    path = field.split(".")[1]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customer, update_mask=field_mask_pb2.FieldMask(paths=[path])
            ),
            metadata=tenant.metadata(),
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.fields
    again = await customers.GetCustomer(
        customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata()
    )
    assert again == created


async def test_several_bad_fields_are_reported_together(customers: Stub, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(
            create(email="nope", name="n" * 300), metadata=tenant.metadata()
        )
    assert set(call_error(refused.value).fields) == {"customer.email", "customer.name"}


@pytest.mark.parametrize("bad_id", ["", "42", "not-a-uuid", "'; drop table customers; --"])
async def test_malformed_id_is_invalid_argument_not_internal(
    customers: Stub, tenant, bad_id: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=bad_id), metadata=tenant.metadata()
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["id"]


async def test_another_organizations_customer_is_not_found(
    customers: Stub, tenant, other_tenant
) -> None:
    theirs = await customers.CreateCustomer(
        create(external_id="x1"), metadata=other_tenant.metadata()
    )
    attempts = [
        customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=theirs.id), metadata=tenant.metadata()
        ),
        customers.GetCustomerByExternalId(
            customers_pb2.GetCustomerByExternalIdRequest(external_id="x1"),
            metadata=tenant.metadata(),
        ),
        customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customers_pb2.Customer(id=theirs.id, name="hijack"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=tenant.metadata(),
        ),
        customers.DeleteCustomer(
            customers_pb2.DeleteCustomerRequest(id=theirs.id), metadata=tenant.metadata()
        ),
    ]
    for attempt in attempts:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await attempt
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    still = await customers.GetCustomer(
        customers_pb2.GetCustomerRequest(id=theirs.id), metadata=other_tenant.metadata()
    )
    assert still.name == theirs.name
    listed = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(), metadata=tenant.metadata()
    )
    assert theirs.id not in [c.id for c in listed.customers]


async def test_duplicate_external_id_is_already_exists(
    customers: Stub, customers_service: RunningService, tenant, other_tenant
) -> None:
    await customers.CreateCustomer(create(external_id="dup"), metadata=tenant.metadata())
    before = await rows_and_events(customers_service, tenant.organization_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(create(external_id="dup"), metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "EXTERNAL_ID_ALREADY_EXISTS"
    assert error.fields == ["customer.external_id"]
    assert await rows_and_events(customers_service, tenant.organization_id) == before
    # Another organization may use the same external id.
    await customers.CreateCustomer(create(external_id="dup"), metadata=other_tenant.metadata())


async def test_concurrent_creates_with_one_external_id_make_one_customer(
    customers: Stub, customers_service: RunningService, tenant
) -> None:
    results = await asyncio.gather(
        *(
            customers.CreateCustomer(create(external_id="race"), metadata=tenant.metadata())
            for _ in range(8)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, customers_pb2.Customer)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1
    assert {e.code() for e in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    assert await rows_and_events(customers_service, tenant.organization_id) == (1, 1)


async def test_update_to_a_taken_external_id_is_already_exists(customers: Stub, tenant) -> None:
    await customers.CreateCustomer(create(external_id="taken"), metadata=tenant.metadata())
    other = await customers.CreateCustomer(create(external_id="mine"), metadata=tenant.metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customers_pb2.Customer(id=other.id, external_id="taken"),
                update_mask=field_mask_pb2.FieldMask(paths=["external_id"]),
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).code == grpc.StatusCode.ALREADY_EXISTS


async def test_unknown_update_mask_path_is_refused(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(create(), metadata=tenant.metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(
                customer=customers_pb2.Customer(id=created.id),
                update_mask=field_mask_pb2.FieldMask(paths=["stripe_customer_id"]),
            ),
            metadata=tenant.metadata(),
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["update_mask"]


@pytest.mark.parametrize(
    "token", ["garbage", "eyJ2IjoxfQ", "e30", "%%%", "eyJ2IjoxLCJhZnRlciI6MSwiZiI6IngifQ"]
)
async def test_bad_page_token_is_invalid_argument(customers: Stub, tenant, token: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(page_token=token), metadata=tenant.metadata()
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["page_token"]


async def test_page_token_from_other_filters_is_refused(customers: Stub, tenant) -> None:
    for i in range(3):
        await customers.CreateCustomer(
            create(email=f"p{i}@example.com"), metadata=tenant.metadata()
        )
    first = await customers.ListCustomers(
        customers_pb2.ListCustomersRequest(page_size=1), metadata=tenant.metadata()
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(
                page_size=1, page_token=first.next_page_token, email="p0@example.com"
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).fields == ["page_token"]


async def test_negative_page_size_is_refused(customers: Stub, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(page_size=-1), metadata=tenant.metadata()
        )
    assert call_error(refused.value).fields == ["page_size"]


async def test_call_without_organization_is_unauthenticated(customers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(), metadata=call_metadata()
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "ORGANIZATION_REQUIRED"


async def test_call_without_service_credential_is_unauthenticated(customers: Stub, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(),
            metadata=call_metadata(tenant.organization_id, service_token="wrong"),
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "SERVICE_CREDENTIAL_INVALID"


async def test_malformed_organization_header_is_invalid_argument(customers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(), metadata=call_metadata("org-1")
        )
    assert call_error(refused.value).fields == ["x-billingos-organization-id"]


async def test_nul_characters_are_refused_naming_the_field(customers: Stub, tenant) -> None:
    """Postgres cannot store U+0000; it is a 400, not a database crash."""
    with pytest.raises(grpc.aio.AioRpcError) as in_name:
        await customers.CreateCustomer(create(name="Ada\x00"), metadata=tenant.metadata())
    assert call_error(in_name.value).fields == ["customer.name"]
    with pytest.raises(grpc.aio.AioRpcError) as in_path:
        await customers.GetCustomerByExternalId(
            customers_pb2.GetCustomerByExternalIdRequest(external_id="a\x00b"),
            metadata=tenant.metadata(),
        )
    assert call_error(in_path.value).code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as in_metadata:
        await customers.CreateCustomer(
            create(metadata={"note": struct_pb2.Value(string_value="x\x00")}),
            metadata=tenant.metadata(),
        )
    assert call_error(in_metadata.value).code == grpc.StatusCode.INVALID_ARGUMENT
