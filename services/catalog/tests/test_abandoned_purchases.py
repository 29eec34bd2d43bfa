"""An abandoned purchase (the subscriptions context's `purchase.abandoned`,
published here as its relay would) gives back what it used, against real
Postgres and JetStream: the discount use and the promotion code use redeemed
under its reference (a limited code becomes redeemable again), and its
standing as the customer's purchase (a first-purchase-only code applies
again). A second delivery, or another event for the same reference, gives
back nothing more; another reference's redemption is untouched."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import select

from billingos.catalog.v1 import (
    discounts_pb2,
    products_pb2,
    promotion_codes_pb2,
    purchases_pb2,
)
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos_catalog import models
from billingos_catalog.consumers import ABANDONED_PURCHASES_CONSUMER
from billingos_kit.testing.db import rows
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

from .test_promotion_codes import DiscountStub, new_code, new_discount, redeem, refusal, validate
from .test_read_copies import processed

pytestmark = pytest.mark.usefixtures("catalog_service")

Ineligible = discounts_pb2.DiscountIneligibility


async def one_time_product(products, tenant) -> products_pb2.Product:
    product: products_pb2.Product = await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(
                name="E-book",
                prices=[
                    products_pb2.Price(
                        currency="USD", fixed=products_pb2.FixedAmount(amount_minor=4900)
                    )
                ],
            )
        ),
        metadata=tenant.metadata(),
    )
    return product


async def code_count(promotion_codes, tenant, code_id: str) -> int:
    found = await promotion_codes.GetPromotionCode(
        promotion_codes_pb2.GetPromotionCodeRequest(id=code_id), metadata=tenant.metadata()
    )
    return int(found.redemption_count)


async def counts(discounts: DiscountStub, tenant, discount_id: str) -> int:
    found = await discounts.GetDiscount(
        discounts_pb2.GetDiscountRequest(id=discount_id), metadata=tenant.metadata()
    )
    return int(found.redemption_count)


async def abandon(
    service: RunningService, servers: SessionServers, tenant, reference: str, customer_id: str
) -> None:
    envelope = await publish_event(
        servers.nats_url,
        subscription_events.PurchaseAbandonedEvent(
            reference=reference, customer_id=customer_id, order_id=str(uuid.uuid4())
        ),
        tenant.organization_id,
    )
    await processed(service, ABANDONED_PURCHASES_CONSUMER, envelope)


async def released_at(service: RunningService, discount_id: str, reference: str) -> object:
    table = models.discount_redemptions
    found = await rows(
        service.app.database,
        select(table.c.released_at).where(
            table.c.discount_id == uuid.UUID(discount_id), table.c.reference == reference
        ),
    )
    assert len(found) == 1
    return found[0][0]


async def test_an_abandoned_purchase_gives_back_its_discount_and_code_uses_once(
    catalog_service: RunningService,
    servers: SessionServers,
    discounts: DiscountStub,
    promotion_codes,
    products,
    purchases,
    new_customer,
    tenant,
) -> None:
    product = await one_time_product(products, tenant)
    discount = await new_discount(discounts, tenant, max_redemptions=1)
    code = await new_code(promotion_codes, tenant, discount.id, "ONEBOOK", first_purchase_only=True)
    # Another discount's first-purchase code, never redeemed: the purchase's
    # standing is all that refuses it.
    welcome = await new_discount(discounts, tenant)
    await new_code(promotion_codes, tenant, welcome.id, "WELCOMEBOOK", first_purchase_only=True)
    buyer, other = await new_customer(tenant), await new_customer(tenant)
    declined = f"checkout:{uuid.uuid4()}"
    # As the engine buys: the purchase recorded, then the code redeemed last.
    await purchases.RecordPurchase(
        purchases_pb2.RecordPurchaseRequest(
            purchase=purchases_pb2.Purchase(
                reference=declined, customer_id=buyer, price_ids=[product.prices[0].id]
            )
        ),
        metadata=tenant.metadata(),
    )
    first = await redeem(
        discounts, tenant, discount.id, code.id, product.id, reference=declined, customer_id=buyer
    )
    assert not first.HasField("release_time")
    assert await counts(discounts, tenant, discount.id) == 1
    full = await refusal(
        redeem(discounts, tenant, discount.id, code.id, product.id, customer_id=other)
    )
    assert full.reason == "DISCOUNT_MAX_REDEMPTIONS_REACHED", full
    returning = await validate(discounts, tenant, "welcomebook", product.id, customer_id=buyer)
    assert returning.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_FIRST_PURCHASE_ONLY

    assert await code_count(promotion_codes, tenant, code.id) == 1
    await abandon(catalog_service, servers, tenant, declined, buyer)
    assert await counts(discounts, tenant, discount.id) == 0
    assert await code_count(promotion_codes, tenant, code.id) == 0
    assert await released_at(catalog_service, discount.id, declined) is not None
    # The code is redeemable again, and the buyer has no purchase standing.
    for typed in ("onebook", "welcomebook"):
        again = await validate(discounts, tenant, typed, product.id, customer_id=buyer)
        assert again.applicable, (typed, again)
    # Another event for the same reference gives back nothing more.
    await abandon(catalog_service, servers, tenant, declined, buyer)
    assert await counts(discounts, tenant, discount.id) == 0

    paid = f"checkout:{uuid.uuid4()}"
    await redeem(
        discounts, tenant, discount.id, code.id, product.id, reference=paid, customer_id=other
    )
    assert await counts(discounts, tenant, discount.id) == 1
    # The released redemption's reference abandoned once more leaves the paid one be.
    await abandon(catalog_service, servers, tenant, declined, buyer)
    assert await counts(discounts, tenant, discount.id) == 1
    assert await released_at(catalog_service, discount.id, paid) is None


async def test_an_abandoned_purchase_of_another_organization_gives_back_nothing(
    catalog_service: RunningService,
    servers: SessionServers,
    discounts: DiscountStub,
    products,
    new_customer,
    tenant,
    other_tenant,
) -> None:
    product = await one_time_product(products, tenant)
    discount = await new_discount(discounts, tenant, max_redemptions=5)
    buyer = await new_customer(tenant)
    reference = f"checkout:{uuid.uuid4()}"
    await discounts.RedeemDiscount(
        discounts_pb2.RedeemDiscountRequest(
            id=discount.id,
            product_id=product.id,
            currency="USD",
            reference=reference,
            customer_id=buyer,
        ),
        metadata=tenant.metadata(),
    )
    # The organization is the envelope's: another's event names nothing here.
    await abandon(catalog_service, servers, other_tenant, reference, buyer)
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        assert await counts(discounts, tenant, discount.id) == 1
        await asyncio.sleep(0.1)
    assert await released_at(catalog_service, discount.id, reference) is None


async def test_a_released_reference_redeemed_again_is_a_new_use_under_every_rule(
    catalog_service: RunningService,
    servers: SessionServers,
    discounts: DiscountStub,
    products,
    purchases,
    new_customer,
    tenant,
) -> None:
    """An Idempotency-Key reused after its subscription ended unstarted
    names the same reference: the use is taken again (and counted, within
    the limit), and the purchase is the customer's again."""
    product = await one_time_product(products, tenant)
    discount = await new_discount(discounts, tenant, max_redemptions=1)
    buyer, other = await new_customer(tenant), await new_customer(tenant)
    reference = f"subscription-request:{uuid.uuid4().hex}"
    purchase = purchases_pb2.RecordPurchaseRequest(
        purchase=purchases_pb2.Purchase(
            reference=reference, customer_id=buyer, price_ids=[product.prices[0].id]
        )
    )
    redemption = discounts_pb2.RedeemDiscountRequest(
        id=discount.id,
        product_id=product.id,
        currency="USD",
        reference=reference,
        customer_id=buyer,
    )
    await purchases.RecordPurchase(purchase, metadata=tenant.metadata())
    await discounts.RedeemDiscount(redemption, metadata=tenant.metadata())
    await abandon(catalog_service, servers, tenant, reference, buyer)
    assert await counts(discounts, tenant, discount.id) == 0

    recorded = await purchases.RecordPurchase(purchase, metadata=tenant.metadata())
    assert not recorded.HasField("abandon_time")
    again = await discounts.RedeemDiscount(redemption, metadata=tenant.metadata())
    assert not again.HasField("release_time")
    assert await counts(discounts, tenant, discount.id) == 1
    assert await released_at(catalog_service, discount.id, reference) is None
    # Within the limit: the use is taken, so another customer's is refused.
    full = await refusal(
        discounts.RedeemDiscount(
            discounts_pb2.RedeemDiscountRequest(
                id=discount.id,
                product_id=product.id,
                currency="USD",
                reference=f"checkout:{uuid.uuid4()}",
                customer_id=other,
            ),
            metadata=tenant.metadata(),
        )
    )
    assert full.reason == "DISCOUNT_MAX_REDEMPTIONS_REACHED"
