"""Prices over time, over gRPC against real Postgres and JetStream: lookup
keys (unique per organization, found by key, moved to a new price in one
call), nickname and metadata, archive and unarchive, tax behaviour fixed
once the price is bought; never an amount."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import events_pb2, products_pb2, products_pb2_grpc, purchases_pb2
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
INCLUSIVE = products_pb2.TAX_BEHAVIOR_INCLUSIVE
EXCLUSIVE = products_pb2.TAX_BEHAVIOR_EXCLUSIVE


def fixed(amount: int = 2900, currency: str = "USD", **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount), **extra
    )


async def new_product(
    products: ProductStub, tenant, *prices: products_pb2.Price
) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(
            product=products_pb2.Product(name="Plan", recurring=MONTH, prices=list(prices))
        ),
        metadata=tenant.metadata(),
    )


async def add_price(
    prices: PriceStub, tenant, product_id: str, price: products_pb2.Price, *, transfer: bool = False
) -> products_pb2.Price:
    return await prices.CreatePrice(
        products_pb2.CreatePriceRequest(
            product_id=product_id, price=price, transfer_lookup_key=transfer
        ),
        metadata=tenant.metadata(),
    )


async def update(
    prices: PriceStub, tenant, price: products_pb2.Price, *paths: str, transfer: bool = False
) -> products_pb2.Price:
    return await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=price,
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
            transfer_lookup_key=transfer,
        ),
        metadata=tenant.metadata(),
    )


async def by_key(prices: PriceStub, tenant, lookup_key: str) -> products_pb2.Price:
    return await prices.GetPriceByLookupKey(
        products_pb2.GetPriceByLookupKeyRequest(lookup_key=lookup_key), metadata=tenant.metadata()
    )


async def get(prices: PriceStub, tenant, price_id: str) -> products_pb2.Price:
    return await prices.GetPrice(
        products_pb2.GetPriceRequest(id=price_id), metadata=tenant.metadata()
    )


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def outbox_count(service: RunningService, organization_id: uuid.UUID) -> int:
    outbox = models.kit_tables.outbox
    found = await scalar(
        service.app.database,
        select(func.count()).select_from(outbox).where(outbox.c.organization_id == organization_id),
    )
    return int(found or 0)


# ---- lookup keys ---------------------------------------------------------------


async def test_a_price_is_found_by_its_lookup_key(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro_monthly"))
    [price] = product.prices
    assert price.lookup_key == "pro_monthly"
    assert await by_key(prices, tenant, "pro_monthly") == price
    missing = await refusal(by_key(prices, tenant, "PRO_MONTHLY"))
    assert missing.code == grpc.StatusCode.NOT_FOUND


async def test_a_duplicate_lookup_key_is_refused_naming_the_field(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro"))
    before = await outbox_count(catalog_service, tenant.organization_id)
    error = await refusal(
        add_price(prices, tenant, product.id, fixed(29_000, recurring=YEAR, lookup_key="pro"))
    )
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "PRICE_LOOKUP_KEY_ALREADY_EXISTS"
    assert error.fields == ["price.lookup_key"]
    assert await outbox_count(catalog_service, tenant.organization_id) == before
    inline = await refusal(
        products.CreateProduct(
            products_pb2.CreateProductRequest(
                product=products_pb2.Product(
                    name="Again", recurring=MONTH, prices=[fixed(1000, "EUR", lookup_key="pro")]
                )
            ),
            metadata=tenant.metadata(),
        )
    )
    assert inline.code == grpc.StatusCode.ALREADY_EXISTS
    assert inline.fields == ["product.prices[0].lookup_key"]


async def test_two_inline_prices_cannot_share_a_lookup_key(products: ProductStub, tenant) -> None:
    error = await refusal(
        new_product(
            products,
            tenant,
            fixed(2900, lookup_key="k"),
            fixed(29_000, recurring=YEAR, lookup_key="k"),
        )
    )
    assert error.fields == ["product.prices[1].lookup_key"]


async def test_another_organization_may_use_the_same_lookup_key(
    products: ProductStub, prices: PriceStub, tenant, other_tenant
) -> None:
    mine = await new_product(products, tenant, fixed(2900, lookup_key="shared"))
    theirs = await new_product(products, other_tenant, fixed(2900, lookup_key="shared"))
    assert (await by_key(prices, tenant, "shared")).id == mine.prices[0].id
    assert (await by_key(prices, other_tenant, "shared")).id == theirs.prices[0].id


@pytest.mark.parametrize("key", ["has space", "ünïcode", "x" * 201, "a/b"])
async def test_a_malformed_lookup_key_is_refused(
    products: ProductStub, prices: PriceStub, tenant, key: str
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, fixed(lookup_key=key)))
    assert error.fields == ["price.lookup_key"]


async def test_a_new_price_takes_the_lookup_key_in_one_call(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro_monthly"))
    old = product.prices[0]
    await update(prices, tenant, products_pb2.Price(id=old.id, archived=True), "archived")
    new = await add_price(
        prices, tenant, product.id, fixed(3900, lookup_key="pro_monthly"), transfer=True
    )
    assert new.lookup_key == "pro_monthly"
    assert (await by_key(prices, tenant, "pro_monthly")).id == new.id
    assert (await get(prices, tenant, old.id)).lookup_key == ""
    updates = await published_events(
        servers.nats_url, "billingos.catalog.price.updated", tenant.organization_id
    )
    payload = events_pb2.PriceUpdatedEvent()
    assert updates[-1].data.Unpack(payload)
    assert payload.price.id == old.id
    assert list(payload.update_mask.paths) == ["lookup_key"]
    assert payload.price.lookup_key == ""


async def test_an_existing_price_takes_the_lookup_key_from_an_active_one(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    holder = await new_product(products, tenant, fixed(2900, lookup_key="featured"))
    other = await new_product(products, tenant, fixed(4900))
    taken = await update(
        prices,
        tenant,
        products_pb2.Price(id=other.prices[0].id, lookup_key="featured"),
        "lookup_key",
        transfer=True,
    )
    assert taken.lookup_key == "featured"
    assert (await get(prices, tenant, holder.prices[0].id)).lookup_key == ""
    # The product that lost it shows its price without the key.
    holder_now = await products.GetProduct(
        products_pb2.GetProductRequest(id=holder.id), metadata=tenant.metadata()
    )
    assert holder_now.prices[0].lookup_key == ""


async def test_without_transfer_a_taken_key_stays_where_it_is(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    holder = await new_product(products, tenant, fixed(2900, lookup_key="featured"))
    other = await new_product(products, tenant, fixed(4900))
    error = await refusal(
        update(
            prices,
            tenant,
            products_pb2.Price(id=other.prices[0].id, lookup_key="featured"),
            "lookup_key",
        )
    )
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.fields == ["price.lookup_key"]
    assert (await by_key(prices, tenant, "featured")).id == holder.prices[0].id


async def test_transfer_needs_a_lookup_key(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant)
    error = await refusal(add_price(prices, tenant, product.id, fixed(), transfer=True))
    assert error.fields == ["transfer_lookup_key"]


# ---- nickname, metadata, archiving ------------------------------------------


async def test_nickname_and_metadata_change_and_are_announced_with_the_mask(
    products: ProductStub,
    prices: PriceStub,
    tenant,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    product = await new_product(products, tenant, fixed(2900, nickname="Launch"))
    price = product.prices[0]
    assert price.nickname == "Launch"
    changed = await update(
        prices,
        tenant,
        products_pb2.Price(
            id=price.id,
            nickname="Pro monthly",
            metadata={"tier": struct_pb2.Value(string_value="pro")},
        ),
        "nickname",
        "metadata",
    )
    assert changed.nickname == "Pro monthly"
    assert changed.metadata["tier"].string_value == "pro"
    assert changed.fixed == price.fixed
    assert changed.update_time.ToDatetime(tzinfo=session_clock.now().tzinfo) == session_clock.now()
    found = await published_events(
        servers.nats_url, "billingos.catalog.price.updated", tenant.organization_id
    )
    payload = events_pb2.PriceUpdatedEvent()
    assert found[-1].data.Unpack(payload)
    assert payload.price == changed
    assert list(payload.update_mask.paths) == ["nickname", "metadata"]
    state = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert state.prices[0] == changed


async def test_an_update_that_changes_nothing_announces_nothing(
    products: ProductStub, prices: PriceStub, catalog_service: RunningService, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900, nickname="Same"))
    before = await outbox_count(catalog_service, tenant.organization_id)
    same = await update(
        prices, tenant, products_pb2.Price(id=product.prices[0].id, nickname="Same"), "nickname"
    )
    assert same == product.prices[0]
    assert await outbox_count(catalog_service, tenant.organization_id) == before


async def test_an_archived_price_can_be_unarchived_and_edited(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    product = await new_product(products, tenant, fixed(2900))
    price = product.prices[0]
    await update(prices, tenant, products_pb2.Price(id=price.id, archived=True), "archived")
    renamed = await update(
        prices, tenant, products_pb2.Price(id=price.id, nickname="Retired"), "nickname"
    )
    assert renamed.archived
    back = await update(prices, tenant, products_pb2.Price(id=price.id, archived=False), "archived")
    assert not back.archived
    assert back.fixed.amount_minor == 2900
    listed = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert [p.id for p in listed.prices] == [price.id]
    found = await published_events(
        servers.nats_url, "billingos.catalog.price.updated", tenant.organization_id
    )
    payload = events_pb2.PriceUpdatedEvent()
    assert found[-1].data.Unpack(payload)
    assert list(payload.update_mask.paths) == ["archived"]
    assert not payload.price.archived


async def test_a_price_of_an_archived_product_cannot_be_unarchived(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900))
    price = product.prices[0]
    await update(prices, tenant, products_pb2.Price(id=price.id, archived=True), "archived")
    await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=product.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )
    error = await refusal(
        update(prices, tenant, products_pb2.Price(id=price.id, archived=False), "archived")
    )
    assert error.reason == "PRODUCT_ARCHIVED"


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("metered_tiers", {"metered_tiers": products_pb2.MeteredTiersAmount(meter_id="x")}),
        ("recurring", {"recurring": YEAR}),
        ("first_use_time", {}),
    ],
)
async def test_amounts_and_what_the_catalog_sets_never_change(
    products: ProductStub, prices: PriceStub, tenant, path: str, change: dict[str, object]
) -> None:
    product = await new_product(products, tenant, fixed(2900))
    error = await refusal(
        update(prices, tenant, products_pb2.Price(id=product.prices[0].id, **change), path)
    )
    assert error.reason == "PRICE_IMMUTABLE"


# ---- tax behaviour -------------------------------------------------------------


async def record_purchase(purchases, tenant, customer_id: str, *price_ids: str) -> object:
    return await purchases.RecordPurchase(
        purchases_pb2.RecordPurchaseRequest(
            purchase=purchases_pb2.Purchase(
                reference=f"sub-{uuid.uuid4()}", customer_id=customer_id, price_ids=list(price_ids)
            )
        ),
        metadata=tenant.metadata(),
    )


async def test_tax_behaviour_is_set_at_creation_and_changes_while_unused(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(
        products, tenant, fixed(2900, tax_behavior=INCLUSIVE), fixed(1000, "EUR")
    )
    inclusive, unspecified = product.prices
    assert inclusive.tax_behavior == INCLUSIVE
    assert unspecified.tax_behavior == products_pb2.TAX_BEHAVIOR_UNSPECIFIED
    changed = await update(
        prices, tenant, products_pb2.Price(id=inclusive.id, tax_behavior=EXCLUSIVE), "tax_behavior"
    )
    assert changed.tax_behavior == EXCLUSIVE
    bad = await refusal(
        update(prices, tenant, products_pb2.Price(id=inclusive.id, tax_behavior=42), "tax_behavior")
    )
    assert bad.fields == ["price.tax_behavior"]


async def test_tax_behaviour_cannot_change_once_the_price_is_used(
    products: ProductStub,
    prices: PriceStub,
    purchases,
    new_customer,
    catalog_service: RunningService,
    tenant,
    session_clock: FrozenClock,
) -> None:
    product = await new_product(products, tenant, fixed(2900, tax_behavior=EXCLUSIVE))
    price = product.prices[0]
    await record_purchase(purchases, tenant, await new_customer(tenant), price.id)
    used = await get(prices, tenant, price.id)
    assert used.first_use_time.ToDatetime(tzinfo=session_clock.now().tzinfo) == session_clock.now()
    before = await outbox_count(catalog_service, tenant.organization_id)
    error = await refusal(
        update(
            prices, tenant, products_pb2.Price(id=price.id, tax_behavior=INCLUSIVE), "tax_behavior"
        )
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "PRICE_USED"
    assert error.fields == ["price.tax_behavior"]
    assert (await get(prices, tenant, price.id)).tax_behavior == EXCLUSIVE
    assert await outbox_count(catalog_service, tenant.organization_id) == before
    # What else a used price accepts still changes.
    renamed = await update(
        prices, tenant, products_pb2.Price(id=price.id, nickname="Sold"), "nickname"
    )
    assert renamed.nickname == "Sold"
    same = await update(
        prices, tenant, products_pb2.Price(id=price.id, tax_behavior=EXCLUSIVE), "tax_behavior"
    )
    assert same.tax_behavior == EXCLUSIVE


# ---- replacing a price in one call ---------------------------------------------------


async def test_a_new_static_price_replaces_the_one_whose_key_it_takes(
    products: ProductStub, prices: PriceStub, tenant, servers: SessionServers
) -> None:
    """Changing an amount is one call: the new static price of the same
    currency and period takes the key, and the old one is archived with it
    (both changes announced)."""
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro_monthly"))
    old = product.prices[0]
    new = await add_price(
        prices, tenant, product.id, fixed(3900, lookup_key="pro_monthly"), transfer=True
    )
    assert (await by_key(prices, tenant, "pro_monthly")).id == new.id
    was = await get(prices, tenant, old.id)
    assert was.archived
    assert was.lookup_key == ""
    now = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert [price.id for price in now.prices] == [new.id]
    archived = await published_events(
        servers.nats_url, "billingos.catalog.price.archived", tenant.organization_id
    )
    payload = events_pb2.PriceArchivedEvent()
    assert archived[-1].data.Unpack(payload)
    assert payload.price.id == old.id
    assert payload.price.lookup_key == ""
    updated = await published_events(
        servers.nats_url, "billingos.catalog.price.updated", tenant.organization_id
    )
    change = events_pb2.PriceUpdatedEvent()
    assert updated[-1].data.Unpack(change)
    assert (change.price.id, list(change.update_mask.paths)) == (old.id, ["lookup_key"])


async def test_a_key_from_another_currencys_price_moves_without_archiving_it(
    products: ProductStub, prices: PriceStub, tenant
) -> None:
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro"))
    new = await add_price(
        prices, tenant, product.id, fixed(2700, "EUR", lookup_key="pro"), transfer=True
    )
    assert (await by_key(prices, tenant, "pro")).id == new.id
    assert not (await get(prices, tenant, product.prices[0].id)).archived


@pytest.mark.parametrize("failure", ["invalid", "static-price-exists"])
async def test_a_replacement_that_fails_changes_nothing(
    products: ProductStub,
    prices: PriceStub,
    tenant,
    catalog_service: RunningService,
    failure: str,
) -> None:
    """Refused before anything is written (a bad amount), or after the key
    was taken (another static EUR price is there): either way the old price
    keeps its key and stays active, and nothing is announced."""
    product = await new_product(products, tenant, fixed(2900, lookup_key="pro"), fixed(2700, "EUR"))
    events_before = await outbox_count(catalog_service, tenant.organization_id)
    draft = (
        fixed(0, lookup_key="pro") if failure == "invalid" else fixed(2500, "EUR", lookup_key="pro")
    )
    error = await refusal(add_price(prices, tenant, product.id, draft, transfer=True))
    assert error.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
    kept = await by_key(prices, tenant, "pro")
    assert kept.id == product.prices[0].id
    assert not kept.archived
    assert await outbox_count(catalog_service, tenant.organization_id) == events_before


async def test_replacing_and_archiving_the_old_price_at_once_never_deadlock(
    products: ProductStub, prices: PriceStub, purchases, new_customer, tenant
) -> None:
    """Every path locks products before prices: a create with transfer (the
    product, then the old price), an archive of the old price and a purchase
    of it at the same moment take turns; none is aborted."""
    customer_id = await new_customer(tenant)
    for round_ in range(5):
        key = f"plan-{round_}"
        product = await new_product(products, tenant, fixed(2900, lookup_key=key))
        old = product.prices[0]
        outcomes = await asyncio.gather(
            add_price(prices, tenant, product.id, fixed(3900, lookup_key=key), transfer=True),
            update(prices, tenant, products_pb2.Price(id=old.id, archived=True), "archived"),
            record_purchase(purchases, tenant, customer_id, old.id),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert not failures, [
            call_error(f) if isinstance(f, grpc.aio.AioRpcError) else f for f in failures
        ]
        assert (await get(prices, tenant, old.id)).archived
        assert (await by_key(prices, tenant, key)).id == outcomes[0].id
