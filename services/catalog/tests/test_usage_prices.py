"""Metered prices with usage models over gRPC against real Postgres and
JetStream: tiers (volume and graduated, sub-cent, flat fees), packages,
percentages, graduated percentages, minimum spend; read back exactly,
announced, stored as the pricing library's models (the documented Stripe and
Lago numbers come out of what the catalog stored), and every bad input named."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from decimal import Decimal

import grpc
import pytest
from sqlalchemy import func, select

from billingos.catalog.v1 import events_pb2, products_pb2, products_pb2_grpc
from billingos_catalog import models
from billingos_catalog.usage_rules import (
    GraduatedPercentages,
    TieredUsage,
    usage_model,
)
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_pricing.packages import PackagePrice, package_amount
from billingos_pricing.percentages import (
    PercentagePrice,
    graduated_percentage_amount,
    percentage_amount,
)
from billingos_pricing.usage_tiers import tiered_amount

ProductStub = products_pb2_grpc.ProductServiceStub
PriceStub = products_pb2_grpc.PriceServiceStub

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"
VOLUME = products_pb2.TIER_MODE_VOLUME
GRADUATED = products_pb2.TIER_MODE_GRADUATED
UP = products_pb2.PACKAGE_ROUNDING_UP
DOWN = products_pb2.PACKAGE_ROUNDING_DOWN


def tiers(*bounds: tuple[str, str, int], mode: int = VOLUME, **extra: object) -> products_pb2.Price:
    """A tiered usage price: (up_to, unit_amount, flat_fee_minor) per tier."""
    return products_pb2.Price(
        currency="USD",
        metered_tiers=products_pb2.MeteredTiersAmount(
            meter_id=METER_ID,
            tier_mode=mode,
            tiers=[
                products_pb2.UsageTier(up_to=up_to, unit_amount=unit, flat_fee_minor=fee)
                for up_to, unit, fee in bounds
            ],
            **extra,
        ),
    )


def package(
    size: int, amount: str, rounding: int = UP, free_units: str = "", **extra: object
) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD",
        metered_package=products_pb2.MeteredPackageAmount(
            meter_id=METER_ID,
            package_size=size,
            amount_per_package=amount,
            rounding=rounding,
            free_units=free_units,
            **extra,
        ),
    )


def percentage(rate: str, **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD",
        metered_percentage=products_pb2.MeteredPercentageAmount(
            meter_id=METER_ID, rate=rate, **extra
        ),
    )


def graduated_percentage(*bounds: tuple[str, str, int], **extra: object) -> products_pb2.Price:
    """Graduated percentage tiers: (up_to, rate, flat_fee_minor) per tier."""
    return products_pb2.Price(
        currency="USD",
        metered_graduated_percentage=products_pb2.MeteredGraduatedPercentageAmount(
            meter_id=METER_ID,
            tiers=[
                products_pb2.PercentageTier(up_to=up_to, rate=rate, flat_fee_minor=fee)
                for up_to, rate, fee in bounds
            ],
            **extra,
        ),
    )


# Stripe's documented tiers: 1-5 $5, 6-10 $4, 11-15 $3, 16-20 $2, then $1.
STRIPE_TIERS = (
    ("5", "500", 0),
    ("10", "400", 0),
    ("15", "300", 0),
    ("20", "200", 0),
    ("", "100", 0),
)
# Lago's volume example: $0.0010 / $0.0008 / $0.0006 / $0.0004 per call,
# breaking at 10k, 50k and 100k, a $10 flat fee on each tier.
LAGO_VOLUME = (
    ("10000", "0.1", 1000),
    ("50000", "0.08", 1000),
    ("100000", "0.06", 1000),
    ("", "0.04", 1000),
)
# Lago's graduated percentage: 1 % + $200, 2 % + $300, 3 % + $400, breaking at
# $1,000 and $10,000 (sums in cents).
LAGO_GRADUATED_PERCENTAGE = (("100000", "1", 20_000), ("1000000", "2", 30_000), ("", "3", 40_000))


async def new_product(products: ProductStub, tenant, **extra: object) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(name="Usage", recurring=MONTH, **extra)
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


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def stored(service: RunningService, price_id: str) -> models.Price:
    [record] = await rows(
        service.app.database, select(models.prices).where(models.prices.c.id == uuid.UUID(price_id))
    )
    return models.Price(**record)


async def price_count(service: RunningService, organization_id: uuid.UUID) -> int:
    table = models.prices
    found = await scalar(
        service.app.database,
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id),
    )
    return int(found or 0)


# ---- every model, read back exactly ------------------------------------------

MODELS = [
    (tiers(*STRIPE_TIERS), "stripe-volume"),
    (tiers(*STRIPE_TIERS, mode=GRADUATED), "stripe-graduated"),
    (tiers(*LAGO_VOLUME, cap_amount_minor=500_000), "lago-volume-with-fees-and-cap"),
    (tiers(("1000.5", "0.000000000001", 0), ("", "", 0)), "sub-cent-and-free-tier"),
    (package(100, "500", UP, free_units="100"), "lago-package-with-free-units"),
    (package(1000, "0.25", DOWN), "package-rounded-down-sub-cent"),
    (percentage("2.9", fixed_fee_per_event="30"), "percentage-with-fee"),
    (
        percentage("1", per_event_minimum="100", per_event_maximum="500"),
        "percentage-with-per-event-bounds",
    ),
    (percentage("100"), "percentage-all-of-it"),
    (graduated_percentage(*LAGO_GRADUATED_PERCENTAGE), "lago-graduated-percentage"),
    (tiers(*STRIPE_TIERS, minimum_spend_minor=10_000), "tiers-with-minimum-spend"),
    (
        products_pb2.Price(
            currency="USD",
            metered_unit=products_pb2.MeteredUnitAmount(
                unit_amount="0.5",
                meter_id=METER_ID,
                minimum_spend_minor=2000,
                cap_amount_minor=5000,
            ),
        ),
        "unit-with-minimum-spend-and-cap",
    ),
]


@pytest.mark.parametrize("price", [price for price, _ in MODELS], ids=[n for _, n in MODELS])
async def test_each_usage_model_is_created_and_read_back_exactly(
    products: ProductStub, prices: PriceStub, tenant, price: products_pb2.Price
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, price)
    kind = price.WhichOneof("amount")
    assert created.WhichOneof("amount") == kind
    assert getattr(created, kind) == getattr(price, kind)
    fetched = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created
    with_prices = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert list(with_prices.prices) == [created]


async def test_usage_models_come_inline_with_their_product_and_are_announced(
    products: ProductStub, tenant, servers: SessionServers
) -> None:
    product = await new_product(
        products,
        tenant,
        prices=[
            tiers(*STRIPE_TIERS),
            package(100, "500", free_units="100"),
            percentage("2.9", fixed_fee_per_event="30"),
            graduated_percentage(*LAGO_GRADUATED_PERCENTAGE),
        ],
    )
    assert [p.WhichOneof("amount") for p in product.prices] == [
        "metered_tiers",
        "metered_package",
        "metered_percentage",
        "metered_graduated_percentage",
    ]
    found = await published_events(
        servers.nats_url, "billingos.catalog.price.created", tenant.organization_id, at_least=4
    )
    announced = []
    for envelope in found:
        payload = events_pb2.PriceCreatedEvent()
        assert envelope.data.Unpack(payload)
        announced.append(payload.price)
    assert announced == list(product.prices)


async def test_decimals_come_back_without_trailing_zeros(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(
        prices, tenant, product.id, tiers(("10.500", "0.0600", 100), ("", "0.040", 0))
    )
    assert [(t.up_to, t.unit_amount) for t in created.metered_tiers.tiers] == [
        ("10.5", "0.06"),
        ("", "0.04"),
    ]


# ---- what was stored prices usage as documented ------------------------------


@pytest.mark.parametrize(
    ("mode", "quantity", "dollars"),
    [
        (VOLUME, 1, 5),
        (VOLUME, 5, 25),
        (VOLUME, 6, 24),
        (VOLUME, 20, 40),
        (VOLUME, 25, 25),
        (GRADUATED, 6, 29),
    ],
)
async def test_stored_tiers_price_stripes_documented_examples(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    mode: int,
    quantity: int,
    dollars: int,
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, tiers(*STRIPE_TIERS, mode=mode))
    model = usage_model(await stored(catalog_service, created.id))
    assert isinstance(model, TieredUsage)
    assert tiered_amount(model.tiers, model.mode, Decimal(quantity)) == dollars * 100


async def test_stored_models_price_lagos_documented_examples(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    volume = await add_price(prices, tenant, product.id, tiers(*LAGO_VOLUME))
    blocks = await add_price(prices, tenant, product.id, package(100, "500", free_units="100"))
    graduated = await add_price(
        prices, tenant, product.id, graduated_percentage(*LAGO_GRADUATED_PERCENTAGE)
    )

    tiered = usage_model(await stored(catalog_service, volume.id))
    assert isinstance(tiered, TieredUsage)
    assert tiered_amount(tiered.tiers, tiered.mode, Decimal(65_000)) == 4900  # $49
    packaged = usage_model(await stored(catalog_service, blocks.id))
    assert isinstance(packaged, PackagePrice)
    assert package_amount(packaged, Decimal(201)) == 1000  # $10
    shares = usage_model(await stored(catalog_service, graduated.id))
    assert isinstance(shares, GraduatedPercentages)
    # $500 → $205; $1,050 → $511; $5,050 → $591 (on the running total).
    assert [
        graduated_percentage_amount(shares.tiers, Decimal(total))
        for total in (50_000, 105_000, 505_000)
    ] == [20_500, 51_100, 59_100]


async def test_stored_percentage_clamps_each_event(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(
        prices,
        tenant,
        product.id,
        percentage("1", per_event_minimum="100", per_event_maximum="500"),
    )
    model = usage_model(await stored(catalog_service, created.id))
    assert isinstance(model, PercentagePrice)
    # Payments of $10, $200 and $1,000: $1 + $2 + $5.
    assert percentage_amount(model, [Decimal(1000), Decimal(20_000), Decimal(100_000)]) == 800


# ---- bad input -----------------------------------------------------------------

REFUSALS = [
    # tiers
    (
        tiers(("10", "5", 0), ("10", "4", 0), ("", "3", 0)),
        "price.metered_tiers.tiers[1].up_to",
        "tiers-overlap",
    ),
    (
        tiers(("10", "5", 0), ("5", "4", 0), ("", "3", 0)),
        "price.metered_tiers.tiers[1].up_to",
        "tiers-out-of-order",
    ),
    (tiers(("10", "5", 0), ("20", "4", 0)), "price.metered_tiers.tiers[1].up_to", "last-bounded"),
    (
        tiers(("", "5", 0), ("20", "4", 0), ("", "3", 0)),
        "price.metered_tiers.tiers[0].up_to",
        "unbounded-before-last",
    ),
    (tiers(("0", "5", 0), ("", "4", 0)), "price.metered_tiers.tiers[0].up_to", "first-bound-0"),
    (tiers(), "price.metered_tiers.tiers", "no-tiers"),
    (tiers(("", "-1", 0)), "price.metered_tiers.tiers[0].unit_amount", "negative-unit-amount"),
    (tiers(("", "1", -100)), "price.metered_tiers.tiers[0].flat_fee_minor", "negative-flat-fee"),
    (
        tiers(("", "0.0000000000001", 0)),
        "price.metered_tiers.tiers[0].unit_amount",
        "13-decimal-places",
    ),
    (tiers(("1e3", "5", 0), ("", "4", 0)), "price.metered_tiers.tiers[0].up_to", "exponent"),
    (tiers(("", "five", 0)), "price.metered_tiers.tiers[0].unit_amount", "not-a-number"),
    (
        tiers(("", "5", 0), mode=products_pb2.TIER_MODE_UNSPECIFIED),
        "price.metered_tiers.tier_mode",
        "no-tier-mode",
    ),
    # packages
    (package(0, "500"), "price.metered_package.package_size", "zero-unit-package"),
    (package(-100, "500"), "price.metered_package.package_size", "negative-package"),
    (package(100, "-5"), "price.metered_package.amount_per_package", "negative-package-price"),
    (package(100, "500", free_units="-1"), "price.metered_package.free_units", "negative-free"),
    (
        package(100, "500", rounding=products_pb2.PACKAGE_ROUNDING_UNSPECIFIED),
        "price.metered_package.rounding",
        "no-rounding",
    ),
    # percentages
    (percentage("100.01"), "price.metered_percentage.rate", "percentage-above-100"),
    (percentage("-1"), "price.metered_percentage.rate", "negative-percentage"),
    (percentage(""), "price.metered_percentage.rate", "no-rate"),
    (
        percentage("2.9", fixed_fee_per_event="-30"),
        "price.metered_percentage.fixed_fee_per_event",
        "negative-fee-per-event",
    ),
    (
        percentage("1", per_event_minimum="600", per_event_maximum="500"),
        "price.metered_percentage.per_event_minimum",
        "per-event-minimum-above-maximum",
    ),
    (
        graduated_percentage(("1000", "101", 0), ("", "2", 0)),
        "price.metered_graduated_percentage.tiers[0].rate",
        "graduated-percentage-above-100",
    ),
    (
        graduated_percentage(("1000", "1", -1), ("", "2", 0)),
        "price.metered_graduated_percentage.tiers[0].flat_fee_minor",
        "graduated-negative-fee",
    ),
    (
        graduated_percentage(("1000", "1", 0), ("500", "2", 0), ("", "3", 0)),
        "price.metered_graduated_percentage.tiers[1].up_to",
        "graduated-overlap",
    ),
    # what every metered price has
    (
        tiers(("", "5", 0), minimum_spend_minor=10_000, cap_amount_minor=5000),
        "price.metered_tiers.minimum_spend_minor",
        "minimum-spend-above-cap",
    ),
    (
        tiers(("", "5", 0), minimum_spend_minor=0),
        "price.metered_tiers.minimum_spend_minor",
        "zero-minimum-spend",
    ),
    (
        tiers(("", "5", 0), minimum_spend_minor=-100),
        "price.metered_tiers.minimum_spend_minor",
        "negative-minimum-spend",
    ),
    (tiers(("", "5", 0), cap_amount_minor=0), "price.metered_tiers.cap_amount_minor", "zero-cap"),
    (
        products_pb2.Price(
            currency="USD",
            metered_package=products_pb2.MeteredPackageAmount(
                meter_id="meter-1", package_size=10, amount_per_package="1", rounding=UP
            ),
        ),
        "price.metered_package.meter_id",
        "meter-not-a-uuid",
    ),
]


@pytest.mark.parametrize(
    ("price", "field"),
    [(price, field) for price, field, _ in REFUSALS],
    ids=[name for _, _, name in REFUSALS],
)
async def test_a_bad_usage_model_names_the_field_and_leaves_nothing_behind(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    price: products_pb2.Price,
    field: str,
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, price))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    assert await price_count(catalog_service, tenant.organization_id) == 0


async def test_a_percentage_above_100_says_so(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, percentage("150")))
    assert "price.metered_percentage.rate: must be at most 100 (percent)" in error.message


async def test_overlapping_tiers_name_the_tier_they_overlap(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(
        add_price(prices, tenant, product.id, tiers(("10", "5", 0), ("10", "4", 0), ("", "3", 0)))
    )
    assert "must be above price.metered_tiers.tiers[0].up_to (10)" in error.message


async def test_a_one_time_product_refuses_usage_models(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    one_time = await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name="Once")),
        metadata=tenant.metadata(),
    )
    error = await refusal(add_price(prices, tenant, one_time.id, package(10, "100")))
    assert error.fields == ["price.metered_package"]


async def test_a_bad_inline_usage_model_names_its_index_and_creates_nothing(
    products: ProductStub, catalog_service: RunningService, tenant
) -> None:
    error = await refusal(
        new_product(products, tenant, prices=[package(100, "500"), package(0, "500")])
    )
    assert error.fields == ["product.prices[1].metered_package.package_size"]
    assert await price_count(catalog_service, tenant.organization_id) == 0
