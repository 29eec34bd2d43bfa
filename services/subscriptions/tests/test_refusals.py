"""Bad input through the API, each refused with its reason and nothing
changed: a price of another organization or archived, seats outside the
price's range, a discount that does not apply, canceling what is canceled,
uncanceling what is not, a change to another currency, and a test clock
moved backwards or while it advances. The real catalog answers what the
engine's read copies do not hold."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.common.v1 import money_pb2
from billingos.subscriptions.v1 import subscriptions_pb2, test_clocks_pb2
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.db import scalar
from billingos_kit.testing.service import TEST_SERVICE_TOKEN
from billingos_kit.testing.waiting import eventually
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import models
from billingos_subscriptions.clients import CatalogClient, ServiceUnavailable
from billingos_subscriptions.models import kit_tables
from billingos_subscriptions.subscriptions import MAX_SEATS, Subscriptions

from .conftest import Shop, count, fixed_price, outbox_types, refused, seat_price

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
WEEK_TRIAL = products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=7)


async def copied(shop: Shop, price_id: str, *, archived: bool) -> bool:
    """Waits until the engine's read copy of the price is as the catalog says."""

    async def check() -> bool | None:
        found = await scalar(
            shop.database,
            select(models.prices.c.archived).where(models.prices.c.id == uuid.UUID(price_id)),
        )
        return True if found is archived else None

    return await eventually(check)


async def trialing(shop: Shop, product: products_pb2.Product, **fields: Any) -> str:
    """A subscription in its trial (nothing charged), its id."""
    customer_id = await shop.customer()
    made = await shop.create(
        subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=customer_id, product_id=product.id, currency="USD", **fields
            ),
            trial=WEEK_TRIAL,
        )
    )
    assert made.status == subscriptions_pb2.SUBSCRIPTION_STATUS_TRIALING
    return str(made.id)


async def test_a_price_or_product_of_another_organization_is_not_found(
    shop: Shop, other_shop: Shop
) -> None:
    theirs = await other_shop.product(fixed_price(900))
    their_price = theirs.prices[0].id
    ours = await shop.product()
    customer_id = await shop.customer()

    for attempt in ("catalog asked", "read copy holds it"):
        error = await refused(
            shop.subscribe(customer_id=customer_id, product_id=ours.id, price_id=their_price)
        )
        assert error.code == grpc.StatusCode.NOT_FOUND, (attempt, error)
        error = await refused(
            shop.subscribe(customer_id=customer_id, product_id=theirs.id, currency="USD")
        )
        assert error.code == grpc.StatusCode.NOT_FOUND, (attempt, error)
        # The engine's copy learns the other organization's price from the
        # catalog's stream: still not ours.
        await copied(other_shop, their_price, archived=False)

    assert await shop.subscriptions_of(customer_id) == []
    assert (
        await count(shop.database, models.subscriptions, organization_id=shop.organization_id) == 0
    )


async def test_a_change_to_a_price_of_another_organization_is_not_found(
    shop: Shop, other_shop: Shop
) -> None:
    theirs = await other_shop.product(fixed_price(900))
    subscription_id = await trialing(shop, await shop.product())
    error = await refused(
        shop.subscriptions().ChangeSubscription(
            subscriptions_pb2.ChangeSubscriptionRequest(
                id=subscription_id, price_id=theirs.prices[0].id
            ),
            metadata=shop.metadata,
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND, error


async def test_an_archived_price_or_product_is_refused(shop: Shop) -> None:
    product = await shop.product(fixed_price(2000), fixed_price(1800, "EUR"))
    euro = next(p for p in product.prices if p.currency == "EUR")
    # Copies keep a state only if it is newer: the archive happens later.
    shop.clock.advance(dt.timedelta(seconds=1))
    await shop.prices().UpdatePrice(
        products_pb2.UpdatePriceRequest(
            price=products_pb2.Price(id=euro.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=shop.metadata,
    )
    await copied(shop, euro.id, archived=True)
    customer_id = await shop.customer()

    error = await refused(
        shop.subscribe(customer_id=customer_id, product_id=product.id, price_id=euro.id)
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "PRICE_ARCHIVED"), error
    error = await refused(
        shop.subscribe(customer_id=customer_id, product_id=product.id, currency="EUR")
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NO_PRICE_IN_CURRENCY"), error

    gone = await shop.product(fixed_price(500), name="Old")
    shop.clock.advance(dt.timedelta(seconds=1))
    await shop.products().UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=gone.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=shop.metadata,
    )

    async def product_archived() -> bool | None:
        found = await scalar(
            shop.database,
            select(models.products.c.archived).where(models.products.c.id == uuid.UUID(gone.id)),
        )
        return True if found is True else None

    await eventually(product_archived)
    error = await refused(
        shop.subscribe(customer_id=customer_id, product_id=gone.id, currency="USD")
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "PRODUCT_ARCHIVED"), error
    assert await shop.subscriptions_of(customer_id) == []


async def test_seats_outside_the_price_range_are_refused(shop: Shop) -> None:
    product = await shop.product(seat_price(minimum=3, maximum=10))
    customer_id = await shop.customer()
    for seats in (1, 2, 11, 500):
        error = await refused(
            shop.subscribe(
                customer_id=customer_id, product_id=product.id, currency="USD", seats=seats
            )
        )
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "SEATS_OUT_OF_RANGE"), seats
        assert "3 to 10" in error.message
    error = await refused(
        shop.subscribe(
            customer_id=customer_id, product_id=product.id, currency="USD", seats=MAX_SEATS + 1
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["subscription.seats"]
    assert await shop.subscriptions_of(customer_id) == []

    # The bounds themselves are bought, and no seats means the minimum.
    for seats, bought in ((3, 3), (10, 10), (0, 3)):
        made_id = await trialing(shop, product, seats=seats)
        made = await shop.subscriptions().GetSubscription(
            subscriptions_pb2.GetSubscriptionRequest(id=made_id), metadata=shop.metadata
        )
        assert made.seats == bought

    plain = await shop.product(fixed_price(2000), name="Flat")
    error = await refused(
        shop.subscribe(customer_id=customer_id, product_id=plain.id, currency="USD", seats=2)
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "SEATS_NOT_ALLOWED"), error


async def test_a_discount_that_does_not_apply_is_refused_and_not_redeemed(shop: Shop) -> None:
    product = await shop.product(fixed_price(2000))
    elsewhere = await shop.product(fixed_price(700), name="Other")
    customer_id = await shop.customer()
    other_product = await shop.discount(
        discounts_pb2.Discount(
            name="Other product only",
            percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
            duration=discounts_pb2.DISCOUNT_DURATION_FOREVER,
            product_ids=[elsewhere.id],
        )
    )
    euros_only = await shop.discount(
        discounts_pb2.Discount(
            name="Five euros",
            amount_off=discounts_pb2.Discount.AmountOff(
                amounts=[money_pb2.Money(currency="EUR", amount_minor=500)]
            ),
            duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
        )
    )
    for discount, why in (
        (other_product, "product_not_eligible"),
        (euros_only, "currency_not_supported"),
    ):
        error = await refused(
            shop.subscribe(
                customer_id=customer_id,
                product_id=product.id,
                currency="USD",
                discount_id=discount.id,
            )
        )
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "DISCOUNT_NOT_APPLICABLE")
        assert why in error.message, error
        after = await shop.discounts().GetDiscount(
            discounts_pb2.GetDiscountRequest(id=discount.id), metadata=shop.metadata
        )
        assert after.redemption_count == 0

    error = await refused(
        shop.subscribe(
            customer_id=customer_id,
            product_id=product.id,
            currency="USD",
            discount_id=str(uuid.uuid4()),
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND, error
    assert await shop.subscriptions_of(customer_id) == []


class CatalogDownAfterRedeeming(CatalogClient):
    """The catalog, going down between the discount's redemption and the
    purchase's record."""

    async def record_purchase(self, *args: Any, **kwargs: Any) -> None:
        raise ServiceUnavailable("catalog")


async def test_a_create_that_fails_after_redeeming_leaves_the_discount_unredeemed(
    shop: Shop,
) -> None:
    """The create fails after the discount was redeemed (the catalog is
    unavailable when the purchase is recorded): no subscription is made, so
    the discount's one redemption must still be there for the create that
    succeeds when it is asked again."""
    product = await shop.product(fixed_price(2000))
    discount = await shop.discount(
        discounts_pb2.Discount(
            name="One only",
            percent_off=discounts_pb2.Discount.PercentOff(basis_points=2000),
            duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
            max_redemptions=1,
        )
    )
    customer_id = await shop.customer()
    request = subscriptions_pb2.CreateSubscriptionRequest(
        subscription=subscriptions_pb2.Subscription(
            customer_id=customer_id, product_id=product.id, currency="USD", discount_id=discount.id
        )
    )
    catalog = CatalogDownAfterRedeeming(shop.catalog.address, TEST_SERVICE_TOKEN)

    async def create_as_a_call_does() -> None:
        async with shop.database.transaction() as connection:
            work = OrganizationWork(
                connection, shop.organization_id, shop.clock, kit_tables, "subscriptions"
            )
            directory = CustomerDirectory("", TEST_SERVICE_TOKEN)
            await Subscriptions(work, shop.clock, catalog, directory).create(request)

    try:
        with pytest.raises(ServiceUnavailable):
            await create_as_a_call_does()
    finally:
        await catalog.close()
    assert await shop.subscriptions_of(customer_id) == []
    after = await shop.discounts().GetDiscount(
        discounts_pb2.GetDiscountRequest(id=discount.id), metadata=shop.metadata
    )
    assert after.redemption_count == 0, "a create that failed used up the discount"
    made = await shop.create(request)
    assert made.discount_id == discount.id


async def test_canceling_a_canceled_subscription_is_refused(shop: Shop) -> None:
    product = await shop.product()
    stub = shop.subscriptions()
    ended = await trialing(shop, product)
    canceled = await stub.CancelSubscription(
        subscriptions_pb2.CancelSubscriptionRequest(id=ended, immediately=True),
        metadata=shop.metadata,
    )
    assert canceled.status == subscriptions_pb2.SUBSCRIPTION_STATUS_CANCELED
    events_before = await outbox_types(shop.database, shop.organization_id)
    for immediately in (True, False):
        error = await refused(
            stub.CancelSubscription(
                subscriptions_pb2.CancelSubscriptionRequest(id=ended, immediately=immediately),
                metadata=shop.metadata,
            )
        )
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "SUBSCRIPTION_ENDED"), error

    at_end = await trialing(shop, product)
    first = await stub.CancelSubscription(
        subscriptions_pb2.CancelSubscriptionRequest(id=at_end, comment="too dear"),
        metadata=shop.metadata,
    )
    assert first.cancel_at_period_end
    error = await refused(
        stub.CancelSubscription(
            subscriptions_pb2.CancelSubscriptionRequest(id=at_end), metadata=shop.metadata
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ALREADY_CANCELED"), error
    again = await stub.GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=at_end), metadata=shop.metadata
    )
    assert (again.cancel_at_period_end, again.cancel_time) == (True, first.cancel_time)

    # The refusals announced nothing: only the second subscription's own
    # creation and cancellation came after. (Its orders' events are the
    # workers', whose timing is theirs: the charger's run of the first
    # subscription's voided order may land in between, so orders are not
    # counted here.)
    events = await outbox_types(shop.database, shop.organization_id)
    assert [e for e in events[len(events_before) :] if e.startswith("subscription.")] == [
        "subscription.created",
        "subscription.activated",
        "subscription.canceled",
    ]


async def test_uncanceling_a_subscription_not_canceled_is_refused(shop: Shop) -> None:
    product = await shop.product()
    stub = shop.subscriptions()
    running = await trialing(shop, product)
    error = await refused(
        stub.UncancelSubscription(
            subscriptions_pb2.UncancelSubscriptionRequest(id=running), metadata=shop.metadata
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NOT_CANCELED"), error

    await stub.CancelSubscription(
        subscriptions_pb2.CancelSubscriptionRequest(id=running), metadata=shop.metadata
    )
    back = await stub.UncancelSubscription(
        subscriptions_pb2.UncancelSubscriptionRequest(id=running), metadata=shop.metadata
    )
    assert not back.cancel_at_period_end
    error = await refused(
        stub.UncancelSubscription(
            subscriptions_pb2.UncancelSubscriptionRequest(id=running), metadata=shop.metadata
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NOT_CANCELED"), error

    await stub.CancelSubscription(
        subscriptions_pb2.CancelSubscriptionRequest(id=running, immediately=True),
        metadata=shop.metadata,
    )
    error = await refused(
        stub.UncancelSubscription(
            subscriptions_pb2.UncancelSubscriptionRequest(id=running), metadata=shop.metadata
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "SUBSCRIPTION_ENDED"), error


async def test_a_change_to_another_currency_is_refused(shop: Shop) -> None:
    product = await shop.product(fixed_price(2000), fixed_price(1800, "EUR"))
    euro = next(p for p in product.prices if p.currency == "EUR")
    subscription_id = await trialing(shop, product)
    before = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=subscription_id), metadata=shop.metadata
    )
    error = await refused(
        shop.subscriptions().ChangeSubscription(
            subscriptions_pb2.ChangeSubscriptionRequest(
                id=subscription_id,
                price_id=euro.id,
                proration_behavior=subscriptions_pb2.PRORATION_BEHAVIOR_INVOICE_NOW,
            ),
            metadata=shop.metadata,
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "CURRENCY_MISMATCH"), error
    after = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=subscription_id), metadata=shop.metadata
    )
    assert after == before
    assert (
        await count(shop.database, models.orders, subscription_id=uuid.UUID(subscription_id)) == 0
    )


async def test_a_test_clock_only_moves_forward(shop: Shop) -> None:
    frozen = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
    clocks = shop.test_clocks()
    clock = await clocks.CreateTestClock(
        test_clocks_pb2.CreateTestClockRequest(
            test_clock=test_clocks_pb2.TestClock(frozen_time=timestamp(frozen), name="forward")
        ),
        metadata=shop.metadata,
    )
    for moment in (
        frozen - dt.timedelta(seconds=1),
        frozen,
        frozen + dt.timedelta(days=731, seconds=1),
    ):
        error = await refused(
            clocks.AdvanceTestClock(
                test_clocks_pb2.AdvanceTestClockRequest(id=clock.id, frozen_time=timestamp(moment)),
                metadata=shop.metadata,
            )
        )
        assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["frozen_time"])
    error = await refused(
        clocks.AdvanceTestClock(
            test_clocks_pb2.AdvanceTestClockRequest(id=clock.id), metadata=shop.metadata
        )
    )
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["frozen_time"])
    after = await clocks.GetTestClock(
        test_clocks_pb2.GetTestClockRequest(id=clock.id), metadata=shop.metadata
    )
    assert after == clock


async def test_a_test_clock_cannot_be_advanced_while_it_advances(shop: Shop) -> None:
    """A subscription made on the clock marks it advancing until its first
    charge is answered; payments is down, so the charge stays in flight."""
    frozen = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
    clocks = shop.test_clocks()
    clock = await clocks.CreateTestClock(
        test_clocks_pb2.CreateTestClockRequest(
            test_clock=test_clocks_pb2.TestClock(frozen_time=timestamp(frozen))
        ),
        metadata=shop.metadata,
    )
    assert clock.status == test_clocks_pb2.TEST_CLOCK_STATUS_READY
    customer_id = await shop.customer(test_clock_id=clock.id)
    product = await shop.product()
    made = await shop.subscribe(customer_id=customer_id, product_id=product.id, currency="USD")
    assert made.test_clock_id == clock.id
    assert made.current_period_start == timestamp(frozen)
    busy = await clocks.GetTestClock(
        test_clocks_pb2.GetTestClockRequest(id=clock.id), metadata=shop.metadata
    )
    assert busy.status == test_clocks_pb2.TEST_CLOCK_STATUS_ADVANCING

    error = await refused(
        clocks.AdvanceTestClock(
            test_clocks_pb2.AdvanceTestClockRequest(
                id=clock.id, frozen_time=timestamp(frozen + dt.timedelta(days=1))
            ),
            metadata=shop.metadata,
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "TEST_CLOCK_ADVANCING"), error
    after = await clocks.GetTestClock(
        test_clocks_pb2.GetTestClockRequest(id=clock.id), metadata=shop.metadata
    )
    assert after.frozen_time == timestamp(frozen)
