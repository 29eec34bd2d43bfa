"""What a product's prices mean together, over gRPC against real Postgres: per
currency and billing period at most one active static price (fixed, free,
custom or seat-based) beside any number of metered prices, whichever way a
price becomes active (created inline, added, unarchived, concurrently); and
seat-based prices' seat counts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import products_pb2, products_pb2_grpc
from billingos_catalog import models
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.service import RunningService

ProductStub = products_pb2_grpc.ProductServiceStub
PriceStub = products_pb2_grpc.PriceServiceStub

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
YEAR = products_pb2.Period(interval=products_pb2.INTERVAL_YEAR)
QUARTER = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH, count=3)
METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"


def fixed(amount: int = 2900, currency: str = "USD", **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount), **extra
    )


def free(currency: str = "USD") -> products_pb2.Price:
    return products_pb2.Price(currency=currency, free=products_pb2.FreeAmount())


def custom(currency: str = "USD") -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, custom=products_pb2.CustomAmount(minimum_amount_minor=500)
    )


def seats(currency: str = "USD", **counts: int) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency,
        seat_based=products_pb2.SeatBasedAmount(
            tier_mode=products_pb2.TIER_MODE_VOLUME,
            tiers=[products_pb2.SeatTier(from_seats=1, amount_per_seat_minor=1000)],
            **counts,
        ),
    )


def metered(currency: str = "USD") -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency,
        metered_unit=products_pb2.MeteredUnitAmount(unit_amount="0.5", meter_id=METER_ID),
    )


def package(currency: str = "USD") -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency,
        metered_package=products_pb2.MeteredPackageAmount(
            meter_id=METER_ID,
            package_size=100,
            amount_per_package="500",
            rounding=products_pb2.PACKAGE_ROUNDING_UP,
        ),
    )


async def new_product(
    products: ProductStub, tenant, *prices: products_pb2.Price, recurring: object = MONTH
) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(name="Plan", recurring=recurring, prices=list(prices))
        ),
        metadata=tenant.metadata(),
    )


async def add_price(
    prices: PriceStub, tenant, product_id: str, price: products_pb2.Price
) -> products_pb2.Price:
    return await prices.CreatePrice(
        products_pb2.CreatePriceRequest(product_id=product_id, price=price),
        metadata=tenant.metadata(),
    )


async def set_archived(prices: PriceStub, tenant, price_id: str, archived: bool) -> object:
    return await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=price_id, archived=archived),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def active_prices(service: RunningService, product_id: str) -> int:
    table = models.prices
    found = await scalar(
        service.app.database,
        select(func.count())
        .select_from(table)
        .where(table.c.product_id == uuid.UUID(product_id), table.c.archived_at.is_(None)),
    )
    return int(found or 0)


# ---- what may stand together -------------------------------------------------


async def test_one_static_price_per_currency_and_period_beside_any_metered_prices(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(
        products,
        tenant,
        fixed(2900),
        metered(),
        package(),
        fixed(29_000, recurring=YEAR),
        seats("EUR"),
        metered("EUR"),
        custom("GBP"),
    )
    assert len(product.prices) == 7
    more = await add_price(prices, tenant, product.id, metered())
    assert more.WhichOneof("amount") == "metered_unit"
    quarterly = await add_price(prices, tenant, product.id, fixed(7500, recurring=QUARTER))
    assert quarterly.recurring == QUARTER


async def test_metered_prices_need_no_static_price(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, metered(), package())
    assert [p.WhichOneof("amount") for p in product.prices] == ["metered_unit", "metered_package"]


@pytest.mark.parametrize(
    "second",
    [fixed(3900), free(), custom(), seats()],
    ids=["fixed", "free", "custom", "seat-based"],
)
async def test_a_second_static_price_for_a_currency_and_period_is_refused(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    second: products_pb2.Price,
) -> None:
    product = await new_product(products, tenant, fixed(2900), metered())
    error = await refusal(add_price(prices, tenant, product.id, second))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "STATIC_PRICE_EXISTS"
    assert error.fields == ["price"]
    assert product.prices[0].id in error.message
    assert await active_prices(catalog_service, product.id) == 2


def every(interval: int, count: int) -> products_pb2.Period:
    return products_pb2.Period(interval=interval, count=count)


DAY, WEEK = products_pb2.INTERVAL_DAY, products_pb2.INTERVAL_WEEK
MONTHS, YEARS = products_pb2.INTERVAL_MONTH, products_pb2.INTERVAL_YEAR


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (every(WEEK, 1), every(DAY, 7)),
        (every(DAY, 14), every(WEEK, 2)),
        (every(MONTHS, 12), every(YEARS, 1)),
        (every(YEARS, 2), every(MONTHS, 24)),
        (every(WEEK, 0), every(DAY, 7)),
    ],
    ids=["week-7-days", "14-days-2-weeks", "12-months-year", "2-years-24-months", "unset-count"],
)
async def test_one_period_in_other_units_is_still_one_period(
    products: ProductStub,
    prices: PriceStub,
    tenant,
    first: products_pb2.Period,
    second: products_pb2.Period,
) -> None:
    product = await new_product(products, tenant, fixed(2900, recurring=first))
    error = await refusal(add_price(prices, tenant, product.id, free_every(second)))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "STATIC_PRICE_EXISTS"
    # Only compared so: each price keeps the period it was given.
    assert product.prices[0].recurring.interval == first.interval
    other = await add_price(prices, tenant, product.id, free_every(every(DAY, 8)))
    assert other.recurring == every(DAY, 8)


def free_every(period: products_pb2.Period) -> products_pb2.Price:
    price = free()
    price.recurring.CopyFrom(period)
    return price


async def test_two_static_prices_inline_name_the_second_and_create_nothing(
    products: ProductStub, tenant
) -> None:
    error = await refusal(new_product(products, tenant, fixed(2900), metered(), free()))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "STATIC_PRICE_EXISTS"
    assert error.fields == ["product.prices[2]"]
    listed = await products.ListProducts(
        products_pb2.ListProductsRequest(), metadata=tenant.metadata()
    )
    assert list(listed.products) == []


async def test_a_one_time_product_has_one_static_price_per_currency(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, fixed(9900), fixed(9000, "EUR"), recurring=None)
    error = await refusal(add_price(prices, tenant, product.id, custom()))
    assert error.reason == "STATIC_PRICE_EXISTS"


async def test_an_archived_static_price_makes_room_and_cannot_come_back_beside_its_successor(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900))
    old = product.prices[0]
    await set_archived(prices, tenant, old.id, True)
    successor = await add_price(prices, tenant, product.id, fixed(3900))
    error = await refusal(set_archived(prices, tenant, old.id, False))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "STATIC_PRICE_EXISTS"
    assert error.fields == ["price.archived"]
    assert successor.id in error.message
    await set_archived(prices, tenant, successor.id, True)
    back = await set_archived(prices, tenant, old.id, False)
    assert isinstance(back, products_pb2.Price)
    assert not back.archived


async def test_concurrent_static_prices_for_one_period_leave_one(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)

    async def attempt(amount: int) -> products_pb2.Price | CallError:
        try:
            return await add_price(prices, tenant, product.id, fixed(amount))
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(1000 + n) for n in range(6)))
    created = [o for o in outcomes if isinstance(o, products_pb2.Price)]
    refused = [o for o in outcomes if isinstance(o, CallError)]
    assert len(created) == 1
    assert {e.reason for e in refused} == {"STATIC_PRICE_EXISTS"}
    assert await active_prices(catalog_service, product.id) == 1


# ---- seat counts ---------------------------------------------------------------


async def test_seat_based_prices_keep_their_seat_counts(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    bounded = await add_price(prices, tenant, product.id, seats(minimum_seats=3, maximum_seats=50))
    assert bounded.seat_based.minimum_seats == 3
    assert bounded.seat_based.maximum_seats == 50
    open_ended = await add_price(prices, tenant, product.id, seats("EUR"))
    assert not open_ended.seat_based.HasField("minimum_seats")
    assert not open_ended.seat_based.HasField("maximum_seats")


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ({"minimum_seats": 10, "maximum_seats": 5}, "price.seat_based.minimum_seats"),
        ({"minimum_seats": 0}, "price.seat_based.minimum_seats"),
        ({"maximum_seats": 0}, "price.seat_based.maximum_seats"),
        ({"maximum_seats": 1_000_001}, "price.seat_based.maximum_seats"),
    ],
    ids=["minimum-above-maximum", "minimum-zero", "maximum-zero", "maximum-above-limit"],
)
async def test_bad_seat_counts_name_the_field(
    products: ProductStub, prices: PriceStub, tenant, counts: dict[str, int], field: str
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, seats(**counts)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
