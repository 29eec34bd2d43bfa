"""The catalog's read copy of customers, filled by the customers service's own
`customer.created` / `customer.deleted` events (both services run here): a
redemption may name a customer once the catalog has heard of it, and no longer
once it is deleted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import grpc

from billingos.catalog.v1 import discounts_pb2, discounts_pb2_grpc, products_pb2, products_pb2_grpc
from billingos.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService, call_metadata

# How long the catalog may take to hear of a change (an asynchronous consumer).
CONSUMER_DEADLINE_SECONDS = 15.0


async def redeem_when_known(
    discounts: discounts_pb2_grpc.DiscountServiceStub,
    request: Callable[[str], discounts_pb2.RedeemDiscountRequest],
    metadata: tuple[tuple[str, str], ...],
    *,
    known: bool,
) -> str:
    """Retries (each time with a new reference: a reference already redeemed
    replays) until the read copy agrees with `known`; the reason, "" when redeemed."""
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while True:
        try:
            await discounts.RedeemDiscount(request(uuid.uuid4().hex), metadata=metadata)
            outcome = ""
        except grpc.aio.AioRpcError as error:
            outcome = call_error(error).reason
        if (outcome == "") == known or time.monotonic() > deadline:
            return outcome
        await asyncio.sleep(0.1)


async def test_a_customer_can_redeem_once_created_and_not_after_deletion(
    catalog_service: RunningService, customers_service: RunningService
) -> None:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    created = await admin.CreateOrganization(
        organizations_pb2.CreateOrganizationRequest(
            organization=organizations_pb2.Organization(name="Read Copy Co")
        ),
        metadata=call_metadata(),
    )
    metadata = call_metadata(uuid.UUID(created.organization.id))
    customers = customers_pb2_grpc.CustomerServiceStub(customers_service.channel)
    customer = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="ada@example.com")
        ),
        metadata=metadata,
    )
    products = products_pb2_grpc.ProductServiceStub(catalog_service.channel)
    product = await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name="Plan")),
        metadata=metadata,
    )
    discounts = discounts_pb2_grpc.DiscountServiceStub(catalog_service.channel)
    discount = await discounts.CreateDiscount(
        discounts_pb2.CreateDiscountRequest(
            discount=discounts_pb2.Discount(
                name="Welcome",
                percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
                duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
            )
        ),
        metadata=metadata,
    )

    def redemption(reference: str) -> discounts_pb2.RedeemDiscountRequest:
        return discounts_pb2.RedeemDiscountRequest(
            id=discount.id,
            product_id=product.id,
            currency="USD",
            reference=reference,
            customer_id=customer.id,
        )

    assert await redeem_when_known(discounts, redemption, metadata, known=True) == ""

    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=customer.id), metadata=metadata
    )
    reason = await redeem_when_known(discounts, redemption, metadata, known=False)
    assert reason == "CUSTOMER_NOT_FOUND"
