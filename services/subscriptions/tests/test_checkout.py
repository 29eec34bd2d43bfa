"""Checkout links and sessions through the service's gRPC API (the merchant's
as an internal caller, the public calls as the gateway forwards an
anonymous browser's), with the real catalog answering for products, prices
and discounts: links made, read, listed, updated and refused; sessions from
a link and from products whose totals are the first order's to the cent;
the customer's changes quoted anew; the refusals the issue names (a code
not allowed, a price archived after the link, an expired or completed
session); tenancy; the expiry sweep; and the client secret, shown once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import select, update

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.common.v1 import address_pb2, event_pb2
from billingos.subscriptions.v1 import (
    checkout_pb2,
    checkout_pb2_grpc,
    events_pb2,
    orders_pb2,
    public_checkout_pb2,
    public_checkout_pb2_grpc,
    subscriptions_pb2,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.errors import TooManyRequests
from billingos_kit.protoconv import timestamp
from billingos_kit.repository import OnConnection
from billingos_kit.testing.db import execute, rows, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import call_metadata, gateway_metadata
from billingos_kit.testing.waiting import eventually
from billingos_kit.validation import Violations
from billingos_subscriptions import models
from billingos_subscriptions.checkout import check_success_url
from billingos_subscriptions.checkout_expiry import CheckoutExpiry
from billingos_subscriptions.checkout_limits import CheckoutOpenLimits
from billingos_subscriptions.models import TaxRateCopy, kit_tables
from billingos_subscriptions.repository import TaxRateCopies

from .conftest import PUBLIC_BASE_URL, Shop, fixed_price, outbox_types, refused

SUCCESS_URL = "https://shop.example.com/thanks?session={CHECKOUT_SESSION_ID}"
YEAR = products_pb2.Period(interval=products_pb2.INTERVAL_YEAR)


# ---- helpers ------------------------------------------------------------------


def link_service(shop: Shop) -> Any:
    return checkout_pb2_grpc.CheckoutLinkServiceStub(shop.service.channel)


def session_service(shop: Shop) -> Any:
    return checkout_pb2_grpc.CheckoutSessionServiceStub(shop.service.channel)


def public(shop: Shop) -> Any:
    return public_checkout_pb2_grpc.PublicCheckoutServiceStub(shop.service.channel)


def anonymous() -> tuple[tuple[str, str], ...]:
    """A browser's call as the gateway forwards it: no API key."""
    return gateway_metadata(None)


def yearly_price(amount_minor: int) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD", recurring=YEAR, fixed=products_pb2.FixedAmount(amount_minor=amount_minor)
    )


async def make_link(shop: Shop, *product_ids: str, **fields: Any) -> checkout_pb2.CheckoutLink:
    fields.setdefault("success_url", SUCCESS_URL)
    made: checkout_pb2.CheckoutLink = await link_service(shop).CreateCheckoutLink(
        checkout_pb2.CreateCheckoutLinkRequest(
            checkout_link=checkout_pb2.CheckoutLink(product_ids=list(product_ids), **fields)
        ),
        metadata=shop.metadata,
    )
    return made


async def make_session(shop: Shop, **fields: Any) -> checkout_pb2.CheckoutSession:
    made: checkout_pb2.CheckoutSession = await session_service(shop).CreateCheckoutSession(
        checkout_pb2.CreateCheckoutSessionRequest(
            checkout_session=checkout_pb2.CheckoutSession(**fields)
        ),
        metadata=shop.metadata,
    )
    return made


async def open_public(
    shop: Shop, link: checkout_pb2.CheckoutLink, **fields: Any
) -> public_checkout_pb2.PublicCheckoutSession:
    made: public_checkout_pb2.PublicCheckoutSession = await public(
        shop
    ).CreatePublicCheckoutSession(
        public_checkout_pb2.CreatePublicCheckoutSessionRequest(
            organization=str(shop.organization_id),
            checkout_link_id=link.id,
            checkout_session=public_checkout_pb2.PublicCheckoutSession(**fields),
        ),
        metadata=anonymous(),
    )
    return made


async def patch(
    shop: Shop, client_secret: str, *paths: str, **fields: Any
) -> public_checkout_pb2.PublicCheckoutSession:
    changed: public_checkout_pb2.PublicCheckoutSession = await public(
        shop
    ).UpdatePublicCheckoutSession(
        public_checkout_pb2.UpdatePublicCheckoutSessionRequest(
            client_secret=client_secret,
            checkout_session=public_checkout_pb2.PublicCheckoutSession(**fields),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        ),
        metadata=anonymous(),
    )
    return changed


async def discount(shop: Shop, code: str, basis_points: int) -> discounts_pb2.Discount:
    return await shop.discount(
        discounts_pb2.Discount(
            name=code,
            code=f"{code}{uuid.uuid4().hex[:6]}",
            percent_off=discounts_pb2.Discount.PercentOff(basis_points=basis_points),
            duration=discounts_pb2.DISCOUNT_DURATION_FOREVER,
        )
    )


async def customer_in(shop: Shop, country: str) -> str:
    """A customer whose billing address is in `country` (the engine's copy)."""
    customer_id = await shop.customer()
    await execute(
        shop.database,
        update(models.customers)
        .where(models.customers.c.id == uuid.UUID(customer_id))
        .values(country=country, region=""),
    )
    return customer_id


async def tax_rate(shop: Shop, country: str, percentage: str) -> None:
    """The organization's rate for `country`, in the engine's copy."""
    async with shop.database.transaction() as connection:
        await TaxRateCopies(OnConnection(connection, shop.organization_id)).remember(
            TaxRateCopy(
                uuid.uuid4(),
                shop.organization_id,
                country,
                "",
                percentage,
                False,
                None,
                shop.clock.now(),
            )
        )


async def envelopes(shop: Shop) -> list[event_pb2.EventEnvelope]:
    outbox = kit_tables.outbox
    found = await rows(
        shop.database,
        select(outbox.c.envelope)
        .where(outbox.c.organization_id == shop.organization_id)
        .order_by(outbox.c.sequence),
    )
    return [event_pb2.EventEnvelope.FromString(record[0]) for record in found]


async def archive_price(shop: Shop, price_id: str) -> None:
    shop.clock.advance(dt.timedelta(seconds=1))  # copies keep only newer states
    await shop.prices().UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=price_id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=shop.metadata,
    )


async def copied_price(shop: Shop, price_id: str, *, archived: bool) -> None:
    """Waits until the engine's read copy of the price is as the catalog says."""

    async def check() -> bool | None:
        found = await scalar(
            shop.database,
            select(models.prices.c.archived).where(models.prices.c.id == uuid.UUID(price_id)),
        )
        return True if found is archived else None

    await eventually(check)


async def expiries_of(shop: Shop, session_id: str) -> int:
    """How many `checkout.expired` events announce the session."""
    found = 0
    for envelope in await envelopes(shop):
        if envelope.type == "checkout.expired":
            event = events_pb2.CheckoutExpiredEvent()
            envelope.data.Unpack(event)
            found += event.checkout_session.id == session_id
    return found


def public_fields() -> set[str]:
    return {f.name for f in public_checkout_pb2.PublicCheckoutSession.DESCRIPTOR.fields}


# ---- links --------------------------------------------------------------------


async def test_a_link_is_created_read_listed_and_updated(shop: Shop) -> None:
    pro = await shop.product(fixed_price(2900), yearly_price(29000), name="Pro")
    team = await shop.product(fixed_price(9900), name="Team")
    code = await discount(shop, "LAUNCH", 1000)
    metadata = {"campaign": struct_pb2.Value(string_value="spring")}
    made = await make_link(
        shop,
        pro.id,
        team.id,
        allowed_discount_ids=[code.id],
        trial=products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=7),
        metadata=metadata,
    )
    assert made.url == f"{PUBLIC_BASE_URL}/checkout/{shop.organization_id}/{made.id}"
    assert list(made.product_ids) == [pro.id, team.id]
    assert list(made.allowed_discount_ids) == [code.id]
    assert made.trial.count == 7
    assert not made.archived
    assert made.metadata["campaign"].string_value == "spring"

    got = await link_service(shop).GetCheckoutLink(
        checkout_pb2.GetCheckoutLinkRequest(id=made.id), metadata=shop.metadata
    )
    assert got == made

    shop.clock.advance(dt.timedelta(seconds=1))
    second = await make_link(shop, team.id)
    first_page = await link_service(shop).ListCheckoutLinks(
        checkout_pb2.ListCheckoutLinksRequest(page_size=1), metadata=shop.metadata
    )
    assert [link.id for link in first_page.checkout_links] == [second.id]  # newest first
    second_page = await link_service(shop).ListCheckoutLinks(
        checkout_pb2.ListCheckoutLinksRequest(page_size=1, page_token=first_page.next_page_token),
        metadata=shop.metadata,
    )
    assert [link.id for link in second_page.checkout_links] == [made.id]
    assert second_page.next_page_token == ""

    updated = await link_service(shop).UpdateCheckoutLink(
        checkout_pb2.UpdateCheckoutLinkRequest(
            checkout_link=checkout_pb2.CheckoutLink(
                id=made.id, success_url="https://shop.example.com/welcome", archived=True
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["success_url", "archived", "trial"]),
        ),
        metadata=shop.metadata,
    )
    assert updated.archived
    assert updated.success_url == "https://shop.example.com/welcome"
    assert not updated.HasField("trial")  # masked and unset: no override any more
    assert list(updated.product_ids) == [pro.id, team.id]  # not masked: unchanged

    # Without a mask: the fields set (here: metadata only).
    again = await link_service(shop).UpdateCheckoutLink(
        checkout_pb2.UpdateCheckoutLinkRequest(
            checkout_link=checkout_pb2.CheckoutLink(
                id=made.id, metadata={"campaign": struct_pb2.Value(string_value="summer")}
            )
        ),
        metadata=shop.metadata,
    )
    assert again.archived
    assert again.metadata["campaign"].string_value == "summer"

    types = await outbox_types(shop.database, shop.organization_id)
    assert types.count("checkout_link.created") == 2
    assert types.count("checkout_link.updated") == 2
    changes = [event for event in await envelopes(shop) if event.type == "checkout_link.updated"]
    first_change = events_pb2.CheckoutLinkUpdatedEvent()
    changes[0].data.Unpack(first_change)
    assert sorted(first_change.update_mask.paths) == ["archived", "success_url", "trial"]
    assert first_change.checkout_link.url == made.url


async def test_a_bad_link_is_refused_naming_the_field(shop: Shop, other_shop: Shop) -> None:
    product = await shop.product()
    theirs = await other_shop.product()
    archived = await shop.product(name="Old")
    await shop.products().UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=archived.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=shop.metadata,
    )
    their_discount = await discount(other_shop, "THEIRS", 500)

    foreign = await refused(make_link(shop, product.id, theirs.id))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")
    gone = await refused(make_link(shop, archived.id))
    assert (gone.code, gone.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PRODUCT_ARCHIVED")
    assert "checkout_link.product_ids[0]" in gone.message
    not_ours = await refused(make_link(shop, product.id, allowed_discount_ids=[their_discount.id]))
    assert (not_ours.code, not_ours.reason) == (grpc.StatusCode.NOT_FOUND, "DISCOUNT_NOT_FOUND")

    for url in (
        "http://shop.example.com/thanks",  # plain http
        "http://127.0.0.1:3000/thanks",  # loopback: only where the deployment allows it
        "ftp://shop.example.com/",
        "/thanks",
        "https://user:secret@shop.example.com/",
        "https://shop.example.com/a b",
        "",
    ):
        bad = await refused(make_link(shop, product.id, success_url=url))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT, url
        assert bad.fields == ["checkout_link.success_url"], url

    too_many = await refused(make_link(shop, *[str(uuid.uuid4()) for _ in range(11)]))
    assert too_many.fields == ["checkout_link.product_ids"]
    none = await refused(make_link(shop))
    assert none.fields == ["checkout_link.product_ids"]
    twice = await refused(make_link(shop, product.id, product.id))
    assert twice.fields == ["checkout_link.product_ids[1]"]
    not_an_id = await refused(make_link(shop, "pro"))
    assert not_an_id.fields == ["checkout_link.product_ids[0]"]
    both = await refused(
        make_link(
            shop,
            product.id,
            trial=products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=7),
            skip_trial=True,
        )
    )
    assert both.fields == ["checkout_link.trial"]

    made = await make_link(shop, product.id)
    unknown_path = await refused(
        link_service(shop).UpdateCheckoutLink(
            checkout_pb2.UpdateCheckoutLinkRequest(
                checkout_link=checkout_pb2.CheckoutLink(id=made.id, url="https://elsewhere"),
                update_mask=field_mask_pb2.FieldMask(paths=["url"]),
            ),
            metadata=shop.metadata,
        )
    )
    assert unknown_path.fields == ["update_mask"]
    emptied = await refused(
        link_service(shop).UpdateCheckoutLink(
            checkout_pb2.UpdateCheckoutLinkRequest(
                checkout_link=checkout_pb2.CheckoutLink(id=made.id),
                update_mask=field_mask_pb2.FieldMask(paths=["product_ids"]),
            ),
            metadata=shop.metadata,
        )
    )
    assert emptied.fields == ["checkout_link.product_ids"]
    assert await outbox_types(shop.database, shop.organization_id) == ["checkout_link.created"]


def test_plain_http_to_a_loopback_host_only_where_the_deployment_allows_it() -> None:
    def problems(url: str, allowed: bool) -> list[str]:
        violations = Violations()
        check_success_url(violations, "success_url", url, loopback_http_allowed=allowed)
        return [v.description for v in violations.found]

    for url in ("http://127.0.0.1:5173/done", "http://localhost/done", "http://[::1]:8080/x"):
        assert problems(url, True) == []
        assert problems(url, False) == ["must be https (this deployment takes no plain http)"]
    assert problems("http://example.com/done", True) == [
        "must be https (plain http only to a loopback host)"
    ]
    assert problems("https://example.com/done?id={CHECKOUT_SESSION_ID}", False) == []
    assert problems("https://example.com:99999/", False) == ["must be a URL"]


# ---- tenancy --------------------------------------------------------------------


async def test_another_organizations_links_and_sessions_are_not_found(
    shop: Shop, other_shop: Shop
) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    session = await make_session(shop, checkout_link_id=link.id)

    for call in (
        link_service(other_shop).GetCheckoutLink(
            checkout_pb2.GetCheckoutLinkRequest(id=link.id), metadata=other_shop.metadata
        ),
        link_service(other_shop).UpdateCheckoutLink(
            checkout_pb2.UpdateCheckoutLinkRequest(
                checkout_link=checkout_pb2.CheckoutLink(id=link.id, archived=True)
            ),
            metadata=other_shop.metadata,
        ),
        make_session(other_shop, checkout_link_id=link.id),
    ):
        error = await refused(call)
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CHECKOUT_LINK_NOT_FOUND")
    for call in (
        session_service(other_shop).GetCheckoutSession(
            checkout_pb2.GetCheckoutSessionRequest(id=session.id), metadata=other_shop.metadata
        ),
        session_service(other_shop).ExpireCheckoutSession(
            checkout_pb2.ExpireCheckoutSessionRequest(id=session.id), metadata=other_shop.metadata
        ),
    ):
        error = await refused(call)
        assert (error.code, error.reason) == (
            grpc.StatusCode.NOT_FOUND,
            "CHECKOUT_SESSION_NOT_FOUND",
        )
    listed = await session_service(other_shop).ListCheckoutSessions(
        checkout_pb2.ListCheckoutSessionsRequest(), metadata=other_shop.metadata
    )
    assert list(listed.checkout_sessions) == []

    # A link id under another organization's id: not found, not a redirect.
    for call in (
        public(shop).GetPublicCheckoutLink(
            public_checkout_pb2.GetPublicCheckoutLinkRequest(
                organization=str(other_shop.organization_id), id=link.id
            ),
            metadata=anonymous(),
        ),
        public(shop).CreatePublicCheckoutSession(
            public_checkout_pb2.CreatePublicCheckoutSessionRequest(
                organization=str(other_shop.organization_id), checkout_link_id=link.id
            ),
            metadata=anonymous(),
        ),
    ):
        error = await refused(call)
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CHECKOUT_LINK_NOT_FOUND")
    # A session of another organization's products: its product is not found.
    theirs = await other_shop.product()
    error = await refused(make_session(shop, product_ids=[theirs.id], success_url=SUCCESS_URL))
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")
    # Nor another organization's customer.
    their_customer = await other_shop.customer()
    error = await refused(make_session(shop, checkout_link_id=link.id, customer_id=their_customer))
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_NOT_FOUND")


# ---- sessions -------------------------------------------------------------------


async def test_a_session_opens_from_a_link_or_from_products(shop: Shop) -> None:
    pro = await shop.product(fixed_price(2900), yearly_price(29000), name="Pro")
    team = await shop.product(fixed_price(9900), name="Team")
    link = await make_link(shop, pro.id, team.id)
    monthly, yearly = pro.prices[0], pro.prices[1]

    from_link = await make_session(shop, checkout_link_id=link.id)
    assert from_link.status == checkout_pb2.CHECKOUT_SESSION_STATUS_OPEN
    assert from_link.client_secret.startswith("bcx_")
    assert from_link.url == f"{PUBLIC_BASE_URL}/checkout/session/{from_link.client_secret}"
    assert list(from_link.product_ids) == [pro.id, team.id]
    assert from_link.price_id == monthly.id  # the first product's first active price
    assert from_link.success_url == SUCCESS_URL
    assert (from_link.totals.currency, from_link.totals.total_minor) == ("USD", 2900)
    assert from_link.totals.amount_due_now_minor == 2900
    [line] = from_link.totals.lines
    assert (line.price_id, line.amount_minor, line.description) == (monthly.id, 2900, "Pro")
    expires = from_link.expire_time.ToDatetime(tzinfo=dt.UTC)
    assert expires == shop.clock.now() + dt.timedelta(hours=24)

    customer_id = await shop.customer()
    from_products = await make_session(
        shop,
        product_ids=[team.id, pro.id],
        price_id=yearly.id,
        customer_id=customer_id,
        customer_email="ada@example.com",
        success_url="https://shop.example.com/done",
        expire_time=timestamp(shop.clock.now() + dt.timedelta(minutes=45)),
        metadata={"order": struct_pb2.Value(string_value="A-1")},
    )
    assert from_products.checkout_link_id == ""
    assert (from_products.price_id, from_products.totals.total_minor) == (yearly.id, 29000)
    assert from_products.customer_id == customer_id
    assert from_products.customer_email == "ada@example.com"

    for fields, field in (
        ({"checkout_link_id": link.id, "product_ids": [pro.id]}, "checkout_session.product_ids"),
        ({"product_ids": [pro.id]}, "checkout_session.success_url"),
        (
            {
                "checkout_link_id": link.id,
                "expire_time": timestamp(shop.clock.now() + dt.timedelta(minutes=10)),
            },
            "checkout_session.expire_time",
        ),
        (
            {
                "checkout_link_id": link.id,
                "expire_time": timestamp(shop.clock.now() + dt.timedelta(hours=25)),
            },
            "checkout_session.expire_time",
        ),
        (
            {"checkout_link_id": link.id, "customer_email": "nobody"},
            "checkout_session.customer_email",
        ),
        (
            {
                "checkout_link_id": link.id,
                "billing_address": address_pb2.Address(country="XX"),
            },
            "checkout_session.billing_address.country",
        ),
    ):
        error = await refused(make_session(shop, **fields))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert error.fields == [field], fields
    a_price_of_another_product = await shop.product(fixed_price(100), name="Other")
    error = await refused(
        make_session(
            shop, checkout_link_id=link.id, price_id=a_price_of_another_product.prices[0].id
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "PRICE_NOT_FOUND")

    got = await session_service(shop).GetCheckoutSession(
        checkout_pb2.GetCheckoutSessionRequest(id=from_products.id), metadata=shop.metadata
    )
    assert got.metadata["order"].string_value == "A-1"
    assert got.client_secret == ""
    assert got.url == ""
    by_link = await session_service(shop).ListCheckoutSessions(
        checkout_pb2.ListCheckoutSessionsRequest(checkout_link_id=link.id), metadata=shop.metadata
    )
    assert [s.id for s in by_link.checkout_sessions] == [from_link.id]
    by_customer = await session_service(shop).ListCheckoutSessions(
        checkout_pb2.ListCheckoutSessionsRequest(customer_id=customer_id), metadata=shop.metadata
    )
    assert [s.id for s in by_customer.checkout_sessions] == [from_products.id]
    open_ones = await session_service(shop).ListCheckoutSessions(
        checkout_pb2.ListCheckoutSessionsRequest(status=checkout_pb2.CHECKOUT_SESSION_STATUS_OPEN),
        metadata=shop.metadata,
    )
    assert [s.id for s in open_ones.checkout_sessions] == [from_products.id, from_link.id]
    assert all(not s.client_secret and not s.url for s in open_ones.checkout_sessions)
    types = await outbox_types(shop.database, shop.organization_id)
    assert types.count("checkout.created") == 2


async def test_the_quote_is_the_first_orders_total_to_the_cent(shop: Shop) -> None:
    """The same price, discount code and customer (taxed by its own German
    address): the session's totals and the subscription's first order agree
    line by line."""
    product = await shop.product(fixed_price(1999), name="Pro")
    price = product.prices[0]
    code = await discount(shop, "SAVE", 1250)  # 12.5 %: a half cent to round
    await tax_rate(shop, "DE", "19")
    customer_id = await customer_in(shop, "DE")
    link = await make_link(shop, product.id, allowed_discount_ids=[code.id])

    session = await make_session(
        shop,
        checkout_link_id=link.id,
        customer_id=customer_id,
        discount_code=code.code.lower(),  # codes are case-insensitive
    )
    totals = session.totals
    assert session.discount_id == code.id
    assert totals.tax_rate_percent == "19"
    assert (totals.subtotal_minor, totals.discount_minor) == (1999, 250)
    assert totals.tax_minor == 332  # (1999 - 250) × 19 % = 332.31
    assert totals.total_minor == 1999 - 250 + 332

    subscription = await shop.create(
        subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=customer_id, product_id=product.id, price_id=price.id
            ),
            promotion_code=code.code,
        )
    )
    listed = await shop.orders().ListOrders(
        orders_pb2.ListOrdersRequest(subscription_id=subscription.id), metadata=shop.metadata
    )
    [order] = listed.orders
    assert order.billing_reason == orders_pb2.BILLING_REASON_SUBSCRIPTION_CREATE
    assert (
        order.subtotal_minor,
        order.discount_minor,
        order.tax_minor,
        order.inclusive_tax_minor,
        order.total_minor,
        order.tax_rate_percent,
    ) == (
        totals.subtotal_minor,
        totals.discount_minor,
        totals.tax_minor,
        totals.inclusive_tax_minor,
        totals.total_minor,
        totals.tax_rate_percent,
    )
    assert order.amount_due_minor == totals.amount_due_now_minor

    def figures(line: orders_pb2.OrderLine) -> tuple[object, ...]:
        return (
            line.kind,
            line.description,
            line.price_id,
            line.amount_minor,
            line.discount_minor,
            line.tax_minor,
            line.total_minor,
        )

    assert [figures(line) for line in order.lines] == [figures(line) for line in totals.lines]


async def test_a_trial_is_quoted_with_nothing_due_now(shop: Shop) -> None:
    product = await shop.product(fixed_price(4900), trial=True)
    link = await make_link(shop, product.id)
    session = await make_session(shop, checkout_link_id=link.id)
    trial_end = session.totals.trial_end_time.ToDatetime(tzinfo=dt.UTC)
    assert trial_end == shop.clock.now() + dt.timedelta(days=14)
    assert (session.totals.total_minor, session.totals.amount_due_now_minor) == (4900, 0)
    customer_id = await shop.customer()
    trialing = await shop.subscribe(
        customer_id=customer_id, product_id=product.id, price_id=product.prices[0].id
    )
    assert trialing.trial_end == session.totals.trial_end_time
    skipping = await make_link(shop, product.id, skip_trial=True)
    no_trial = await make_session(shop, checkout_link_id=skipping.id)
    assert not no_trial.totals.HasField("trial_end_time")
    assert no_trial.totals.amount_due_now_minor == 4900


# ---- the customer's page ---------------------------------------------------------


async def test_the_public_link_shows_the_offer_and_nothing_private(shop: Shop) -> None:
    product = await shop.product(fixed_price(2900), yearly_price(29000), name="Pro")
    code = await discount(shop, "HELLO", 1000)
    link = await make_link(
        shop,
        product.id,
        allowed_discount_ids=[code.id],
        metadata={"internal": struct_pb2.Value(string_value="x")},
    )
    shown = await public(shop).GetPublicCheckoutLink(
        public_checkout_pb2.GetPublicCheckoutLinkRequest(
            organization=str(shop.organization_id), id=link.id
        ),
        metadata=anonymous(),
    )
    assert shown.id == link.id
    assert shown.accepts_discount_codes
    [offered] = shown.products
    assert (offered.id, offered.name) == (product.id, "Pro")
    assert [p.id for p in offered.prices] == [p.id for p in product.prices]
    assert all(not p.metadata and not p.nickname for p in offered.prices)
    assert "metadata" not in {f.name for f in shown.DESCRIPTOR.fields}

    slug = await refused(
        public(shop).GetPublicCheckoutLink(
            public_checkout_pb2.GetPublicCheckoutLinkRequest(organization="acme", id=link.id),
            metadata=anonymous(),
        )
    )
    assert slug.fields == ["organization"]
    unknown = await refused(
        public(shop).GetPublicCheckoutSession(
            public_checkout_pb2.GetPublicCheckoutSessionRequest(client_secret="bcx_nothing"),
            metadata=anonymous(),
        )
    )
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    assert "bcx_nothing" not in unknown.message  # a secret is never echoed

    await link_service(shop).UpdateCheckoutLink(
        checkout_pb2.UpdateCheckoutLinkRequest(
            checkout_link=checkout_pb2.CheckoutLink(id=link.id, archived=True)
        ),
        metadata=shop.metadata,
    )
    for call in (
        public(shop).GetPublicCheckoutLink(
            public_checkout_pb2.GetPublicCheckoutLinkRequest(
                organization=str(shop.organization_id), id=link.id
            ),
            metadata=anonymous(),
        ),
        open_public(shop, link),
        make_session(shop, checkout_link_id=link.id),
    ):
        error = await refused(call)
        assert (error.code, error.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CHECKOUT_LINK_ARCHIVED",
        )


async def test_the_customers_changes_are_quoted_anew(shop: Shop) -> None:
    pro = await shop.product(fixed_price(2900), yearly_price(29000), name="Pro")
    seats = await shop.product(
        products_pb2.Price(
            currency="USD",
            seat_based=products_pb2.SeatBasedAmount(
                tier_mode=products_pb2.TIER_MODE_VOLUME,
                tiers=[products_pb2.SeatTier(from_seats=1, amount_per_seat_minor=1000)],
                minimum_seats=2,
                maximum_seats=50,
            ),
        ),
        name="Team",
    )
    code = await discount(shop, "TWENTY", 2000)
    await tax_rate(shop, "FR", "20")
    link = await make_link(shop, pro.id, seats.id, allowed_discount_ids=[code.id])
    opened = await open_public(shop, link, price_id=pro.prices[1].id, customer_email="a@b.example")
    secret = opened.client_secret
    assert secret.startswith("bcx_")
    assert opened.status == checkout_pb2.CHECKOUT_SESSION_STATUS_OPEN
    assert (opened.price_id, opened.totals.total_minor) == (pro.prices[1].id, 29000)
    assert opened.customer_email == "a@b.example"
    session_id = opened.id
    assert opened.success_url == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session_id)
    assert [p.id for p in opened.products] == [pro.id, seats.id]

    monthly = await patch(shop, secret, "price_id", price_id=pro.prices[0].id)
    assert monthly.totals.total_minor == 2900
    assert monthly.client_secret == ""
    taxed = await patch(
        shop,
        secret,
        "billing_address",
        "customer_name",
        billing_address=address_pb2.Address(country="FR", city="Paris"),
        customer_name="Ada",
    )
    assert (taxed.totals.tax_minor, taxed.totals.total_minor) == (580, 3480)
    assert taxed.customer_name == "Ada"
    assert taxed.customer_email == "a@b.example"
    discounted = await patch(shop, secret, "discount_code", discount_code=code.code)
    # 2900 − 20 % = 2320, + 20 % tax = 464.
    assert (discounted.totals.discount_minor, discounted.totals.total_minor) == (580, 2784)
    team = await patch(shop, secret, "price_id", price_id=seats.prices[0].id)
    assert team.seats == 2  # the price's minimum
    assert team.totals.lines[0].description == "Team × 2 seats"
    five = await patch(shop, secret, "seats", seats=5)
    assert (five.totals.subtotal_minor, five.totals.discount_minor) == (5000, 1000)
    assert five.totals.total_minor == (5000 - 1000) * 120 // 100
    without = await patch(shop, secret, "discount_code", "billing_address")  # both cleared
    assert (without.totals.total_minor, without.discount_code) == (5000, "")
    assert not without.HasField("billing_address")

    too_many = await refused(patch(shop, secret, "seats", seats=51))
    assert (too_many.code, too_many.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SEATS_OUT_OF_RANGE",
    )
    bad_email = await refused(patch(shop, secret, "customer_email", customer_email="a@b"))
    assert bad_email.fields == ["checkout_session.customer_email"]

    read = await public(shop).GetPublicCheckoutSession(
        public_checkout_pb2.GetPublicCheckoutSessionRequest(client_secret=secret),
        metadata=anonymous(),
    )
    assert read.totals == without.totals
    assert read.client_secret == ""
    # Nothing of the merchant's: no metadata, no customer or discount ids.
    assert not public_fields() & {"metadata", "customer_id", "allowed_discount_ids", "discount_id"}
    merchant = await session_service(shop).GetCheckoutSession(
        checkout_pb2.GetCheckoutSessionRequest(id=session_id), metadata=shop.metadata
    )
    assert (merchant.seats, merchant.totals) == (5, read.totals)


async def test_a_code_not_allowed_on_the_link_is_refused_naming_the_field(shop: Shop) -> None:
    product = await shop.product()
    allowed = await discount(shop, "ALLOWED", 1000)
    other = await discount(shop, "OTHER", 5000)
    link = await make_link(shop, product.id, allowed_discount_ids=[allowed.id])
    opened = await open_public(shop, link)
    for code in (other.code, "NO-SUCH-CODE"):
        error = await refused(
            patch(shop, opened.client_secret, "discount_code", discount_code=code)
        )
        assert (error.code, error.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "DISCOUNT_NOT_ALLOWED",
        )
        assert error.fields == ["checkout_session.discount_code"]
    malformed = await refused(
        patch(shop, opened.client_secret, "discount_code", discount_code="no code!")
    )
    assert malformed.fields == ["checkout_session.discount_code"]
    # A link that allows none refuses every code, without asking the catalog.
    no_codes = await make_link(shop, product.id)
    error = await refused(open_public(shop, no_codes, discount_code=allowed.code))
    assert error.reason == "DISCOUNT_NOT_ALLOWED"
    # Refused: nothing changed.
    read = await public(shop).GetPublicCheckoutSession(
        public_checkout_pb2.GetPublicCheckoutSessionRequest(client_secret=opened.client_secret),
        metadata=anonymous(),
    )
    assert (read.discount_code, read.totals.discount_minor) == ("", 0)


async def test_a_price_archived_after_the_link_is_refused(shop: Shop) -> None:
    product = await shop.product(fixed_price(2900), yearly_price(29000))
    monthly, yearly = product.prices[0], product.prices[1]
    link = await make_link(shop, product.id)
    opened = await open_public(shop, link, price_id=yearly.id)
    await archive_price(shop, yearly.id)

    error = await refused(patch(shop, opened.client_secret, "customer_name", customer_name="Ada"))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PRICE_ARCHIVED")
    error = await refused(open_public(shop, link, price_id=yearly.id))
    assert error.reason == "PRICE_ARCHIVED"
    # The other price still sells, and the session can move to it.
    moved = await patch(shop, opened.client_secret, "price_id", price_id=monthly.id)
    assert moved.totals.total_minor == 2900
    # The offer shown no longer lists the archived price, once the copy has it.
    await copied_price(shop, yearly.id, archived=True)
    shown = await public(shop).GetPublicCheckoutLink(
        public_checkout_pb2.GetPublicCheckoutLinkRequest(
            organization=str(shop.organization_id), id=link.id
        ),
        metadata=anonymous(),
    )
    assert [p.id for p in shown.products[0].prices] == [monthly.id]


async def test_an_expired_session_is_refused(shop: Shop) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    by_merchant = await open_public(shop, link)
    expired = await session_service(shop).ExpireCheckoutSession(
        checkout_pb2.ExpireCheckoutSessionRequest(id=by_merchant.id), metadata=shop.metadata
    )
    assert expired.status == checkout_pb2.CHECKOUT_SESSION_STATUS_EXPIRED
    again = await session_service(shop).ExpireCheckoutSession(
        checkout_pb2.ExpireCheckoutSessionRequest(id=by_merchant.id), metadata=shop.metadata
    )
    assert again.update_time == expired.update_time  # unchanged
    error = await refused(
        patch(shop, by_merchant.client_secret, "customer_name", customer_name="A")
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CHECKOUT_SESSION_EXPIRED",
    )
    # Past its time but not swept yet: refused all the same.
    late = await open_public(shop, link)
    await execute(
        shop.database,
        update(models.checkout_sessions)
        .where(models.checkout_sessions.c.id == uuid.UUID(late.id))
        .values(expire_at=shop.clock.now() - dt.timedelta(seconds=1)),
    )
    error = await refused(patch(shop, late.client_secret, "customer_name", customer_name="A"))
    assert error.reason == "CHECKOUT_SESSION_EXPIRED"
    # A completed one (the confirmation's work, set here by hand) too.
    done = await open_public(shop, link)
    await execute(
        shop.database,
        update(models.checkout_sessions)
        .where(models.checkout_sessions.c.id == uuid.UUID(done.id))
        .values(status="completed", completed_at=shop.clock.now()),
    )
    error = await refused(patch(shop, done.client_secret, "customer_name", customer_name="A"))
    assert error.reason == "CHECKOUT_SESSION_COMPLETED"
    error = await refused(
        session_service(shop).ExpireCheckoutSession(
            checkout_pb2.ExpireCheckoutSessionRequest(id=done.id), metadata=shop.metadata
        )
    )
    assert error.reason == "CHECKOUT_SESSION_COMPLETED"
    # Expired twice by the merchant, announced once (the late one is the
    # service's own sweep's to announce).
    assert await expiries_of(shop, by_merchant.id) == 1


async def test_the_sweep_expires_each_session_once(shop: Shop) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    soon = await make_session(
        shop,
        checkout_link_id=link.id,
        expire_time=timestamp(shop.clock.now() + dt.timedelta(minutes=30)),
    )
    later = await make_session(shop, checkout_link_id=link.id)

    # Two sweeps at once, an hour on (the service's own runs on the
    # session's clock, for which nothing is due yet).
    clock = FrozenClock(shop.clock.now() + dt.timedelta(hours=1))

    def sweep() -> CheckoutExpiry:
        return CheckoutExpiry(shop.database, kit_tables, clock, batch_size=1, poll_seconds=0.05)

    await asyncio.gather(sweep().run_once(), sweep().run_once())
    await sweep().run_once()

    async def status(session_id: str) -> str:
        found = await scalar(
            shop.database,
            select(models.checkout_sessions.c.status).where(
                models.checkout_sessions.c.id == uuid.UUID(session_id)
            ),
        )
        return str(found)

    assert await status(soon.id) == "expired"
    assert await status(later.id) == "open"
    expiries = [e for e in await envelopes(shop) if e.type == "checkout.expired"]
    assert len(expiries) == 1
    event = events_pb2.CheckoutExpiredEvent()
    expiries[0].data.Unpack(event)
    assert event.checkout_session.id == soon.id
    assert event.checkout_session.status == checkout_pb2.CHECKOUT_SESSION_STATUS_EXPIRED
    # The merchant's expire of an expired session announces nothing more.
    await session_service(shop).ExpireCheckoutSession(
        checkout_pb2.ExpireCheckoutSessionRequest(id=soon.id), metadata=shop.metadata
    )
    assert await expiries_of(shop, soon.id) == 1


async def test_the_client_secret_is_shown_on_create_only_and_never_in_events(shop: Shop) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    key = f"checkout-{uuid.uuid4()}"
    request = checkout_pb2.CreateCheckoutSessionRequest(
        checkout_session=checkout_pb2.CheckoutSession(checkout_link_id=link.id)
    )
    first = await session_service(shop).CreateCheckoutSession(
        request, metadata=call_metadata(shop.organization_id, idempotency_key=key)
    )
    replay = await session_service(shop).CreateCheckoutSession(
        request, metadata=call_metadata(shop.organization_id, idempotency_key=key)
    )
    assert first.client_secret
    assert replay.id == first.id
    assert (replay.client_secret, replay.url) == ("", "")  # never stored with the reply
    from_page = await open_public(shop, link)
    secrets_shown = [first.client_secret, from_page.client_secret]

    stored = await rows(
        shop.database,
        select(models.checkout_sessions.c.client_secret_hash).where(
            models.checkout_sessions.c.organization_id == shop.organization_id
        ),
    )
    assert len(stored) == 2
    for secret in secrets_shown:
        assert all(secret.encode() not in bytes(record[0]) for record in stored)
    await session_service(shop).ExpireCheckoutSession(
        checkout_pb2.ExpireCheckoutSessionRequest(id=first.id), metadata=shop.metadata
    )
    events = await envelopes(shop)
    assert [e.type for e in events if e.type.startswith("checkout.")] == [
        "checkout.created",
        "checkout.created",
        "checkout.expired",
    ]
    for envelope in events:
        raw = envelope.SerializeToString()
        for secret in secrets_shown:
            assert secret.encode() not in raw
    idempotency = kit_tables.idempotency_keys
    replies = await rows(shop.database, select(idempotency.c.response))
    assert replies
    for record in replies:
        assert first.client_secret.encode() not in bytes(record[0])


# ---- hostile pages ------------------------------------------------------------


async def test_control_and_bidirectional_characters_are_refused_in_the_details(
    shop: Shop,
) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    error = await refused(
        open_public(
            shop,
            link,
            customer_email="ada@example.com\r\nBcc: all@example.com",
            customer_name="Ada \u202eecilA",
            billing_address=address_pb2.Address(line1="1 Main\x1b[2J St", country="US"),
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert sorted(error.fields) == [
        "checkout_session.billing_address.line1",
        "checkout_session.customer_email",
        "checkout_session.customer_name",
    ]
    session = await open_public(shop, link)
    error = await refused(
        patch(shop, session.client_secret, "customer_name", customer_name="two\nlines")
    )
    assert error.fields == ["checkout_session.customer_name"]


async def test_one_address_opens_a_bounded_number_of_sessions(shop: Shop) -> None:
    """The service's default allowance (60 a minute from one client network,
    an IPv6 /64 counted as one, each call from another address in it) is
    spent, then 429-style refusals carry a Retry-After; another network
    still opens sessions."""
    product = await shop.product()
    link = await make_link(shop, product.id)
    request = public_checkout_pb2.CreatePublicCheckoutSessionRequest(
        organization=str(shop.organization_id), checkout_link_id=link.id
    )
    prefix = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}:1:"
    opened = 0
    refused_after = None
    for index in range(200):
        metadata = gateway_metadata(None, client_address=f"{prefix}:{index + 1:x}")
        try:
            await public(shop).CreatePublicCheckoutSession(request, metadata=metadata)
            opened += 1
        except grpc.aio.AioRpcError as failure:
            error = call_error(failure)
            assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.reason == "CHECKOUT_SESSIONS_RATE_LIMITED"
            trailing = dict(failure.trailing_metadata() or ())
            assert int(trailing["retry-after"]) >= 1
            refused_after = opened
            break
    # 60 at once, and one more a second as the allowance refills.
    assert refused_after is not None
    assert 60 <= refused_after < 100
    elsewhere = gateway_metadata(None, client_address="198.51.100.77")
    assert (await public(shop).CreatePublicCheckoutSession(request, metadata=elsewhere)).id


def test_an_organization_has_an_allowance_of_its_own() -> None:
    clock = FrozenClock(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    limits = CheckoutOpenLimits(clock, per_address_per_minute=5, per_organization_per_minute=3)
    shop_id, other = uuid.uuid4(), uuid.uuid4()
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        limits.admit(address, shop_id)
    with pytest.raises(TooManyRequests) as refusal:
        limits.admit("192.0.2.4", shop_id)
    assert refusal.value.retry_after_seconds == 20
    limits.admit("192.0.2.4", other)  # its refused try cost the address nothing
    for _ in range(4):
        limits.admit("192.0.2.4", uuid.uuid4())
    with pytest.raises(TooManyRequests) as refusal:
        limits.admit("192.0.2.4", uuid.uuid4())
    assert refusal.value.reason == "CHECKOUT_SESSIONS_RATE_LIMITED"


async def test_expired_sessions_that_bought_nothing_are_deleted_after_the_retention(
    shop: Shop,
) -> None:
    product = await shop.product()
    link = await make_link(shop, product.id)
    old, recent, kept_open = [await make_session(shop, checkout_link_id=link.id) for _ in "abc"]
    bought = await make_session(shop, checkout_link_id=link.id)
    sessions = models.checkout_sessions
    now = shop.clock.now()
    for made, expired_at in ((old, now - dt.timedelta(days=31)), (recent, now)):
        await session_service(shop).ExpireCheckoutSession(
            checkout_pb2.ExpireCheckoutSessionRequest(id=made.id), metadata=shop.metadata
        )
        await execute(
            shop.database,
            update(sessions)
            .where(sessions.c.id == uuid.UUID(made.id))
            .values(expired_at=expired_at),
        )
    # Expired long ago too, but it made a subscription (its payment failed):
    # the subscription still names it.
    await execute(
        shop.database,
        update(sessions)
        .where(sessions.c.id == uuid.UUID(bought.id))
        .values(
            status="expired",
            expired_at=now - dt.timedelta(days=40),
            subscription_id=uuid.uuid4(),
        ),
    )
    sweep = CheckoutExpiry(shop.database, kit_tables, shop.clock, batch_size=1, poll_seconds=1)
    assert await sweep.purge_once() >= 1
    left = await rows(
        shop.database,
        select(sessions.c.id).where(sessions.c.organization_id == shop.organization_id),
    )
    assert {str(r[0]) for r in left} == {recent.id, kept_open.id, bought.id}
