"""Promotion codes over gRPC against real Postgres and JetStream: several per
discount, each with its own limits (redemptions, expiry, first purchase only,
one customer only, a minimum order amount); one namespace with discounts'
own codes; redemptions that name an unknown customer, product or code use
nothing up; and repeating discounts counted in months."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    events_pb2,
    products_pb2,
    products_pb2_grpc,
    promotion_codes_pb2,
    promotion_codes_pb2_grpc,
    purchases_pb2,
)
from billingos.common.v1 import money_pb2
from billingos_catalog import models
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

DiscountStub = discounts_pb2_grpc.DiscountServiceStub
CodeStub = promotion_codes_pb2_grpc.PromotionCodeServiceStub
Code = promotion_codes_pb2.PromotionCode
Ineligible = discounts_pb2.DiscountIneligibility


def at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def new_discount(discounts: DiscountStub, tenant, **extra: object) -> discounts_pb2.Discount:
    values: dict[str, object] = {
        "name": "Launch",
        "percent_off": discounts_pb2.Discount.PercentOff(basis_points=2000),
        "duration": discounts_pb2.DISCOUNT_DURATION_ONCE,
    }
    values.update(extra)
    return await discounts.CreateDiscount(
        discounts_pb2.CreateDiscountRequest(discount=discounts_pb2.Discount(**values)),
        metadata=tenant.metadata(),
    )


async def new_code(codes: CodeStub, tenant, discount_id: str, code: str, **extra: object) -> Code:
    return await codes.CreatePromotionCode(
        promotion_codes_pb2.CreatePromotionCodeRequest(
            discount_id=discount_id, promotion_code=Code(code=code, **extra)
        ),
        metadata=tenant.metadata(),
    )


async def new_product(products: products_pb2_grpc.ProductServiceStub, tenant) -> str:
    created = await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name="Plan")),
        metadata=tenant.metadata(),
    )
    return created.id


async def validate(
    discounts: DiscountStub, tenant, code: str, product_id: str, **order: object
) -> discounts_pb2.ValidateDiscountResponse:
    values: dict[str, object] = {"code": code, "product_id": product_id, "currency": "USD"}
    values.update(order)
    return await discounts.ValidateDiscount(
        discounts_pb2.ValidateDiscountRequest(**values), metadata=tenant.metadata()
    )


async def redeem(
    discounts: DiscountStub,
    tenant,
    discount_id: str,
    code_id: str,
    product_id: str,
    *,
    reference: str | None = None,
    **order: object,
) -> discounts_pb2.DiscountRedemption:
    values: dict[str, object] = {
        "id": discount_id,
        "promotion_code_id": code_id,
        "product_id": product_id,
        "currency": "USD",
        "reference": reference or f"checkout-{uuid.uuid4()}",
    }
    values.update(order)
    return await discounts.RedeemDiscount(
        discounts_pb2.RedeemDiscountRequest(**values), metadata=tenant.metadata()
    )


async def get_code(codes: CodeStub, tenant, code_id: str) -> Code:
    return await codes.GetPromotionCode(
        promotion_codes_pb2.GetPromotionCodeRequest(id=code_id), metadata=tenant.metadata()
    )


async def get_discount(discounts: DiscountStub, tenant, discount_id: str) -> discounts_pb2.Discount:
    return await discounts.GetDiscount(
        discounts_pb2.GetDiscountRequest(id=discount_id), metadata=tenant.metadata()
    )


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def redemption_rows(service: RunningService, discount_id: str) -> int:
    table = models.discount_redemptions
    found = await scalar(
        service.app.database,
        select(func.count())
        .select_from(table)
        .where(table.c.discount_id == uuid.UUID(discount_id)),
    )
    return int(found or 0)


# ---- codes of a discount -----------------------------------------------------


async def test_a_discount_has_several_codes_each_with_its_own_limits(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant, session_clock: FrozenClock
) -> None:
    discount = await new_discount(discounts, tenant)
    expiry = session_clock.now() + dt.timedelta(days=30)
    spring = await new_code(promotion_codes, tenant, discount.id, "SPRING", max_redemptions=100)
    vip = await new_code(
        promotion_codes,
        tenant,
        discount.id,
        "VIP-ONLY",
        expire_time=at(expiry),
        first_purchase_only=True,
        minimum_amount=money_pb2.Money(amount_minor=5000, currency="usd"),
    )
    assert spring.discount_id == vip.discount_id == discount.id
    assert spring.max_redemptions == 100
    assert not vip.HasField("max_redemptions")
    assert vip.expire_time == at(expiry)
    assert vip.first_purchase_only
    assert vip.minimum_amount == money_pb2.Money(amount_minor=5000, currency="USD")
    listed = await promotion_codes.ListPromotionCodes(
        promotion_codes_pb2.ListPromotionCodesRequest(discount_id=discount.id),
        metadata=tenant.metadata(),
    )
    assert [c.id for c in listed.promotion_codes] == [vip.id, spring.id]
    assert await get_code(promotion_codes, tenant, spring.id) == spring


async def test_validating_by_a_promotion_code_finds_its_discount(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "Summer26")
    found = await validate(discounts, tenant, "sUMMER26", product_id)
    assert found.applicable
    assert found.discount.id == discount.id
    assert found.promotion_code == code


async def test_a_code_is_one_spelling_among_discounts_and_promotion_codes(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant, other_tenant
) -> None:
    discount = await new_discount(discounts, tenant, code="OWNCODE")
    taken_by_discount = await refusal(new_code(promotion_codes, tenant, discount.id, "owncode"))
    assert taken_by_discount.code == grpc.StatusCode.ALREADY_EXISTS
    assert taken_by_discount.fields == ["promotion_code.code"]
    await new_code(promotion_codes, tenant, discount.id, "PROMO1")
    taken_by_code = await refusal(new_discount(discounts, tenant, code="promo1"))
    assert taken_by_code.fields == ["discount.code"]
    renamed = await refusal(
        discounts.UpdateDiscount(
            discounts_pb2.UpdateDiscountRequest(
                discount=discounts_pb2.Discount(id=discount.id, code="Promo1"),
                update_mask=field_mask_pb2.FieldMask(paths=["code"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert renamed.fields == ["discount.code"]
    again = await refusal(new_code(promotion_codes, tenant, discount.id, "PROMO1"))
    assert again.reason == "DISCOUNT_CODE_ALREADY_EXISTS"
    theirs = await new_discount(discounts, other_tenant)
    assert (await new_code(promotion_codes, other_tenant, theirs.id, "PROMO1")).code == "PROMO1"


async def test_concurrent_codes_of_one_spelling_leave_one(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant
) -> None:
    discount = await new_discount(discounts, tenant)

    async def attempt(index: int) -> object:
        try:
            if index % 2:
                return await new_discount(discounts, tenant, name=f"D{index}", code="RACE")
            return await new_code(promotion_codes, tenant, discount.id, "race")
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(index) for index in range(8)))
    refused = [o for o in outcomes if isinstance(o, CallError)]
    assert len(refused) == 7
    assert {e.reason for e in refused} == {"DISCOUNT_CODE_ALREADY_EXISTS"}


async def test_archiving_frees_the_code_and_stops_redemptions(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "ONCEMORE")
    archived = await promotion_codes.UpdatePromotionCode(
        promotion_codes_pb2.UpdatePromotionCodeRequest(
            promotion_code=Code(id=code.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )
    assert archived.archived
    refused = await refusal(redeem(discounts, tenant, discount.id, code.id, product_id))
    assert refused.reason == "DISCOUNT_PROMOTION_CODE_ARCHIVED"
    successor = await new_code(promotion_codes, tenant, discount.id, "oncemore")
    assert successor.code == "oncemore"
    blocked = await refusal(
        promotion_codes.UpdatePromotionCode(
            promotion_codes_pb2.UpdatePromotionCodeRequest(
                promotion_code=Code(id=code.id, archived=False),
                update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert blocked.reason == "DISCOUNT_CODE_ALREADY_EXISTS"


async def test_deleting_a_discount_archives_its_codes(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant, servers: SessionServers
) -> None:
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "GONE")
    await discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(id=discount.id), metadata=tenant.metadata()
    )
    assert (await get_code(promotion_codes, tenant, code.id)).archived
    found = await published_events(
        servers.nats_url, "billingos.catalog.promotion_code.updated", tenant.organization_id
    )
    payload = events_pb2.PromotionCodeUpdatedEvent()
    assert found[-1].data.Unpack(payload)
    assert payload.promotion_code.id == code.id
    assert list(payload.update_mask.paths) == ["archived"]
    other = await new_discount(discounts, tenant, name="Next")
    assert (await new_code(promotion_codes, tenant, other.id, "GONE")).code == "GONE"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"code": "no spaces"}, "promotion_code.code"),
        ({"code": "AB"}, "promotion_code.code"),
        ({"code": "OK-CODE", "max_redemptions": 0}, "promotion_code.max_redemptions"),
        ({"code": "OK-CODE", "customer_id": "cust-1"}, "promotion_code.customer_id"),
        (
            {"code": "OK-CODE", "minimum_amount": money_pb2.Money(amount_minor=0, currency="USD")},
            "promotion_code.minimum_amount.amount_minor",
        ),
        (
            {
                "code": "OK-CODE",
                "minimum_amount": money_pb2.Money(amount_minor=100, currency="u\u017fd"),
            },
            "promotion_code.minimum_amount.currency",
        ),
    ],
    ids=["space", "short", "zero-limit", "bad-customer", "zero-minimum", "lookalike-currency"],
)
async def test_bad_promotion_codes_name_the_field(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant, extra: dict[str, object], field: str
) -> None:
    discount = await new_discount(discounts, tenant)
    code = str(extra.pop("code"))
    error = await refusal(new_code(promotion_codes, tenant, discount.id, code, **extra))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]


async def test_a_code_for_an_unknown_customer_or_discount_is_not_found(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant, other_tenant
) -> None:
    discount = await new_discount(discounts, tenant)
    unknown = await refusal(
        new_code(promotion_codes, tenant, discount.id, "FORYOU", customer_id=str(uuid.uuid4()))
    )
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    theirs = await new_discount(discounts, other_tenant)
    not_ours = await refusal(new_code(promotion_codes, tenant, theirs.id, "THEIRS"))
    assert not_ours.code == grpc.StatusCode.NOT_FOUND


# ---- each limit ---------------------------------------------------------------


async def test_a_code_for_one_customer_refuses_a_second_customer(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    products,
    new_customer,
    catalog_service: RunningService,
    tenant,
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    first, second = await new_customer(tenant), await new_customer(tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "ADA-ONLY", customer_id=first)
    assert code.customer_id == first
    await redeem(discounts, tenant, discount.id, code.id, product_id, customer_id=first)
    error = await refusal(
        redeem(discounts, tenant, discount.id, code.id, product_id, customer_id=second)
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "DISCOUNT_CUSTOMER_NOT_ELIGIBLE"
    nobody = await refusal(redeem(discounts, tenant, discount.id, code.id, product_id))
    assert nobody.reason == "DISCOUNT_CUSTOMER_NOT_ELIGIBLE"
    checked = await validate(discounts, tenant, "ada-only", product_id, customer_id=second)
    assert not checked.applicable
    assert checked.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_CUSTOMER_NOT_ELIGIBLE
    assert (await get_code(promotion_codes, tenant, code.id)).redemption_count == 1
    assert await redemption_rows(catalog_service, discount.id) == 1


async def test_a_code_beside_a_discount_id_is_checked_too(
    discounts: DiscountStub, promotion_codes: CodeStub, products, new_customer, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant, code="OWN-CODE")
    other = await new_discount(discounts, tenant, code="OTHER-CODE")
    first, second = await new_customer(tenant), await new_customer(tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "FOR-ONE", customer_id=first)
    checked = await validate(
        discounts, tenant, "for-one", product_id, discount_id=discount.id, customer_id=second
    )
    assert not checked.applicable
    assert checked.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_CUSTOMER_NOT_ELIGIBLE
    assert checked.promotion_code == code
    fits = await validate(
        discounts, tenant, "FOR-ONE", product_id, discount_id=discount.id, customer_id=first
    )
    assert fits.applicable
    assert fits.promotion_code == code
    own = await validate(discounts, tenant, "own-code", product_id, discount_id=discount.id)
    assert own.applicable
    assert own.discount.id == discount.id
    for wrong in ["NOSUCHCODE", "OTHER-CODE", "not a code!"]:
        error = await refusal(
            validate(discounts, tenant, wrong, product_id, discount_id=discount.id)
        )
        assert error.code == grpc.StatusCode.NOT_FOUND, wrong
    foreign = await refusal(
        validate(discounts, tenant, "FOR-ONE", product_id, discount_id=other.id)
    )
    assert foreign.code == grpc.StatusCode.NOT_FOUND


async def test_a_code_counts_its_own_redemptions_and_the_discounts(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant, servers: SessionServers
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant, max_redemptions=10)
    limited = await new_code(promotion_codes, tenant, discount.id, "TWICE", max_redemptions=2)
    other = await new_code(promotion_codes, tenant, discount.id, "OTHER")
    first = await redeem(discounts, tenant, discount.id, limited.id, product_id, reference="r1")
    assert first.promotion_code_id == limited.id
    await redeem(discounts, tenant, discount.id, limited.id, product_id, reference="r2")
    again = await redeem(discounts, tenant, discount.id, limited.id, product_id, reference="r1")
    assert again == first
    used_up = await refusal(
        redeem(discounts, tenant, discount.id, limited.id, product_id, reference="r3")
    )
    assert used_up.reason == "DISCOUNT_MAX_REDEMPTIONS_REACHED"
    await redeem(discounts, tenant, discount.id, other.id, product_id, reference="r4")
    assert (await get_code(promotion_codes, tenant, limited.id)).redemption_count == 2
    assert (await get_code(promotion_codes, tenant, other.id)).redemption_count == 1
    assert (await get_discount(discounts, tenant, discount.id)).redemption_count == 3
    found = await published_events(
        servers.nats_url,
        "billingos.catalog.promotion_code.updated",
        tenant.organization_id,
        at_least=3,
    )
    counts = []
    for envelope in found:
        payload = events_pb2.PromotionCodeUpdatedEvent()
        assert envelope.data.Unpack(payload)
        counts.append((payload.promotion_code.code, payload.promotion_code.redemption_count))
    assert counts == [("TWICE", 1), ("TWICE", 2), ("OTHER", 1)]


async def test_concurrent_redemptions_never_exceed_a_codes_limit(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "FEW", max_redemptions=3)

    async def attempt(index: int) -> object:
        try:
            return await redeem(
                discounts, tenant, discount.id, code.id, product_id, reference=f"c{index}"
            )
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(index) for index in range(8)))
    assert sum(isinstance(o, discounts_pb2.DiscountRedemption) for o in outcomes) == 3
    assert (await get_code(promotion_codes, tenant, code.id)).redemption_count == 3


async def test_an_expired_code_is_refused(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant, session_clock: FrozenClock
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    code = await new_code(
        promotion_codes,
        tenant,
        discount.id,
        "LASTWEEK",
        expire_time=at(session_clock.now() + dt.timedelta(minutes=1)),
    )
    session_clock.advance(dt.timedelta(minutes=1))
    error = await refusal(redeem(discounts, tenant, discount.id, code.id, product_id))
    assert error.reason == "DISCOUNT_EXPIRED"
    later = await validate(
        discounts,
        tenant,
        "LASTWEEK",
        product_id,
        time=at(session_clock.now() - dt.timedelta(seconds=1)),
    )
    assert later.applicable


async def test_a_code_for_a_first_purchase_only_refuses_a_returning_customer(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    products,
    purchases,
    new_customer,
    tenant,
) -> None:
    product = await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(
                name="Plan",
                prices=[
                    products_pb2.Price(
                        currency="USD", fixed=products_pb2.FixedAmount(amount_minor=2900)
                    )
                ],
            )
        ),
        metadata=tenant.metadata(),
    )
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "WELCOME", first_purchase_only=True)
    newcomer, regular = await new_customer(tenant), await new_customer(tenant)
    await purchases.RecordPurchase(
        purchases_pb2.RecordPurchaseRequest(
            purchase=purchases_pb2.Purchase(
                reference="order-1", customer_id=regular, price_ids=[product.prices[0].id]
            )
        ),
        metadata=tenant.metadata(),
    )
    welcome = await validate(discounts, tenant, "welcome", product.id, customer_id=newcomer)
    assert welcome.applicable
    returning = await validate(discounts, tenant, "welcome", product.id, customer_id=regular)
    assert returning.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_FIRST_PURCHASE_ONLY
    anonymous = await validate(discounts, tenant, "welcome", product.id)
    assert anonymous.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_FIRST_PURCHASE_ONLY
    error = await refusal(
        redeem(discounts, tenant, discount.id, code.id, product.id, customer_id=regular)
    )
    assert error.reason == "DISCOUNT_FIRST_PURCHASE_ONLY"
    await redeem(discounts, tenant, discount.id, code.id, product.id, customer_id=newcomer)


async def test_a_first_purchase_code_redeemed_for_the_purchase_just_recorded_applies(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    products,
    purchases,
    new_customer,
    tenant,
) -> None:
    """The billing engine records a subscription's purchase (freezing its
    prices' tax behaviour), then redeems the code last, both under one
    reference: that purchase is the first one, not a second."""
    product = await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(
                name="Plan",
                prices=[
                    products_pb2.Price(
                        currency="USD", fixed=products_pb2.FixedAmount(amount_minor=2900)
                    )
                ],
            )
        ),
        metadata=tenant.metadata(),
    )
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "FIRST", first_purchase_only=True)
    customer = await new_customer(tenant)

    async def purchase(reference: str) -> None:
        await purchases.RecordPurchase(
            purchases_pb2.RecordPurchaseRequest(
                purchase=purchases_pb2.Purchase(
                    reference=reference, customer_id=customer, price_ids=[product.prices[0].id]
                )
            ),
            metadata=tenant.metadata(),
        )

    await purchase("subscription:one")
    await redeem(
        discounts,
        tenant,
        discount.id,
        code.id,
        product.id,
        customer_id=customer,
        reference="subscription:one",
    )
    # A second purchase is not a first one, whatever its reference.
    await purchase("subscription:two")
    error = await refusal(
        redeem(
            discounts,
            tenant,
            discount.id,
            code.id,
            product.id,
            customer_id=customer,
            reference="subscription:two",
        )
    )
    assert error.reason == "DISCOUNT_FIRST_PURCHASE_ONLY"


@pytest.mark.parametrize(
    ("order", "applicable"),
    [
        ({"order_amount_minor": 5000}, True),
        ({"order_amount_minor": 4999}, False),
        ({"order_amount_minor": 9000, "currency": "EUR"}, False),
        ({}, False),
    ],
    ids=["at-minimum", "below-minimum", "other-currency", "no-amount"],
)
async def test_a_code_with_a_minimum_order_amount(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    products,
    tenant,
    order: dict[str, object],
    applicable: bool,
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    await new_code(
        promotion_codes,
        tenant,
        discount.id,
        "BIGORDER",
        minimum_amount=money_pb2.Money(amount_minor=5000, currency="USD"),
    )
    result = await validate(discounts, tenant, "BIGORDER", product_id, **order)
    assert result.applicable is applicable
    if not applicable:
        assert result.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_MINIMUM_AMOUNT_NOT_MET


async def test_a_code_only_applies_to_its_discounts_products(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    included, other = await new_product(products, tenant), await new_product(products, tenant)
    discount = await new_discount(discounts, tenant, product_ids=[included])
    await new_code(promotion_codes, tenant, discount.id, "NARROW")
    assert (await validate(discounts, tenant, "NARROW", included)).applicable
    elsewhere = await validate(discounts, tenant, "NARROW", other)
    assert elsewhere.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_PRODUCT_NOT_ELIGIBLE


# ---- what a refused redemption leaves -----------------------------------------


@pytest.mark.parametrize("unknown", ["customer", "product", "promotion_code"])
async def test_a_redemption_naming_something_unknown_uses_nothing_up(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    products,
    new_customer,
    catalog_service: RunningService,
    tenant,
    other_tenant,
    unknown: str,
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant, max_redemptions=1)
    code = await new_code(promotion_codes, tenant, discount.id, "ONLYONE", max_redemptions=1)
    customer_id = await new_customer(tenant)
    named = {"customer_id": customer_id, "product_id": product_id, "code_id": code.id}
    if unknown == "customer":
        named["customer_id"] = await new_customer(other_tenant)
    elif unknown == "product":
        named["product_id"] = await new_product(products, other_tenant)
    else:
        other_discount = await new_discount(discounts, tenant, name="Other")
        named["code_id"] = (await new_code(promotion_codes, tenant, other_discount.id, "ELSE")).id
    error = await refusal(
        redeem(
            discounts,
            tenant,
            discount.id,
            named["code_id"],
            named["product_id"],
            customer_id=named["customer_id"],
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert (await get_code(promotion_codes, tenant, code.id)).redemption_count == 0
    assert (await get_discount(discounts, tenant, discount.id)).redemption_count == 0
    assert await redemption_rows(catalog_service, discount.id) == 0
    kept = await redeem(
        discounts, tenant, discount.id, code.id, product_id, customer_id=customer_id
    )
    assert kept.promotion_code_id == code.id


async def test_a_negative_order_amount_is_refused(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    await new_code(promotion_codes, tenant, discount.id, "NEG")
    error = await refusal(validate(discounts, tenant, "NEG", product_id, order_amount_minor=-1))
    assert error.fields == ["order_amount_minor"]


# ---- updates ---------------------------------------------------------------------


async def test_limits_and_metadata_update_but_restrictions_never_do(
    discounts: DiscountStub, promotion_codes: CodeStub, products, tenant
) -> None:
    product_id = await new_product(products, tenant)
    discount = await new_discount(discounts, tenant)
    code = await new_code(promotion_codes, tenant, discount.id, "FLEX", max_redemptions=5)
    await redeem(discounts, tenant, discount.id, code.id, product_id)
    await redeem(discounts, tenant, discount.id, code.id, product_id)
    below = await refusal(
        promotion_codes.UpdatePromotionCode(
            promotion_codes_pb2.UpdatePromotionCodeRequest(
                promotion_code=Code(id=code.id, max_redemptions=1),
                update_mask=field_mask_pb2.FieldMask(paths=["max_redemptions"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert below.fields == ["promotion_code.max_redemptions"]
    raised = await promotion_codes.UpdatePromotionCode(
        promotion_codes_pb2.UpdatePromotionCodeRequest(
            promotion_code=Code(id=code.id, max_redemptions=50),
            update_mask=field_mask_pb2.FieldMask(paths=["max_redemptions"]),
        ),
        metadata=tenant.metadata(),
    )
    assert raised.max_redemptions == 50
    for path, change in (
        ("code", {"code": "OTHER"}),
        ("customer_id", {"customer_id": str(uuid.uuid4())}),
        ("first_purchase_only", {"first_purchase_only": True}),
    ):
        error = await refusal(
            promotion_codes.UpdatePromotionCode(
                promotion_codes_pb2.UpdatePromotionCodeRequest(
                    promotion_code=Code(id=code.id, **change),
                    update_mask=field_mask_pb2.FieldMask(paths=[path]),
                ),
                metadata=tenant.metadata(),
            )
        )
        assert error.fields == [f"promotion_code.{path}"]


async def test_creating_a_code_with_an_idempotency_key_creates_once(
    discounts: DiscountStub, promotion_codes: CodeStub, tenant
) -> None:
    discount = await new_discount(discounts, tenant)
    request = promotion_codes_pb2.CreatePromotionCodeRequest(
        discount_id=discount.id, promotion_code=Code(code="ONCE-ONLY")
    )
    first = await promotion_codes.CreatePromotionCode(request, metadata=tenant.metadata("pc-1"))
    again = await promotion_codes.CreatePromotionCode(request, metadata=tenant.metadata("pc-1"))
    assert again == first
    listed = await promotion_codes.ListPromotionCodes(
        promotion_codes_pb2.ListPromotionCodesRequest(discount_id=discount.id),
        metadata=tenant.metadata(),
    )
    assert [c.id for c in listed.promotion_codes] == [first.id]


@pytest.mark.parametrize("offset", [dt.timedelta(0), -dt.timedelta(days=1)], ids=["now", "past"])
async def test_a_code_cannot_be_created_already_expired(
    discounts: DiscountStub,
    promotion_codes: CodeStub,
    tenant,
    session_clock: FrozenClock,
    offset: dt.timedelta,
) -> None:
    """As Stripe: a code that could never be redeemed is refused, naming the field."""
    discount = await new_discount(discounts, tenant)
    error = await refusal(
        new_code(
            promotion_codes,
            tenant,
            discount.id,
            "TOOLATE",
            expire_time=at(session_clock.now() + offset),
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["promotion_code.expire_time"]


async def first_purchase_setup(discounts, promotion_codes, products, tenant):
    product_id = await new_product(products, tenant)
    first = await new_discount(discounts, tenant, name="Welcome")
    other = await new_discount(discounts, tenant, name="Hello")
    welcome = await new_code(
        promotion_codes, tenant, first.id, "WELCOME1", first_purchase_only=True
    )
    hello = await new_code(promotion_codes, tenant, other.id, "HELLO1", first_purchase_only=True)
    return product_id, (first, welcome), (other, hello)


async def test_a_first_purchase_code_is_redeemed_once_per_customer_before_any_purchase(
    discounts: DiscountStub, promotion_codes: CodeStub, products, new_customer, tenant
) -> None:
    """The checkout redeems before the billing engine records the purchase: a
    second first-purchase redemption by the same customer, of this code or of
    another discount's first-purchase code, is refused though no purchase is
    recorded yet."""
    product_id, (first, welcome), (other, hello) = await first_purchase_setup(
        discounts, promotion_codes, products, tenant
    )
    customer = await new_customer(tenant)
    await redeem(discounts, tenant, first.id, welcome.id, product_id, customer_id=customer)
    again = await refusal(
        redeem(discounts, tenant, first.id, welcome.id, product_id, customer_id=customer)
    )
    assert again.reason == "DISCOUNT_FIRST_PURCHASE_ONLY"
    elsewhere = await refusal(
        redeem(discounts, tenant, other.id, hello.id, product_id, customer_id=customer)
    )
    assert elsewhere.reason == "DISCOUNT_FIRST_PURCHASE_ONLY"
    seen = await validate(discounts, tenant, "HELLO1", product_id, customer_id=customer)
    assert seen.ineligibility == Ineligible.DISCOUNT_INELIGIBILITY_FIRST_PURCHASE_ONLY
    newcomer = await new_customer(tenant)
    await redeem(discounts, tenant, other.id, hello.id, product_id, customer_id=newcomer)


async def test_concurrent_first_purchase_redemptions_by_one_customer_let_one_through(
    discounts: DiscountStub, promotion_codes: CodeStub, products, new_customer, tenant
) -> None:
    """Two discounts' first-purchase codes at once (different discount rows,
    so only the per-customer lock serializes them): exactly one succeeds."""
    product_id, (first, welcome), (other, hello) = await first_purchase_setup(
        discounts, promotion_codes, products, tenant
    )
    customer = await new_customer(tenant)

    async def attempt(index: int) -> object:
        discount, code = (first, welcome) if index % 2 == 0 else (other, hello)
        try:
            return await redeem(
                discounts, tenant, discount.id, code.id, product_id, customer_id=customer
            )
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(index) for index in range(6)))
    wins = [o for o in outcomes if isinstance(o, discounts_pb2.DiscountRedemption)]
    assert len(wins) == 1
    assert {o.reason for o in outcomes if isinstance(o, CallError)} == {
        "DISCOUNT_FIRST_PURCHASE_ONLY"
    }
