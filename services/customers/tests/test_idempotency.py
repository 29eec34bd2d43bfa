"""Idempotency keys (DESIGN §6) on a real mutating call."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest
from sqlalchemy import func, select

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_customers.models import customers
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService

Stub = customers_pb2_grpc.CustomerServiceStub


def create(email: str = "idem@example.com") -> customers_pb2.CreateCustomerRequest:
    return customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email=email))


async def customer_count(service: RunningService, tenant) -> int:
    count = await scalar(
        service.app.database,
        select(func.count())
        .select_from(customers)
        .where(customers.c.organization_id == tenant.organization_id),
    )
    return int(count or 0)


async def test_same_key_and_request_returns_the_stored_response(
    customers: Stub, customers_service: RunningService, tenant
) -> None:
    first = await customers.CreateCustomer(create(), metadata=tenant.metadata("key-1"))
    second = await customers.CreateCustomer(create(), metadata=tenant.metadata("key-1"))
    assert second == first
    assert await customer_count(customers_service, tenant) == 1


async def test_same_key_with_another_request_is_a_clear_error(
    customers: Stub, customers_service: RunningService, tenant
) -> None:
    await customers.CreateCustomer(create(), metadata=tenant.metadata("key-2"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(
            create("someone-else@example.com"), metadata=tenant.metadata("key-2")
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert error.fields == ["Idempotency-Key"]
    assert await customer_count(customers_service, tenant) == 1


async def test_keys_belong_to_one_organization(customers: Stub, tenant, other_tenant) -> None:
    mine = await customers.CreateCustomer(create(), metadata=tenant.metadata("shared-key"))
    theirs = await customers.CreateCustomer(create(), metadata=other_tenant.metadata("shared-key"))
    assert mine.id != theirs.id


async def test_concurrent_calls_with_one_key_create_once(
    customers: Stub, customers_service: RunningService, tenant
) -> None:
    responses = await asyncio.gather(
        *(customers.CreateCustomer(create(), metadata=tenant.metadata("key-3")) for _ in range(6))
    )
    assert len({r.id for r in responses}) == 1
    assert await customer_count(customers_service, tenant) == 1


async def test_a_refused_call_does_not_burn_its_key(customers: Stub, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await customers.CreateCustomer(create("bad"), metadata=tenant.metadata("key-4"))
    # Nothing was stored for the failed attempt: the key is still free.
    created = await customers.CreateCustomer(
        create("ok@example.com"), metadata=tenant.metadata("key-4")
    )
    assert created.email == "ok@example.com"


async def test_keys_are_honoured_for_24_hours_then_forgotten(
    customers: Stub, customers_service: RunningService, tenant, session_clock
) -> None:
    first = await customers.CreateCustomer(create(), metadata=tenant.metadata("key-5"))
    session_clock.advance(dt.timedelta(hours=23, minutes=59))
    replay = await customers.CreateCustomer(create(), metadata=tenant.metadata("key-5"))
    assert replay.id == first.id
    session_clock.advance(dt.timedelta(minutes=2))
    fresh = await customers.CreateCustomer(create(), metadata=tenant.metadata("key-5"))
    assert fresh.id != first.id
    assert await customer_count(customers_service, tenant) == 2


async def test_reads_ignore_idempotency_keys(customers: Stub, tenant) -> None:
    created = await customers.CreateCustomer(create(), metadata=tenant.metadata())
    for _ in range(2):
        fetched = await customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=created.id), metadata=tenant.metadata("read-key")
        )
        assert fetched.id == created.id


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_malformed_keys_are_refused(customers: Stub, tenant, key: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(create(), metadata=tenant.metadata(key))
    assert call_error(refused.value).fields == ["Idempotency-Key"]
