"""What the engine buys comes from its read copies of the catalog, which
arrive event by event: a product's copy can be there before its prices'
(ProductCreated is consumed before the PriceCreated events that follow it).
A product made a moment ago is still sold, with all its prices."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from billingos.catalog.v1 import products_pb2
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.testing.db import execute
from billingos_subscriptions import models

from .conftest import Shop, count, fixed_price

METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"


async def prices_not_copied_yet(shop: Shop, product: products_pb2.Product) -> None:
    """The engine's copy has the product but none of its prices: as it is
    between the product's event and its prices' (the events already
    consumed here, so the prices do not come back by themselves)."""
    await execute(
        shop.database,
        delete(models.prices).where(models.prices.c.product_id == uuid.UUID(product.id)),
    )
    assert await count(shop.database, models.products, id=uuid.UUID(product.id)) == 1


async def test_a_product_whose_prices_are_not_copied_yet_is_sold_by_currency(shop: Shop) -> None:
    product = await shop.product(fixed_price(2000))
    await prices_not_copied_yet(shop, product)
    customer_id = await shop.customer()
    made = await shop.subscribe(customer_id=customer_id, product_id=product.id, currency="USD")
    assert made.price_id == product.prices[0].id
    assert made.status == subscriptions_pb2.SUBSCRIPTION_STATUS_INCOMPLETE


async def test_a_price_bought_by_id_brings_its_products_other_prices(shop: Shop) -> None:
    """A product of a static and a metered price: bought by the static
    price's id, the subscription has both items, copies or not."""
    metered = products_pb2.Price(
        currency="USD",
        metered_unit=products_pb2.MeteredUnitAmount(unit_amount="0.5", meter_id=METER_ID),
    )
    product = await shop.product(fixed_price(2000), metered)
    static = next(p for p in product.prices if p.HasField("fixed"))
    customer_id = await shop.customer()
    complete = await shop.subscribe(
        customer_id=customer_id, product_id=product.id, price_id=static.id
    )
    assert len(complete.items) == 2

    await prices_not_copied_yet(shop, product)
    made = await shop.subscribe(customer_id=customer_id, product_id=product.id, price_id=static.id)
    assert sorted(item.price_id for item in made.items) == sorted(p.id for p in product.prices)
