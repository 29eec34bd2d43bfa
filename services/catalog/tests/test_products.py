"""Products over gRPC against real Postgres and JetStream."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import func, select

from billingos.catalog.v1 import events_pb2, products_pb2
from billingos_catalog import models
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
YEAR = products_pb2.Period(interval=products_pb2.INTERVAL_YEAR)


def fixed(amount: int, currency: str = "USD", **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount), **extra
    )


def pro_plan(**extra: object) -> products_pb2.CreateProductRequest:
    values: dict[str, object] = {
        "name": "Pro",
        "description": "For growing teams",
        "recurring": MONTH,
        "prices": [fixed(2900), fixed(29000, recurring=YEAR), fixed(2700, "EUR")],
    }
    values.update(extra)
    return products_pb2.CreateProductRequest(product=products_pb2.Product(**values))


async def counts(service: RunningService, organization_id: uuid.UUID) -> tuple[int, int, int]:
    """How many products, prices and outbox events the organization has."""
    outbox = models.kit_tables.outbox
    found = []
    for table, column in (
        (models.products, models.products.c.organization_id),
        (models.prices, models.prices.c.organization_id),
        (outbox, outbox.c.organization_id),
    ):
        statement = select(func.count()).select_from(table).where(column == organization_id)
        found.append(int(await scalar(service.app.database, statement) or 0))
    return found[0], found[1], found[2]


async def test_product_with_a_monthly_and_a_yearly_price(products, tenant) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    assert created.recurring.interval == products_pb2.INTERVAL_MONTH
    assert created.recurring.count == 1
    intervals = [(p.currency, p.recurring.interval, p.fixed.amount_minor) for p in created.prices]
    assert intervals == [
        ("USD", products_pb2.INTERVAL_MONTH, 2900),
        ("USD", products_pb2.INTERVAL_YEAR, 29000),
        ("EUR", products_pb2.INTERVAL_MONTH, 2700),
    ]
    fetched = await products.GetProduct(
        products_pb2.GetProductRequest(id=created.id), metadata=tenant.metadata()
    )
    assert fetched == created


async def test_create_publishes_the_product_and_each_price(
    products, tenant, servers: SessionServers
) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    product_events = await published_events(
        servers.nats_url, "billingos.catalog.product.created", tenant.organization_id
    )
    payload = events_pb2.ProductCreatedEvent()
    assert product_events[0].data.Unpack(payload)
    assert payload.product == created
    price_events = await published_events(
        servers.nats_url, "billingos.catalog.price.created", tenant.organization_id, at_least=3
    )
    assert len(price_events) == 3


async def test_one_bad_inline_price_leaves_nothing_behind(
    products, catalog_service: RunningService, tenant
) -> None:
    request = pro_plan(prices=[fixed(2900), fixed(0)])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.CreateProduct(request, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["product.prices[1].fixed.amount_minor"]
    assert await counts(catalog_service, tenant.organization_id) == (0, 0, 0)


async def test_an_inline_price_stripe_cannot_charge_leaves_nothing_behind(
    products, catalog_service: RunningService, tenant
) -> None:
    # 1.005 KWD: Stripe takes three-decimal currencies with the last digit 0.
    request = pro_plan(prices=[fixed(2900), fixed(1005, currency="KWD")])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.CreateProduct(request, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["product.prices[1].fixed.amount_minor"]
    assert await counts(catalog_service, tenant.organization_id) == (0, 0, 0)


@pytest.mark.parametrize(
    ("product", "field"),
    [
        (products_pb2.Product(name=""), "product.name"),
        (products_pb2.Product(name="x" * 257), "product.name"),
        (products_pb2.Product(name="ok", description="d" * 5001), "product.description"),
        (
            products_pb2.Product(name="ok", trial=products_pb2.Period(interval=2)),
            "product.trial",
        ),
        (
            products_pb2.Product(name="ok", recurring=products_pb2.Period(interval=0)),
            "product.recurring.interval",
        ),
        (
            products_pb2.Product(name="ok", recurring=products_pb2.Period(interval=99)),
            "product.recurring.interval",
        ),
        (
            products_pb2.Product(name="ok", recurring=products_pb2.Period(interval=3, count=400)),
            "product.recurring.count",
        ),
        (
            products_pb2.Product(
                name="ok", metadata={"x": struct_pb2.Value(list_value=struct_pb2.ListValue())}
            ),
            "product.metadata.x",
        ),
    ],
)
async def test_bad_products_name_the_field(
    products, catalog_service: RunningService, tenant, product, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.CreateProduct(
            products_pb2.CreateProductRequest(product=product), metadata=tenant.metadata()
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.fields
    assert await counts(catalog_service, tenant.organization_id) == (0, 0, 0)


async def test_one_time_product_with_a_trial_is_refused(products, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.CreateProduct(
            products_pb2.CreateProductRequest(
                product=products_pb2.Product(
                    name="Ebook", trial=products_pb2.Period(interval=products_pb2.INTERVAL_DAY)
                )
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).fields == ["product.trial"]


async def test_list_filters_and_pages(products, tenant) -> None:
    monthly = await products.CreateProduct(pro_plan(name="Team"), metadata=tenant.metadata())
    one_time = await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name="Lifetime deal")),
        metadata=tenant.metadata(),
    )
    archived = await products.CreateProduct(
        pro_plan(name="Old team plan", archived=True), metadata=tenant.metadata()
    )

    async def ids(**filters: object) -> list[str]:
        page = await products.ListProducts(
            products_pb2.ListProductsRequest(**filters), metadata=tenant.metadata()
        )
        return [p.id for p in page.products]

    from google.protobuf import wrappers_pb2

    assert await ids() == [archived.id, one_time.id, monthly.id]
    assert await ids(archived=wrappers_pb2.BoolValue(value=False)) == [one_time.id, monthly.id]
    assert await ids(archived=wrappers_pb2.BoolValue(value=True)) == [archived.id]
    assert await ids(recurring=wrappers_pb2.BoolValue(value=False)) == [one_time.id]
    assert await ids(query="TEAM") == [archived.id, monthly.id]
    assert await ids(query="%") == []
    assert await ids(query="_") == []
    assert await ids(query="team plan") == [archived.id]
    first = await products.ListProducts(
        products_pb2.ListProductsRequest(page_size=2), metadata=tenant.metadata()
    )
    rest = await products.ListProducts(
        products_pb2.ListProductsRequest(page_size=2, page_token=first.next_page_token),
        metadata=tenant.metadata(),
    )
    assert [p.id for p in [*first.products, *rest.products]] == [
        archived.id,
        one_time.id,
        monthly.id,
    ]
    assert rest.next_page_token == ""


async def test_update_masked_fields_and_archive(products, tenant, servers: SessionServers) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    renamed = await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(
                id=created.id,
                name="Pro+",
                description="ignored",
                trial=products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=14),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "trial"]),
        ),
        metadata=tenant.metadata(),
    )
    assert renamed.name == "Pro+"
    assert renamed.description == created.description
    assert renamed.trial.count == 14
    archived = await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=created.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=tenant.metadata(),
    )
    assert archived.archived
    updated_events = await published_events(
        servers.nats_url, "billingos.catalog.product.updated", tenant.organization_id
    )
    payload = events_pb2.ProductUpdatedEvent()
    assert updated_events[0].data.Unpack(payload)
    assert list(payload.update_mask.paths) == ["name", "trial"]
    archived_events = await published_events(
        servers.nats_url, "billingos.catalog.product.archived", tenant.organization_id
    )
    assert len(archived_events) == 1


@pytest.mark.parametrize(
    ("path", "field"), [("recurring", "product.recurring"), ("prices", "product.prices")]
)
async def test_fixed_product_fields_cannot_be_updated(
    products, tenant, path: str, field: str
) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.UpdateProduct(
            products_pb2.UpdateProductRequest(
                product=products_pb2.Product(id=created.id, recurring=YEAR),
                update_mask=field_mask_pb2.FieldMask(paths=[path]),
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).fields == [field]


async def test_another_organizations_product_is_not_found(products, tenant, other_tenant) -> None:
    theirs = await products.CreateProduct(pro_plan(), metadata=other_tenant.metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.GetProduct(
            products_pb2.GetProductRequest(id=theirs.id), metadata=tenant.metadata()
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as refused_update:
        await products.UpdateProduct(
            products_pb2.UpdateProductRequest(
                product=products_pb2.Product(id=theirs.id, name="mine now"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=tenant.metadata(),
        )
    assert refused_update.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_with_an_idempotency_key_creates_once(
    products, catalog_service: RunningService, tenant
) -> None:
    first = await products.CreateProduct(pro_plan(), metadata=tenant.metadata("product-1"))
    again = await products.CreateProduct(pro_plan(), metadata=tenant.metadata("product-1"))
    assert again == first
    assert (await counts(catalog_service, tenant.organization_id))[:2] == (1, 3)


async def test_without_a_mask_a_changed_billing_period_is_refused(products, tenant) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await products.UpdateProduct(
            products_pb2.UpdateProductRequest(
                product=products_pb2.Product(id=created.id, name="Pro", recurring=YEAR)
            ),
            metadata=tenant.metadata(),
        )
    assert call_error(refused.value).fields == ["product.recurring"]


async def test_sending_back_the_whole_product_renamed_updates_only_the_name(
    products, tenant
) -> None:
    created = await products.CreateProduct(pro_plan(), metadata=tenant.metadata())
    echoed = products_pb2.Product()
    echoed.CopyFrom(created)
    echoed.name = "Pro 2"
    updated = await products.UpdateProduct(
        products_pb2.UpdateProductRequest(product=echoed), metadata=tenant.metadata()
    )
    assert updated.name == "Pro 2"
    assert updated.prices == created.prices
