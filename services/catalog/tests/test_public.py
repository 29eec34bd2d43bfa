"""The public catalog, found by an organization's slug or id without an API
key. The catalog learns organizations from the customers context's
`organization.created` events; these tests publish them as its relay would
(the customers service itself does not run here)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from billingos.catalog.v1 import products_pb2, products_pb2_grpc, public_pb2, public_pb2_grpc
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.customers.v1 import organizations_pb2
from billingos_kit.clock import FrozenClock
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import call_metadata

PublicStub = public_pb2_grpc.PublicCatalogServiceStub
ProductStub = products_pb2_grpc.ProductServiceStub
PriceStub = products_pb2_grpc.PriceServiceStub

MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
YEAR = products_pb2.Period(interval=products_pb2.INTERVAL_YEAR)
# How long the catalog may take to hear of a new organization (asynchronous consumer).
CONSUMER_DEADLINE_SECONDS = 15.0
PRIVATE_VALUE = "internal-cost-center-7731"


@dataclass(frozen=True)
class Merchant:
    """An organization the customers context has announced."""

    organization_id: uuid.UUID
    slug: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id)


async def new_merchant(servers: SessionServers, clock: FrozenClock, name: str) -> Merchant:
    """Publishes `organization.created` for a new organization, as the
    customers context's relay would."""
    organization_id = uuid.uuid4()
    slug = f"{name.lower().replace(' ', '-')}-{organization_id.hex[:8]}"
    now = timestamp(clock.now())
    organization = organizations_pb2.Organization(
        id=str(organization_id), name=name, slug=slug, create_time=now, update_time=now
    )
    await publish_event(
        servers.nats_url,
        customer_events.OrganizationCreatedEvent(organization=organization),
        organization_id,
    )
    return Merchant(organization_id, slug)


@pytest.fixture
async def merchant(servers: SessionServers, session_clock: FrozenClock) -> Merchant:
    return await new_merchant(servers, session_clock, "Acme Analytics")


@pytest.fixture
async def other_merchant(servers: SessionServers, session_clock: FrozenClock) -> Merchant:
    return await new_merchant(servers, session_clock, "Globex Tools")


def list_request(organization: str) -> public_pb2.ListPublicProductsRequest:
    return public_pb2.ListPublicProductsRequest(organization=organization)


async def public_products(
    public: PublicStub, organization: str
) -> public_pb2.ListPublicProductsResponse:
    """The public listing, once the catalog knows the organization (it learns
    of it asynchronously); no organization metadata, as a browser calls it."""
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while True:
        try:
            return await public.ListPublicProducts(
                list_request(organization), metadata=call_metadata()
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def new_product(
    products: ProductStub, merchant: Merchant, name: str, **extra: object
) -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name=name, **extra)),
        metadata=merchant.metadata(),
    )


def fixed(amount: int, **extra: object) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD", fixed=products_pb2.FixedAmount(amount_minor=amount), **extra
    )


async def test_products_are_listed_by_slug_and_by_id(
    public: PublicStub, products: ProductStub, merchant: Merchant
) -> None:
    pro = await new_product(
        products,
        merchant,
        "Pro",
        description="For growing teams",
        recurring=MONTH,
        trial=products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=14),
        prices=[fixed(2900), fixed(29_000, recurring=YEAR)],
    )
    ebook = await new_product(products, merchant, "Ebook", prices=[fixed(1500)])

    by_slug = await public_products(public, merchant.slug)
    assert [p.id for p in by_slug.products] == [ebook.id, pro.id]
    listed_pro = by_slug.products[1]
    assert listed_pro.name == "Pro"
    assert listed_pro.description == "For growing teams"
    assert listed_pro.recurring == pro.recurring
    assert listed_pro.trial == pro.trial
    assert list(listed_pro.prices) == list(pro.prices)
    assert not by_slug.products[0].HasField("recurring")
    assert by_slug.next_page_token == ""

    by_id = await public_products(public, str(merchant.organization_id))
    assert by_id == by_slug
    assert await public_products(public, merchant.slug.upper()) == by_slug


async def test_archived_products_and_prices_are_absent(
    public: PublicStub, products: ProductStub, prices: PriceStub, merchant: Merchant
) -> None:
    live = await new_product(
        products,
        merchant,
        "Team",
        recurring=MONTH,
        prices=[fixed(4900), fixed(49_000, recurring=YEAR)],
    )
    retired = await new_product(products, merchant, "Legacy", recurring=MONTH)
    await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=retired.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=merchant.metadata(),
    )
    await new_product(products, merchant, "Born archived", archived=True)
    await prices.UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=live.prices[1].id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=merchant.metadata(),
    )

    listing = await public_products(public, merchant.slug)
    assert [p.id for p in listing.products] == [live.id]
    assert [p.id for p in listing.products[0].prices] == [live.prices[0].id]
    assert not any(price.archived for price in listing.products[0].prices)


async def test_private_metadata_never_appears_while_public_metadata_does(
    public: PublicStub, products: ProductStub, merchant: Merchant
) -> None:
    await new_product(
        products,
        merchant,
        "Scale",
        recurring=MONTH,
        metadata={"cost_center": struct_pb2.Value(string_value=PRIVATE_VALUE)},
        public_metadata={"features": struct_pb2.Value(string_value="SSO, audit log")},
        prices=[fixed(9900)],
    )
    listing = await public_products(public, merchant.slug)
    [product] = listing.products
    assert product.public_metadata["features"].string_value == "SSO, audit log"
    assert "metadata" not in public_pb2.PublicProduct.DESCRIPTOR.fields_by_name
    assert PRIVATE_VALUE not in str(listing)
    assert PRIVATE_VALUE.encode() not in listing.SerializeToString()
    assert "cost_center" not in str(listing)


async def test_a_prices_nickname_and_metadata_stay_private_its_lookup_key_does_not(
    public: PublicStub, products: ProductStub, merchant: Merchant
) -> None:
    created = await new_product(
        products,
        merchant,
        "Scale",
        recurring=MONTH,
        prices=[
            fixed(
                9900,
                lookup_key="scale_monthly",
                nickname=f"nick {PRIVATE_VALUE}",
                metadata={"cost_center": struct_pb2.Value(string_value=PRIVATE_VALUE)},
            )
        ],
    )
    assert created.prices[0].nickname == f"nick {PRIVATE_VALUE}"
    listing = await public_products(public, merchant.slug)
    [price] = listing.products[0].prices
    assert price.lookup_key == "scale_monthly"
    assert price.fixed.amount_minor == 9900
    assert price.nickname == ""
    assert not price.metadata
    assert PRIVATE_VALUE.encode() not in listing.SerializeToString()


async def test_an_unknown_organization_is_not_found(public: PublicStub) -> None:
    for organization in ("no-such-merchant-slug", str(uuid.uuid4())):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await public.ListPublicProducts(list_request(organization), metadata=call_metadata())
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_organization_is_required(public: PublicStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await public.ListPublicProducts(list_request("  "), metadata=call_metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["organization"]


async def test_responses_carry_cache_control_and_an_etag_that_follows_the_content(
    public: PublicStub, products: ProductStub, merchant: Merchant
) -> None:
    product = await new_product(products, merchant, "Starter", recurring=MONTH)
    await public_products(public, merchant.slug)

    async def headers() -> dict[str, str]:
        call = public.ListPublicProducts(list_request(merchant.slug), metadata=call_metadata())
        initial = await call.initial_metadata()
        await call
        return {key: value for key, value in initial if isinstance(value, str)}

    first = await headers()
    assert first["cache-control"] == "public, max-age=60"
    etag = first["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert len(etag) > 2
    assert (await headers())["etag"] == etag

    await products.UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=product.id, name="Starter+"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=merchant.metadata(),
    )
    changed = await headers()
    assert changed["etag"] != etag
    assert (await headers())["etag"] == changed["etag"]


async def test_another_organizations_products_never_show(
    public: PublicStub, products: ProductStub, merchant: Merchant, other_merchant: Merchant
) -> None:
    ours = await new_product(products, merchant, "Ours", prices=[fixed(1000)])
    theirs = await new_product(products, other_merchant, "Theirs", prices=[fixed(2000)])

    our_listing = await public_products(public, merchant.slug)
    their_listing = await public_products(public, other_merchant.slug)
    assert [p.id for p in our_listing.products] == [ours.id]
    assert [p.id for p in their_listing.products] == [theirs.id]


async def test_public_listing_pages(
    public: PublicStub, products: ProductStub, merchant: Merchant
) -> None:
    created = [await new_product(products, merchant, f"Plan {n}") for n in range(3)]
    await public_products(public, merchant.slug)
    first = await public.ListPublicProducts(
        public_pb2.ListPublicProductsRequest(organization=merchant.slug, page_size=2),
        metadata=call_metadata(),
    )
    rest = await public.ListPublicProducts(
        public_pb2.ListPublicProductsRequest(
            organization=merchant.slug, page_size=2, page_token=first.next_page_token
        ),
        metadata=call_metadata(),
    )
    assert [p.id for p in [*first.products, *rest.products]] == [p.id for p in reversed(created)]
    assert rest.next_page_token == ""
