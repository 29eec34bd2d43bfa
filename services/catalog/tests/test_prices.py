"""Prices over gRPC against real Postgres and JetStream: every amount type,
billing periods, listing, archiving, and the input a price refuses."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2, wrappers_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import events_pb2, products_pb2, products_pb2_grpc
from billingos_catalog import models
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

ProductStub = products_pb2_grpc.ProductServiceStub
PriceStub = products_pb2_grpc.PriceServiceStub

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
YEAR = products_pb2.Period(interval=products_pb2.INTERVAL_YEAR)
METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"


def fixed(amount: int, currency: str = "USD", **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount), **extra
    )


def custom(
    minimum: int, maximum: int | None = None, preset: int | None = None, currency: str = "USD"
) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency,
        custom=products_pb2.CustomAmount(
            minimum_amount_minor=minimum, maximum_amount_minor=maximum, preset_amount_minor=preset
        ),
    )


def metered(
    unit_amount: str, meter_id: str = METER_ID, cap: int | None = None
) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD",
        metered_unit=products_pb2.MeteredUnitAmount(
            unit_amount=unit_amount, meter_id=meter_id, cap_amount_minor=cap
        ),
    )


def seats(
    *tiers: tuple[int, int | None, int], mode: int = products_pb2.TIER_MODE_VOLUME
) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD",
        seat_based=products_pb2.SeatBasedAmount(
            tier_mode=mode,
            tiers=[
                products_pb2.SeatTier(from_seats=low, to_seats=high, amount_per_seat_minor=amount)
                for low, high, amount in tiers
            ],
        ),
    )


async def new_product(
    products: ProductStub,
    tenant,
    *,
    recurring: products_pb2.Period | None = MONTH,
    archived: bool = False,
) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(name="Plan", recurring=recurring, archived=archived)
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


async def archive(prices: PriceStub, tenant, price_id: str) -> products_pb2.Price:
    return await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=price_id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )


async def refusal(call: Awaitable[object]) -> CallError:
    """The error of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def price_rows_and_events(
    service: RunningService, organization_id: uuid.UUID
) -> tuple[int, int]:
    """How many prices and outbox events the organization has."""
    outbox = models.kit_tables.outbox
    table = models.prices
    database = service.app.database
    price_count = await scalar(
        database,
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id),
    )
    event_count = await scalar(
        database,
        select(func.count()).select_from(outbox).where(outbox.c.organization_id == organization_id),
    )
    return int(price_count or 0), int(event_count or 0)


# ---- every amount type, read back exactly ----------------------------------


@pytest.mark.parametrize(
    "price",
    [
        fixed(2900),
        products_pb2.Price(currency="EUR", free=products_pb2.FreeAmount()),
        custom(500, maximum=10_000, preset=2000),
        custom(0),
        # Amounts Stripe can charge as they are (stripe_amounts.py).
        fixed(1010, currency="KWD"),
        fixed(99_999_999),
        fixed(50),  # Stripe's minimum charge for USD
        fixed(30, currency="GBP"),  # and for GBP
        fixed(5, currency="ISK"),
        fixed(12300, currency="MGA"),
        custom(0, maximum=99_999_990, preset=1010, currency="KWD"),
        metered("0.000125", cap=50_000),
        metered("0.000000000001"),
        metered("12.5"),
        seats((1, 5, 1000), (6, None, 800)),
        seats(
            (1, 10, 1500),
            (11, 50, 1200),
            (51, None, 900),
            mode=products_pb2.TIER_MODE_GRADUATED,
        ),
    ],
    ids=[
        "fixed",
        "free",
        "custom-min-max-preset",
        "custom-min-only",
        "fixed-kwd-last-digit-0",
        "fixed-at-stripe-maximum",
        "fixed-at-stripe-minimum",
        "fixed-gbp-at-stripe-minimum",
        "fixed-isk",
        "fixed-mga-whole-ariary",
        "custom-kwd-up-to-stripe-maximum",
        "metered-sub-cent-with-cap",
        "metered-12-places",
        "metered-above-one-minor-unit",
        "seats-volume",
        "seats-graduated",
    ],
)
async def test_each_price_type_is_created_and_read_back_exactly(
    products: ProductStub,
    prices: PriceStub,
    tenant,
    session_clock: FrozenClock,
    price: products_pb2.Price,
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, price)

    kind = price.WhichOneof("amount")
    assert created.WhichOneof("amount") == kind
    assert getattr(created, kind) == getattr(price, kind)
    assert created.currency == price.currency
    assert created.product_id == product.id
    assert created.organization_id == str(tenant.organization_id)
    assert not created.archived
    assert created.create_time.ToDatetime(tzinfo=session_clock.now().tzinfo) == (
        session_clock.now()
    )
    fetched = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created
    with_prices = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert list(with_prices.prices) == [created]


async def test_metered_unit_amount_comes_back_as_the_same_text(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, metered("0.000125", cap=2500))
    assert created.metered_unit.unit_amount == "0.000125"
    assert created.metered_unit.meter_id == METER_ID
    assert created.metered_unit.HasField("cap_amount_minor")
    assert created.metered_unit.cap_amount_minor == 2500
    uncapped = await add_price(prices, tenant, product.id, metered("0.0125"))
    assert uncapped.metered_unit.unit_amount == "0.0125"
    assert not uncapped.metered_unit.HasField("cap_amount_minor")


async def test_custom_price_without_bounds_has_no_maximum_or_preset(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, custom(100))
    assert created.custom.minimum_amount_minor == 100
    assert not created.custom.HasField("maximum_amount_minor")
    assert not created.custom.HasField("preset_amount_minor")


async def test_currency_is_read_case_insensitively_and_returned_in_upper_case(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(1000, currency="eur"))
    assert created.currency == "EUR"


@pytest.mark.parametrize("currency", [" eur ", "USD\n", "u\u017fd", "\uff35SD"])
async def test_currency_lookalikes_and_padding_are_refused(
    products: ProductStub, prices: PriceStub, tenant, currency: str
) -> None:
    product = await new_product(products, tenant)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await add_price(prices, tenant, product.id, fixed(1000, currency=currency))
    assert call_error(refused.value).fields == ["price.currency"]


async def test_creating_a_price_publishes_price_created(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(4900))
    found = await published_events(
        servers.nats_url, "billingos.catalog.price.created", tenant.organization_id
    )
    payload = events_pb2.PriceCreatedEvent()
    assert found[0].data.Unpack(payload)
    assert payload.price == created


# ---- billing periods ---------------------------------------------------------


async def test_price_on_a_recurring_product_defaults_to_the_products_period(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    quarterly = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH, count=3)
    product = await new_product(products, tenant, recurring=quarterly)
    created = await add_price(prices, tenant, product.id, fixed(7500))
    assert created.recurring == quarterly


async def test_price_may_override_the_products_period(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, recurring=MONTH)
    monthly = await add_price(prices, tenant, product.id, fixed(2900))
    yearly = await add_price(prices, tenant, product.id, fixed(29_000, recurring=YEAR))
    assert monthly.recurring == products_pb2.Period(interval=products_pb2.INTERVAL_MONTH, count=1)
    assert yearly.recurring == products_pb2.Period(interval=products_pb2.INTERVAL_YEAR, count=1)
    fetched = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=yearly.id), metadata=tenant.metadata()
    )
    assert fetched.recurring.interval == products_pb2.INTERVAL_YEAR


async def test_price_of_a_one_time_product_has_no_period(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, recurring=None)
    created = await add_price(prices, tenant, product.id, fixed(9900))
    assert not created.HasField("recurring")


# ---- reads -------------------------------------------------------------------


async def test_list_prices_filters_by_archived_and_pages_newest_first(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    first = await add_price(prices, tenant, product.id, fixed(1000))
    second = await add_price(prices, tenant, product.id, fixed(2000, currency="EUR"))
    third = await add_price(prices, tenant, product.id, fixed(3000, currency="GBP"))
    await archive(prices, tenant, second.id)
    unrelated = await new_product(products, tenant)
    await add_price(prices, tenant, unrelated.id, fixed(5000))

    async def ids(**filters: object) -> list[str]:
        page = await prices.ListPrices(
            products_pb2.ListPricesRequest(product_id=product.id, **filters),
            metadata=tenant.metadata(),
        )
        return [p.id for p in page.prices]

    assert await ids() == [third.id, second.id, first.id]
    assert await ids(archived=wrappers_pb2.BoolValue(value=False)) == [third.id, first.id]
    assert await ids(archived=wrappers_pb2.BoolValue(value=True)) == [second.id]

    page_one = await prices.ListPrices(
        products_pb2.ListPricesRequest(product_id=product.id, page_size=2),
        metadata=tenant.metadata(),
    )
    assert [p.id for p in page_one.prices] == [third.id, second.id]
    assert page_one.next_page_token
    page_two = await prices.ListPrices(
        products_pb2.ListPricesRequest(
            product_id=product.id, page_size=2, page_token=page_one.next_page_token
        ),
        metadata=tenant.metadata(),
    )
    assert [p.id for p in page_two.prices] == [first.id]
    assert page_two.next_page_token == ""

    error = await refusal(
        prices.ListPrices(
            products_pb2.ListPricesRequest(
                product_id=product.id,
                page_size=2,
                page_token=page_one.next_page_token,
                archived=wrappers_pb2.BoolValue(value=False),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["page_token"]


async def test_another_organizations_prices_are_not_found(
    products: ProductStub, prices: PriceStub, tenant, other_tenant
) -> None:
    product = await new_product(products, other_tenant)
    theirs = await add_price(prices, other_tenant, product.id, fixed(1000))
    not_listed = await refusal(
        prices.ListPrices(
            products_pb2.ListPricesRequest(product_id=product.id), metadata=tenant.metadata()
        )
    )
    assert not_listed.code == grpc.StatusCode.NOT_FOUND
    not_got = await refusal(
        prices.GetPrice(products_pb2.GetPriceRequest(id=theirs.id), metadata=tenant.metadata())
    )
    assert not_got.code == grpc.StatusCode.NOT_FOUND
    not_archived = await refusal(archive(prices, tenant, theirs.id))
    assert not_archived.code == grpc.StatusCode.NOT_FOUND
    still = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=theirs.id), metadata=other_tenant.metadata()
    )
    assert not still.archived


async def test_get_price_with_a_malformed_id_names_the_field(prices: PriceStub, tenant) -> None:
    error = await refusal(
        prices.GetPrice(products_pb2.GetPriceRequest(id="price-1"), metadata=tenant.metadata())
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["id"]


# ---- archiving and immutability ---------------------------------------------


async def test_archiving_a_price_announces_it_and_hides_it_from_the_product(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    product = await new_product(products, tenant)
    kept = await add_price(prices, tenant, product.id, fixed(2900))
    retired = await add_price(prices, tenant, product.id, fixed(29_000, recurring=YEAR))

    archived = await archive(prices, tenant, retired.id)
    assert archived.archived
    assert archived.fixed.amount_minor == 29_000

    with_prices = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert [p.id for p in with_prices.prices] == [kept.id]
    still_readable = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=retired.id), metadata=tenant.metadata()
    )
    assert still_readable == archived

    found = await published_events(
        servers.nats_url, "billingos.catalog.price.archived", tenant.organization_id
    )
    assert len(found) == 1
    payload = events_pb2.PriceArchivedEvent()
    assert found[0].data.Unpack(payload)
    assert payload.price == archived


async def test_archiving_without_a_mask_means_archived(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(2900))
    archived = await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(price=products_pb2.Price(id=created.id, archived=True)),
        metadata=tenant.metadata(),
    )
    assert archived.archived


async def test_archiving_an_archived_price_again_changes_nothing(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(2900))
    first = await archive(prices, tenant, created.id)
    before = await price_rows_and_events(catalog_service, tenant.organization_id)
    assert await archive(prices, tenant, created.id) == first
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("fixed", {"fixed": products_pb2.FixedAmount(amount_minor=3900)}),
        ("currency", {"currency": "EUR"}),
    ],
)
async def test_an_amount_cannot_be_changed_through_update_price(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    path: str,
    change: dict[str, object],
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(2900))
    before = await price_rows_and_events(catalog_service, tenant.organization_id)

    error = await refusal(
        prices.UpdatePrice(
            products_pb2.UpdatePriceRequest(
                price=products_pb2.Price(id=created.id, **change),
                update_mask=field_mask_pb2.FieldMask(paths=[path]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "PRICE_IMMUTABLE"
    assert error.fields == ["update_mask"]
    fetched = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


async def test_without_a_mask_a_changed_amount_is_refused_not_ignored(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(2900))
    error = await refusal(
        prices.UpdatePrice(
            products_pb2.UpdatePriceRequest(
                price=products_pb2.Price(
                    id=created.id, fixed=products_pb2.FixedAmount(amount_minor=1)
                )
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.reason == "PRICE_IMMUTABLE"
    fetched = await prices.GetPrice(
        products_pb2.GetPriceRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched.fixed.amount_minor == 2900


async def test_sending_back_the_whole_price_with_archived_set_archives_it(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    created = await add_price(prices, tenant, product.id, fixed(2900))
    echoed = products_pb2.Price()
    echoed.CopyFrom(created)
    echoed.archived = True
    archived = await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(price=echoed), metadata=tenant.metadata()
    )
    assert archived.archived
    assert archived.fixed.amount_minor == 2900


async def test_a_price_cannot_be_added_to_an_archived_product(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant, archived=True)
    before = await price_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(add_price(prices, tenant, product.id, fixed(2900)))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "PRODUCT_ARCHIVED"
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


# ---- bad input ---------------------------------------------------------------

RECURRING_PRODUCT_REFUSALS = [
    (fixed(1000, currency="XXX"), "price.currency", "unknown-currency"),
    (fixed(1000, archived=True), "price.archived", "created-archived"),
    (fixed(1000, lookup_key="."), "price.lookup_key", "lookup-key-dot"),
    (fixed(1000, lookup_key=".."), "price.lookup_key", "lookup-key-dot-dot"),
    (fixed(1000, lookup_key="....."), "price.lookup_key", "lookup-key-only-dots"),
    (fixed(1000, currency="IQD"), "price.currency", "currency-stripe-does-not-charge-in"),
    (fixed(1000, currency="CUP"), "price.currency", "currency-stripe-does-not-list"),
    (fixed(1000, currency="usdollars"), "price.currency", "currency-not-a-code"),
    (products_pb2.Price(currency="USD"), "price.amount", "no-amount-type"),
    (fixed(0), "price.fixed.amount_minor", "fixed-zero"),
    (fixed(-100), "price.fixed.amount_minor", "fixed-negative"),
    (custom(5000, maximum=1000), "price.custom.maximum_amount_minor", "custom-min-above-max"),
    (custom(1000, preset=500), "price.custom.preset_amount_minor", "custom-preset-below-min"),
    (
        custom(0, maximum=1000, preset=5000),
        "price.custom.preset_amount_minor",
        "custom-preset-above-max",
    ),
    (custom(-1), "price.custom.minimum_amount_minor", "custom-negative-minimum"),
    # Amounts Stripe can never charge as they are (stripe_amounts.py).
    (fixed(49), "price.fixed.amount_minor", "fixed-below-stripe-minimum"),
    (fixed(1), "price.fixed.amount_minor", "fixed-one-cent"),
    (fixed(29, currency="GBP"), "price.fixed.amount_minor", "fixed-gbp-below-minimum"),
    (fixed(9, currency="MXN"), "price.fixed.amount_minor", "fixed-mxn-below-minimum"),
    (custom(10), "price.custom.minimum_amount_minor", "custom-minimum-not-0-nor-stripe-minimum"),
    (custom(0, maximum=30), "price.custom.maximum_amount_minor", "custom-maximum-below-minimum"),
    (custom(0, preset=20), "price.custom.preset_amount_minor", "custom-preset-below-minimum"),
    (fixed(1005, currency="KWD"), "price.fixed.amount_minor", "fixed-kwd-last-digit-not-0"),
    (fixed(12345, currency="MGA"), "price.fixed.amount_minor", "fixed-mga-fraction-of-ariary"),
    (fixed(100_000_000), "price.fixed.amount_minor", "fixed-above-stripe-maximum"),
    (fixed(1_000_000, currency="ISK"), "price.fixed.amount_minor", "fixed-isk-above-maximum"),
    (
        custom(1005, currency="KWD"),
        "price.custom.minimum_amount_minor",
        "custom-kwd-minimum-last-digit-not-0",
    ),
    (
        custom(0, maximum=100_000_000),
        "price.custom.maximum_amount_minor",
        "custom-maximum-above-stripe-maximum",
    ),
    (
        custom(0, maximum=2000, preset=1005, currency="KWD"),
        "price.custom.preset_amount_minor",
        "custom-kwd-preset-last-digit-not-0",
    ),
    (
        seats((1, 5, 1000), (5, None, 800)),
        "price.seat_based.tiers[1].from_seats",
        "seat-tiers-overlap",
    ),
    (
        seats((1, 5, 1000), (7, None, 800)),
        "price.seat_based.tiers[1].from_seats",
        "seat-tiers-gap",
    ),
    (
        seats((1, 5, 1000), (6, 10, 800)),
        "price.seat_based.tiers[1].to_seats",
        "seat-last-tier-bounded",
    ),
    (seats((2, None, 1000)), "price.seat_based.tiers[0].from_seats", "seat-first-tier-not-1"),
    (seats(), "price.seat_based.tiers", "seat-no-tiers"),
    (seats((1, None, 1000), mode=99), "price.seat_based.tier_mode", "seat-unknown-tier-mode"),
    (
        seats((1, None, 1000), mode=products_pb2.TIER_MODE_UNSPECIFIED),
        "price.seat_based.tier_mode",
        "seat-unspecified-tier-mode",
    ),
    (metered("1e-3"), "price.metered_unit.unit_amount", "metered-exponent"),
    (metered("abc"), "price.metered_unit.unit_amount", "metered-not-a-number"),
    (metered(""), "price.metered_unit.unit_amount", "metered-empty"),
    (metered("0.0000000000001"), "price.metered_unit.unit_amount", "metered-13-places"),
    (metered("0"), "price.metered_unit.unit_amount", "metered-zero"),
    (metered("-0.5"), "price.metered_unit.unit_amount", "metered-negative"),
    (metered("0.01", meter_id="meter-1"), "price.metered_unit.meter_id", "metered-meter-not-uuid"),
    (metered("0.01", cap=0), "price.metered_unit.cap_amount_minor", "metered-zero-cap"),
    (
        fixed(1000, recurring=products_pb2.Period(interval=products_pb2.INTERVAL_UNSPECIFIED)),
        "price.recurring.interval",
        "override-without-interval",
    ),
]


async def test_a_price_is_never_created_archived_not_even_with_its_product(
    products: ProductStub, catalog_service: RunningService, tenant
) -> None:
    before = await price_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(
        products.CreateProduct(
            products_pb2.CreateProductRequest(
                product=products_pb2.Product(
                    name="Plan", recurring=MONTH, prices=[fixed(5000, archived=True)]
                )
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["product.prices[0].archived"]
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


async def test_a_lookup_key_may_hold_dots_beside_other_characters(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    price = await add_price(prices, tenant, product.id, fixed(1000, lookup_key=".pro..v2."))
    assert price.lookup_key == ".pro..v2."


@pytest.mark.parametrize(
    ("price", "field"),
    [(price, field) for price, field, _ in RECURRING_PRODUCT_REFUSALS],
    ids=[name for _, _, name in RECURRING_PRODUCT_REFUSALS],
)
async def test_bad_price_names_the_field_and_leaves_nothing_behind(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    price: products_pb2.Price,
    field: str,
) -> None:
    product = await new_product(products, tenant)
    before = await price_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(add_price(prices, tenant, product.id, price))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


@pytest.mark.parametrize(
    ("price", "says"),
    [
        (
            fixed(1005, currency="KWD"),
            "price.fixed.amount_minor: 1.005 KWD cannot be charged through Stripe, "
            "which charges KWD in multiples of 0.010 KWD",
        ),
        (
            fixed(100_000_000),
            "price.fixed.amount_minor: 1,000,000.00 USD is above Stripe's maximum charge "
            "of 999,999.99 USD",
        ),
        (
            fixed(49),
            "price.fixed.amount_minor: 0.49 USD is below Stripe's minimum charge of 0.50 USD",
        ),
        (
            custom(100, currency="MXN"),
            "price.custom.minimum_amount_minor: 1.00 MXN is below Stripe's minimum charge "
            "of 10.00 MXN",
        ),
        (
            fixed(1000, currency="IQD"),
            "price.currency: IQD is not a currency Stripe charges in",
        ),
    ],
    ids=["kwd-step", "usd-maximum", "usd-minimum", "mxn-custom-minimum", "iqd-currency"],
)
async def test_a_price_stripe_cannot_charge_says_why_in_its_currency(
    products: ProductStub, prices: PriceStub, tenant, price: products_pb2.Price, says: str
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, price))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert says in error.message


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (metered("0.01"), "price.metered_unit"),
        (fixed(1000, recurring=YEAR), "price.recurring"),
    ],
    ids=["metered", "recurring-override"],
)
async def test_one_time_product_refuses_periodic_prices(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    price: products_pb2.Price,
    field: str,
) -> None:
    product = await new_product(products, tenant, recurring=None)
    before = await price_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(add_price(prices, tenant, product.id, price))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == before


async def test_a_price_on_another_organizations_product_is_not_found(
    products: ProductStub,
    prices: PriceStub,
    catalog_service: RunningService,
    tenant,
    other_tenant,
) -> None:
    theirs = await new_product(products, other_tenant)
    before = await price_rows_and_events(catalog_service, other_tenant.organization_id)
    error = await refusal(add_price(prices, tenant, theirs.id, fixed(1000)))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert await price_rows_and_events(catalog_service, tenant.organization_id) == (0, 0)
    assert await price_rows_and_events(catalog_service, other_tenant.organization_id) == before


async def test_a_malformed_product_id_names_the_field(prices: PriceStub, tenant) -> None:
    error = await refusal(add_price(prices, tenant, "not-a-product", fixed(1000)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["product_id"]


async def test_create_price_with_an_idempotency_key_creates_once(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant)
    request = products_pb2.CreatePriceRequest(product_id=product.id, price=fixed(1200))
    first = await prices.CreatePrice(request, metadata=tenant.metadata("price-1"))
    again = await prices.CreatePrice(request, metadata=tenant.metadata("price-1"))
    assert again == first
    assert (await price_rows_and_events(catalog_service, tenant.organization_id))[0] == 1


async def test_the_products_state_follows_its_prices(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    """A product's event carries its active prices, so adding or archiving a
    price announces the product too: the latest state of the product (what a
    late read copy learns) lists exactly its active prices."""
    product = await new_product(products, tenant)
    added = await add_price(prices, tenant, product.id, fixed(4900))
    await archive(prices, tenant, added.id)
    again = await add_price(prices, tenant, product.id, fixed(5900))

    updates = await published_events(
        servers.nats_url, "billingos.catalog.product.updated", tenant.organization_id, at_least=3
    )
    states = []
    for envelope in updates:
        payload = events_pb2.ProductUpdatedEvent()
        assert envelope.data.Unpack(payload)
        assert list(payload.update_mask.paths) == ["prices"]
        states.append(payload.product)
    assert [[p.id for p in state.prices] for state in states] == [
        [added.id],
        [],
        [again.id],
    ]
    latest = await published_events(
        servers.nats_url, f"billingos.state.catalog.product.{product.id}", tenant.organization_id
    )
    final = events_pb2.ProductUpdatedEvent()
    assert latest[-1].data.Unpack(final)
    assert [p.id for p in final.product.prices] == [again.id]
