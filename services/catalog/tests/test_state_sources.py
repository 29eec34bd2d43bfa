"""What the catalog context seeds its latest-state stream with (states.py):
every product with exactly its active prices, every price and discount as it
is now (archived and deleted ones as such), each under its own organization,
however the products fall into batches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from billingos.catalog.v1 import (
    discounts_pb2,
    events_pb2,
    products_pb2,
    promotion_codes_pb2,
    purchases_pb2,
    taxes_pb2,
)
from billingos_catalog import states
from billingos_kit.streams import state_subject_of
from billingos_kit.testing.service import RunningService

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)


# A product holds one static price per currency and period: each price of
# a product here is in a currency of its own.
CURRENCIES = ("USD", "EUR", "GBP")


def fixed(amount: int, currency: str) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount)
    )


async def current_states(service: RunningService) -> dict[str, tuple[Message, uuid.UUID]]:
    found: dict[str, tuple[Message, uuid.UUID]] = {}
    async with (
        service.app.database.connection() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        for source in states.state_sources():
            async for message, organization_id in source.read(connection):
                subject = state_subject_of(message)
                assert subject is not None
                found[subject] = (message, organization_id)
    return found


async def new_product(products: Any, tenant: Any, name: str, *amounts: int) -> Any:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(
                name=name,
                recurring=MONTH,
                prices=[
                    fixed(amount, currency)
                    for amount, currency in zip(amounts, CURRENCIES, strict=False)
                ],
            )
        ),
        metadata=tenant.metadata(),
    )


async def test_sources_hold_every_product_price_and_discount_as_it_is_now(
    catalog_service: RunningService,
    products: Any,
    prices: Any,
    discounts: Any,
    tenant: Any,
    other_tenant: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(states, "PRODUCT_BATCH", 2)
    mine = [await new_product(products, tenant, f"Plan {n}", 1000 + n, 2000 + n) for n in range(3)]
    theirs = await new_product(products, other_tenant, "Theirs", 500)
    retired = mine[0].prices[1]
    await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=retired.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )
    await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=mine[2].id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )
    gone = await discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(
            id=(
                await discounts.CreateDiscount(
                    discounts_pb2.CreateDiscountRequest(
                        discount=discounts_pb2.Discount(
                            name="Launch",
                            percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
                            duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
                        )
                    ),
                    metadata=tenant.metadata(),
                )
            ).id
        ),
        metadata=tenant.metadata(),
    )

    found = await current_states(catalog_service)

    def product(created: Any) -> tuple[Message, uuid.UUID]:
        return found[f"billingos.state.catalog.product.{created.id}"]

    first, owner = product(mine[0])
    assert isinstance(first, events_pb2.ProductCreatedEvent)
    assert [p.id for p in first.product.prices] == [mine[0].prices[0].id]
    assert owner == tenant.organization_id
    second, _ = product(mine[1])
    assert [p.id for p in second.product.prices] == [p.id for p in mine[1].prices]
    archived, _ = product(mine[2])
    assert isinstance(archived, events_pb2.ProductArchivedEvent)
    other, other_owner = product(theirs)
    assert [p.id for p in other.product.prices] == [theirs.prices[0].id]
    assert other_owner == other_tenant.organization_id

    retired_state, _ = found[f"billingos.state.catalog.price.{retired.id}"]
    assert isinstance(retired_state, events_pb2.PriceArchivedEvent)
    kept_state, _ = found[f"billingos.state.catalog.price.{mine[1].prices[0].id}"]
    assert isinstance(kept_state, events_pb2.PriceCreatedEvent)
    discount_state, discount_owner = found[f"billingos.state.catalog.discount.{gone.id}"]
    assert isinstance(discount_state, events_pb2.DiscountDeletedEvent)
    assert discount_owner == tenant.organization_id


async def test_sources_hold_promotion_codes_purchases_tax_rates_and_tax_settings(
    catalog_service: RunningService,
    products: Any,
    discounts: Any,
    promotion_codes: Any,
    purchases: Any,
    taxes: Any,
    new_customer: Any,
    tenant: Any,
) -> None:
    product = await new_product(products, tenant, "Plan", 1000)
    discount = await discounts.CreateDiscount(
        discounts_pb2.CreateDiscountRequest(
            discount=discounts_pb2.Discount(
                name="Launch",
                percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
                duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
            )
        ),
        metadata=tenant.metadata(),
    )
    code = await promotion_codes.CreatePromotionCode(
        promotion_codes_pb2.CreatePromotionCodeRequest(
            discount_id=discount.id,
            promotion_code=promotion_codes_pb2.PromotionCode(code="STATE", archived=True),
        ),
        metadata=tenant.metadata(),
    )
    purchase = await purchases.RecordPurchase(
        purchases_pb2.RecordPurchaseRequest(
            purchase=purchases_pb2.Purchase(
                reference="sub-state",
                customer_id=await new_customer(tenant),
                price_ids=[product.prices[0].id],
            )
        ),
        metadata=tenant.metadata(),
    )
    rate = await taxes.CreateTaxRate(
        taxes_pb2.CreateTaxRateRequest(
            tax_rate=taxes_pb2.TaxRate(display_name="VAT", country="FR", percentage="20")
        ),
        metadata=tenant.metadata(),
    )
    settings = await taxes.UpdateTaxSettings(
        taxes_pb2.UpdateTaxSettingsRequest(
            tax_settings=taxes_pb2.TaxSettings(
                default_tax_behavior=products_pb2.TAX_BEHAVIOR_INCLUSIVE
            )
        ),
        metadata=tenant.metadata(),
    )

    found = await current_states(catalog_service)

    code_state, owner = found[f"billingos.state.catalog.promotion_code.{code.id}"]
    assert isinstance(code_state, events_pb2.PromotionCodeUpdatedEvent)
    assert code_state.promotion_code == code
    assert owner == tenant.organization_id
    purchase_state, _ = found[f"billingos.state.catalog.purchase.{purchase.id}"]
    assert isinstance(purchase_state, events_pb2.PurchaseRecordedEvent)
    assert purchase_state.purchase == purchase
    rate_state, _ = found[f"billingos.state.catalog.tax_rate.{rate.id}"]
    assert isinstance(rate_state, events_pb2.TaxRateCreatedEvent)
    assert rate_state.tax_rate == rate
    settings_state, _ = found[f"billingos.state.catalog.tax_settings.{tenant.organization_id}"]
    assert isinstance(settings_state, events_pb2.TaxSettingsUpdatedEvent)
    assert settings_state.tax_settings == settings
    used, _ = found[f"billingos.state.catalog.price.{product.prices[0].id}"]
    assert used.price.HasField("first_use_time")
