"""Purchases over gRPC against real Postgres and JetStream: the billing
engine's RecordPurchase marks prices used (once) and is idempotent per
reference; a purchase naming an unknown customer or price records nothing;
the admin service is internal."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import events_pb2, products_pb2, purchases_pb2, taxes_pb2
from billingos_catalog import models
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, gateway_metadata

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"


async def new_product(products, tenant) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(
                name="Plan",
                recurring=MONTH,
                prices=[
                    products_pb2.Price(
                        currency="USD", fixed=products_pb2.FixedAmount(amount_minor=2900)
                    ),
                    products_pb2.Price(
                        currency="USD",
                        metered_unit=products_pb2.MeteredUnitAmount(
                            unit_amount="0.5", meter_id=METER_ID
                        ),
                    ),
                ],
            )
        ),
        metadata=tenant.metadata(),
    )


def purchase_request(
    customer_id: str, *price_ids: str, reference: str = "sub-1"
) -> purchases_pb2.RecordPurchaseRequest:
    return purchases_pb2.RecordPurchaseRequest(
        purchase=purchases_pb2.Purchase(
            reference=reference, customer_id=customer_id, price_ids=list(price_ids)
        )
    )


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def purchase_rows(service: RunningService, organization_id: uuid.UUID) -> int:
    table = models.purchases
    found = await scalar(
        service.app.database,
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id),
    )
    return int(found or 0)


async def test_a_purchase_marks_its_prices_used_once(
    products,
    prices,
    purchases,
    new_customer,
    tenant,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    product = await new_product(products, tenant)
    plan, usage = product.prices
    customer_id = await new_customer(tenant)
    recorded = await purchases.RecordPurchase(
        purchase_request(customer_id, plan.id, usage.id, plan.id), metadata=tenant.metadata()
    )
    assert recorded.customer_id == customer_id
    assert list(recorded.price_ids) == [plan.id, usage.id]
    assert recorded.purchase_time.ToDatetime(tzinfo=session_clock.now().tzinfo) == (
        session_clock.now()
    )
    first_use = session_clock.now()
    for price in (plan, usage):
        used = await prices.GetPrice(
            products_pb2.GetPriceRequest(id=price.id), metadata=tenant.metadata()
        )
        assert used.first_use_time.ToDatetime(tzinfo=first_use.tzinfo) == first_use
    updates = await published_events(
        servers.nats_url, "billingos.catalog.price.updated", tenant.organization_id, at_least=2
    )
    masks = []
    for envelope in updates:
        payload = events_pb2.PriceUpdatedEvent()
        assert envelope.data.Unpack(payload)
        masks.append((payload.price.id, list(payload.update_mask.paths)))
    # Neither price chose a tax behaviour and the organization has no
    # default: both are frozen exclusive (tax_rules.frozen_tax_behavior).
    used_mask = ["first_use_time", "tax_behavior"]
    assert sorted(masks) == sorted([(plan.id, used_mask), (usage.id, used_mask)])
    announced = await published_events(
        servers.nats_url, "billingos.catalog.purchase.recorded", tenant.organization_id
    )
    payload = events_pb2.PurchaseRecordedEvent()
    assert announced[0].data.Unpack(payload)
    assert payload.purchase == recorded

    # A later purchase of the same price leaves its first use as it was.
    session_clock.advance(dt.timedelta(minutes=1))
    await purchases.RecordPurchase(
        purchase_request(await new_customer(tenant), plan.id, reference="sub-2"),
        metadata=tenant.metadata(),
    )
    again = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=plan.id), metadata=tenant.metadata()
    )
    assert again.first_use_time.ToDatetime(tzinfo=first_use.tzinfo) == first_use


async def test_the_same_reference_returns_the_first_purchase(
    products, purchases, new_customer, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    customer_id = await new_customer(tenant)
    plan, usage = product.prices
    first = await purchases.RecordPurchase(
        purchase_request(customer_id, plan.id, usage.id), metadata=tenant.metadata()
    )
    again = await purchases.RecordPurchase(
        purchase_request(customer_id, usage.id, plan.id, usage.id), metadata=tenant.metadata()
    )
    assert again == first
    assert await purchase_rows(catalog_service, tenant.organization_id) == 1


async def test_a_reference_reused_for_another_purchase_is_refused(
    products, purchases, new_customer, catalog_service: RunningService, tenant
) -> None:
    """A reference names one purchase: the same one again is a retry, another
    customer or other prices under it is a mistake, refused by name."""
    product = await new_product(products, tenant)
    plan, usage = product.prices
    customer_id = await new_customer(tenant)
    await purchases.RecordPurchase(
        purchase_request(customer_id, plan.id), metadata=tenant.metadata()
    )
    other_customer = await refusal(
        purchases.RecordPurchase(
            purchase_request(await new_customer(tenant), plan.id), metadata=tenant.metadata()
        )
    )
    assert other_customer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert other_customer.reason == "PURCHASE_REFERENCE_REUSED"
    assert other_customer.fields == ["purchase.customer_id"]
    other_prices = await refusal(
        purchases.RecordPurchase(
            purchase_request(customer_id, plan.id, usage.id), metadata=tenant.metadata()
        )
    )
    assert other_prices.reason == "PURCHASE_REFERENCE_REUSED"
    assert other_prices.fields == ["purchase.price_ids"]
    assert await purchase_rows(catalog_service, tenant.organization_id) == 1


async def test_concurrent_calls_with_one_reference_both_get_the_purchase(
    products, purchases, new_customer, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    customer_id = await new_customer(tenant)
    ids = [price.id for price in product.prices]
    for round_ in range(3):
        request = purchase_request(customer_id, *ids, reference=f"race-{round_}")
        outcomes = await asyncio.gather(
            *(purchases.RecordPurchase(request, metadata=tenant.metadata()) for _ in range(4))
        )
        assert all(outcome == outcomes[0] for outcome in outcomes)
    assert await purchase_rows(catalog_service, tenant.organization_id) == 3


async def test_a_used_unspecified_price_keeps_the_tax_behaviour_it_was_bought_with(
    products, prices, purchases, taxes, new_customer, tenant
) -> None:
    """Frozen at the first purchase: the organization's default then (else
    exclusive), whatever the default becomes later."""
    inclusive, exclusive = products_pb2.TAX_BEHAVIOR_INCLUSIVE, products_pb2.TAX_BEHAVIOR_EXCLUSIVE

    async def set_default(behavior: int) -> None:
        await taxes.UpdateTaxSettings(
            taxes_pb2.UpdateTaxSettingsRequest(
                tax_settings=taxes_pb2.TaxSettings(default_tax_behavior=behavior),
                update_mask=field_mask_pb2.FieldMask(paths=["default_tax_behavior"]),
            ),
            metadata=tenant.metadata(),
        )

    async def behavior(price_id: str) -> int:
        found = await prices.GetPrice(
            products_pb2.GetPriceRequest(id=price_id), metadata=tenant.metadata()
        )
        return found.tax_behavior

    product = await new_product(products, tenant)
    plan, usage = product.prices
    assert await behavior(plan.id) == products_pb2.TAX_BEHAVIOR_UNSPECIFIED
    customer_id = await new_customer(tenant)
    await set_default(inclusive)
    await purchases.RecordPurchase(
        purchase_request(customer_id, plan.id, reference="with-default"),
        metadata=tenant.metadata(),
    )
    await set_default(exclusive)
    assert await behavior(plan.id) == inclusive
    await set_default(products_pb2.TAX_BEHAVIOR_UNSPECIFIED)
    await purchases.RecordPurchase(
        purchase_request(customer_id, usage.id, reference="no-default"),
        metadata=tenant.metadata(),
    )
    await set_default(inclusive)
    assert await behavior(plan.id) == inclusive
    assert await behavior(usage.id) == exclusive


async def test_a_purchase_naming_an_unknown_customer_or_price_records_nothing(
    products, prices, purchases, new_customer, catalog_service: RunningService, tenant, other_tenant
) -> None:
    product = await new_product(products, tenant)
    theirs = await new_product(products, other_tenant)
    customer_id = await new_customer(tenant)
    unknown_customer = await refusal(
        purchases.RecordPurchase(
            purchase_request(str(uuid.uuid4()), product.prices[0].id), metadata=tenant.metadata()
        )
    )
    assert unknown_customer.code == grpc.StatusCode.NOT_FOUND
    unknown_price = await refusal(
        purchases.RecordPurchase(
            purchase_request(customer_id, product.prices[0].id, theirs.prices[0].id),
            metadata=tenant.metadata(),
        )
    )
    assert unknown_price.code == grpc.StatusCode.INVALID_ARGUMENT
    assert unknown_price.fields == ["purchase.price_ids[1]"]
    assert await purchase_rows(catalog_service, tenant.organization_id) == 0
    unused = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=product.prices[0].id), metadata=tenant.metadata()
    )
    assert not unused.HasField("first_use_time")


@pytest.mark.parametrize(
    ("purchase", "field"),
    [
        (
            purchases_pb2.Purchase(customer_id=str(uuid.uuid4()), price_ids=[str(uuid.uuid4())]),
            "purchase.reference",
        ),
        (
            purchases_pb2.Purchase(reference="r", customer_id="c-1", price_ids=[str(uuid.uuid4())]),
            "purchase.customer_id",
        ),
        (
            purchases_pb2.Purchase(reference="r", customer_id=str(uuid.uuid4())),
            "purchase.price_ids",
        ),
        (
            purchases_pb2.Purchase(reference="r", customer_id=str(uuid.uuid4()), price_ids=["p-1"]),
            "purchase.price_ids[0]",
        ),
    ],
    ids=["no-reference", "bad-customer", "no-prices", "bad-price"],
)
async def test_a_malformed_purchase_names_the_field(
    purchases, tenant, purchase: purchases_pb2.Purchase, field: str
) -> None:
    error = await refusal(
        purchases.RecordPurchase(
            purchases_pb2.RecordPurchaseRequest(purchase=purchase), metadata=tenant.metadata()
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]


async def test_purchases_are_recorded_only_by_internal_callers(purchases, tenant) -> None:
    """A call through the gateway (its credential, not the services') is
    refused whatever it asks: only the billing engine records purchases."""
    error = await refusal(
        purchases.RecordPurchase(
            purchase_request(str(uuid.uuid4()), str(uuid.uuid4())),
            metadata=gateway_metadata("any-key"),
        )
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert error.reason == "METHOD_INTERNAL"
