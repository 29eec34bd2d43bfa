"""The customer portal's subscriptions and orders (CustomerPortalService),
called as the gateway forwards a customer session (the kit's in-memory
sessions), with the real catalog and customers services beside the engine:
tenancy (another customer's or organization's subscription, order or price
is NOT_FOUND), the cancel/uncancel round trip through the merchant's own
rules, a change billing exactly what its preview said (the order it opens at
once, and the renewal that follows, to the cent), the rule of what a
customer may change to, and the invoice PDF read back as text."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from pypdf import PdfReader
from sqlalchemy import update

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.common.v1 import address_pb2
from billingos.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos.subscriptions.v1 import (
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    orders_pb2,
    subscriptions_pb2,
    test_clocks_pb2,
)
from billingos_kit.protoconv import timestamp
from billingos_kit.repository import OnConnection
from billingos_kit.testing.db import execute
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata
from billingos_kit.testing.sessions import KnownSessions
from billingos_kit.testing.waiting import eventually
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import models
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.invoice_fonts import InvoiceFonts
from billingos_subscriptions.models import TaxRateCopy, kit_tables
from billingos_subscriptions.repository import TaxRateCopies

from .conftest import (
    SOURCE,
    Neighbour,
    Shop,
    fixed_price,
    outbox_types,
    refused,
    result,
    seat_price,
    take_off_the_workers,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
WEEK_TRIAL = products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=7)
SESSIONS = KnownSessions()


# ---- helpers ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def known_sessions(subscriptions_service: RunningService) -> KnownSessions:
    """The service checks customer sessions against this test's (left in
    place afterwards: every test's tokens are its own)."""
    subscriptions_service.app.use_session_lookup(SESSIONS)
    return SESSIONS


@dataclass
class Customer:
    """A customer of the shop with a session of its own, and its clock."""

    shop: Shop
    id: str
    token: str
    clock_id: str

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        """A call as the gateway forwards the customer's browser's."""
        return gateway_metadata(self.token, idempotency_key=idempotency_key)

    @property
    def portal(self) -> Any:
        return customer_portal_pb2_grpc.CustomerPortalServiceStub(self.shop.service.channel)

    async def move_clock(self, to: dt.datetime) -> None:
        """The customer's test clock at `to` without a scheduler round (it
        stays READY): business time for a change in mid-period."""
        await execute(
            self.shop.database,
            update(models.test_clocks)
            .where(models.test_clocks.c.id == uuid.UUID(self.clock_id))
            .values(frozen_time=to),
        )

    async def advance_clock(self, to: dt.datetime) -> None:
        """The clock advanced as the merchant advances it: the workers do
        what fell due (renewals), and it is READY again."""
        clocks = self.shop.test_clocks()

        async def ready() -> bool | None:
            found = await clocks.GetTestClock(
                test_clocks_pb2.GetTestClockRequest(id=self.clock_id), metadata=self.shop.metadata
            )
            return True if found.status == test_clocks_pb2.TEST_CLOCK_STATUS_READY else None

        await eventually(ready, seconds=30.0)
        await clocks.AdvanceTestClock(
            test_clocks_pb2.AdvanceTestClockRequest(id=self.clock_id, frozen_time=timestamp(to)),
            metadata=self.shop.metadata,
        )


MakeCustomer = Callable[[str], Awaitable[str]]


async def customer_of(shop: Shop, make: MakeCustomer | None = None) -> Customer:
    """A customer on a test clock of its own at the shop's time (no worker
    of the suite's real clock touches what it buys), and its session.
    `make`: makes the customer on the clock given, its id (default: one in
    the engine's and the catalog's copies only)."""
    clock = await shop.test_clocks().CreateTestClock(
        test_clocks_pb2.CreateTestClockRequest(
            test_clock=test_clocks_pb2.TestClock(frozen_time=timestamp(shop.clock.now()))
        ),
        metadata=shop.metadata,
    )
    if make is None:
        customer_id = await shop.customer(test_clock_id=clock.id)
    else:
        customer_id = await make(clock.id)
    token = SESSIONS.issue(
        shop.organization_id, uuid.UUID(customer_id), shop.clock.now() + dt.timedelta(days=3650)
    )
    return Customer(shop, customer_id, token, clock.id)


async def known_to_catalog(shop: Shop, customer_id: str) -> None:
    """A customer the catalog's copy holds (a subscription's purchase names it)."""
    async with shop.catalog.database.transaction() as connection:
        await connection.execute(
            "INSERT INTO catalog.customers (id, organization_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            uuid.UUID(customer_id),
            shop.organization_id,
        )


async def pay(shop: Shop, order_id: str) -> None:
    """Payments' answer for the order's first attempt: succeeded."""
    async with shop.database.transaction() as connection:
        work = OrganizationWork(connection, shop.organization_id, shop.clock, kit_tables, SOURCE)
        assert await Billing(work, shop.clock).apply_payment(result(uuid.UUID(order_id)))


async def active(
    customer: Customer, product: products_pb2.Product, **fields: Any
) -> subscriptions_pb2.Subscription:
    """A subscription of the customer's, its first order paid: active."""
    shop = customer.shop
    made = await shop.create(
        subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=customer.id, product_id=product.id, currency="USD", **fields
            ),
            skip_trial=True,
        )
    )
    await pay(shop, made.latest_order_id)
    found = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=made.id), metadata=shop.metadata
    )
    assert found.status == subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE
    return found  # type: ignore[no-any-return]


async def orders_of(shop: Shop, subscription_id: str) -> list[orders_pb2.Order]:
    """The subscription's orders, oldest first."""
    listed = await shop.orders().ListOrders(
        orders_pb2.ListOrdersRequest(subscription_id=subscription_id), metadata=shop.metadata
    )
    return list(reversed(listed.orders))


async def proration(shop: Shop, behavior: subscriptions_pb2.ProrationBehavior.ValueType) -> None:
    await shop.subscriptions().UpdateBillingSettings(
        subscriptions_pb2.UpdateBillingSettingsRequest(
            billing_settings=subscriptions_pb2.BillingSettings(proration_behavior=behavior),
            update_mask=field_mask_pb2.FieldMask(paths=["proration_behavior"]),
        ),
        metadata=shop.metadata,
    )


async def taxed_in(shop: Shop, customer: Customer, country: str, percentage: str) -> None:
    """The customer's billing address in `country`, whose rate is `percentage`."""
    await execute(
        shop.database,
        update(models.customers)
        .where(models.customers.c.id == uuid.UUID(customer.id))
        .values(country=country, region=""),
    )
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


def figures(invoice: Any) -> tuple[Any, ...]:
    """An order's (or a preview's) lines and totals, to compare the two."""
    lines = [
        (
            line.kind,
            line.description,
            line.price_id,
            line.period_start.ToDatetime(),
            line.period_end.ToDatetime(),
            line.quantity,
            line.amount_minor,
            line.discount_minor,
            line.tax_minor,
            line.total_minor,
        )
        for line in invoice.lines
    ]
    return (
        lines,
        invoice.subtotal_minor,
        invoice.discount_minor,
        invoice.tax_minor,
        invoice.total_minor,
        invoice.credit_applied_minor,
        invoice.credit_carried_minor,
        invoice.amount_due_minor,
        invoice.tax_rate_percent,
        invoice.period_start.ToDatetime(),
        invoice.period_end.ToDatetime(),
    )


def printed(text: str) -> str:
    """`text` as this machine's fonts print it on an invoice: itself where a
    Unicode TrueType font is found (DejaVu on Debian, Arial Unicode on a
    Mac); with "?" for what no font draws on a machine without one."""
    return "".join(chars for _, chars in InvoiceFonts().runs(text))


# ---- reading and tenancy -----------------------------------------------------


async def test_the_portal_shows_only_the_sessions_customers_subscriptions(
    shop: Shop, other_shop: Shop
) -> None:
    price = fixed_price(15000)
    price.nickname = "internal: launch price"
    product = await shop.product(price, name="Team")
    ada, bob = await customer_of(shop), await customer_of(shop)
    mine = await active(ada, product, metadata={"crm": struct_pb2.Value(string_value="secret")})
    theirs = await active(bob, product)
    elsewhere = await active(await customer_of(other_shop), await other_shop.product())

    listed = await ada.portal.ListPortalSubscriptions(
        customer_portal_pb2.ListPortalSubscriptionsRequest(), metadata=ada.metadata()
    )
    assert [s.id for s in listed.subscriptions] == [mine.id]
    shown = listed.subscriptions[0]
    assert (shown.product_name, shown.period_amount_minor, shown.currency) == ("Team", 15000, "USD")
    assert shown.status == subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE
    assert shown.current_period_end == mine.current_period_end
    assert shown.organization_id == str(shop.organization_id)
    assert [item.price.fixed.amount_minor for item in shown.items] == [15000]
    assert shown.items[0].price.nickname == ""  # the merchant's own words stay its own
    assert not hasattr(shown, "metadata")
    assert not hasattr(shown, "customer_id")
    got = await ada.portal.GetPortalSubscription(
        customer_portal_pb2.GetPortalSubscriptionRequest(id=mine.id), metadata=ada.metadata()
    )
    assert got == shown

    for other in (theirs.id, elsewhere.id, str(uuid.uuid4())):
        for call in (
            ada.portal.GetPortalSubscription(
                customer_portal_pb2.GetPortalSubscriptionRequest(id=other), metadata=ada.metadata()
            ),
            ada.portal.CancelPortalSubscription(
                customer_portal_pb2.CancelPortalSubscriptionRequest(id=other),
                metadata=ada.metadata(),
            ),
            ada.portal.PreviewPortalSubscriptionChange(
                customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(id=other, seats=2),
                metadata=ada.metadata(),
            ),
        ):
            error = await refused(call)
            assert (error.code, error.reason) == (NOT_FOUND, "SUBSCRIPTION_NOT_FOUND"), error
    untouched = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=theirs.id), metadata=shop.metadata
    )
    assert not untouched.cancel_at_period_end

    # A portal method acts for a session's customer; an internal caller has none.
    error = await refused(
        ada.portal.ListPortalSubscriptions(
            customer_portal_pb2.ListPortalSubscriptionsRequest(),
            metadata=call_metadata(shop.organization_id),
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    ), error
    # And the session's token opens no merchant method.
    error = await refused(
        shop.subscriptions().GetSubscription(
            subscriptions_pb2.GetSubscriptionRequest(id=mine.id), metadata=ada.metadata()
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED, error


# ---- cancel and uncancel -------------------------------------------------------


async def test_cancel_and_uncancel_round_trip_through_the_merchants_rules(shop: Shop) -> None:
    ada = await customer_of(shop)
    sub = await active(ada, await shop.product())
    request = customer_portal_pb2.CancelPortalSubscriptionRequest(id=sub.id, comment="Too pricey")
    canceled = await ada.portal.CancelPortalSubscription(request, metadata=ada.metadata("c-1"))
    assert canceled.cancel_at_period_end
    assert canceled.HasField("cancel_time")
    assert not canceled.HasField("end_time")
    assert canceled.status == subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE  # until the period ends
    # A retry with its key answers the same; another cancel is refused.
    again = await ada.portal.CancelPortalSubscription(request, metadata=ada.metadata("c-1"))
    assert again == canceled
    error = await refused(ada.portal.CancelPortalSubscription(request, metadata=ada.metadata()))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "ALREADY_CANCELED"), error
    merchant_view = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=sub.id), metadata=shop.metadata
    )
    assert merchant_view.cancel_at_period_end
    assert merchant_view.cancellation_reason == "requested"

    uncanceled = await ada.portal.UncancelPortalSubscription(
        customer_portal_pb2.UncancelPortalSubscriptionRequest(id=sub.id), metadata=ada.metadata()
    )
    assert not uncanceled.cancel_at_period_end
    assert not uncanceled.HasField("cancel_time")
    error = await refused(
        ada.portal.UncancelPortalSubscription(
            customer_portal_pb2.UncancelPortalSubscriptionRequest(id=sub.id),
            metadata=ada.metadata(),
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NOT_CANCELED"), error
    types = await outbox_types(shop.database, shop.organization_id)
    assert types.count("subscription.canceled") == 1
    assert types.count("subscription.uncanceled") == 1


async def test_an_unpaid_start_cannot_be_canceled_by_its_customer(shop: Shop) -> None:
    ada = await customer_of(shop)
    made = await shop.subscribe(
        customer_id=ada.id, product_id=(await shop.product()).id, currency="USD"
    )
    assert made.status == subscriptions_pb2.SUBSCRIPTION_STATUS_INCOMPLETE
    error = await refused(
        ada.portal.CancelPortalSubscription(
            customer_portal_pb2.CancelPortalSubscriptionRequest(id=made.id),
            metadata=ada.metadata(),
        )
    )
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "CANCEL_IMMEDIATELY"), error


# ---- changes: preview == change -------------------------------------------------


async def test_a_change_bills_at_once_exactly_what_its_preview_said(shop: Shop) -> None:
    await proration(shop, subscriptions_pb2.PRORATION_BEHAVIOR_INVOICE_NOW)
    pro = await shop.product(fixed_price(2000), name="Pro")
    team = await shop.product(fixed_price(15000), name="Team")
    ada = await customer_of(shop)
    await taxed_in(shop, ada, "DE", "19")
    forever = await shop.discount(
        discounts_pb2.Discount(
            name="Friends",
            percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
            duration=discounts_pb2.DISCOUNT_DURATION_FOREVER,
        )
    )
    sub = await active(ada, pro, discount_id=forever.id)
    start = sub.current_period_start.ToDatetime(tzinfo=dt.UTC)
    await ada.move_clock(start + dt.timedelta(days=10, hours=3, seconds=17))

    ask = customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(
        id=sub.id, price_id=team.prices[0].id
    )
    preview = await ada.portal.PreviewPortalSubscriptionChange(ask, metadata=ada.metadata())
    assert preview.proration_behavior == subscriptions_pb2.PRORATION_BEHAVIOR_INVOICE_NOW
    assert (preview.product_name, preview.price_id) == ("Team", team.prices[0].id)
    assert [line.kind for line in preview.proration_lines] == [
        orders_pb2.ORDER_LINE_KIND_PRORATION,
        orders_pb2.ORDER_LINE_KIND_PRORATION,
    ]
    credit, charge = preview.proration_lines
    assert credit.amount_minor < 0 < charge.amount_minor
    assert preview.invoice_now.tax_rate_percent == "19"
    assert preview.amount_due_now_minor == preview.invoice_now.amount_due_minor > 0
    # The renewal: Team's full period, 10 % off, taxed.
    assert [line.amount_minor for line in preview.next_renewal.lines] == [15000]
    assert preview.next_renewal.discount_minor == 1500
    assert preview.next_renewal.total_minor == 13500 + 2565
    assert preview.next_renewal.period_start == sub.current_period_end
    # Previewing wrote nothing.
    assert len(await orders_of(shop, sub.id)) == 1

    changed = await ada.portal.ChangePortalSubscription(
        customer_portal_pb2.ChangePortalSubscriptionRequest(id=sub.id, price_id=team.prices[0].id),
        metadata=ada.metadata("change-1"),
    )
    assert (changed.product_name, changed.price_id) == ("Team", team.prices[0].id)
    _first, update_order = await orders_of(shop, sub.id)
    assert update_order.billing_reason == orders_pb2.BILLING_REASON_SUBSCRIPTION_UPDATE
    assert figures(update_order) == figures(preview.invoice_now)
    assert update_order.amount_due_minor == preview.amount_due_now_minor

    # The renewal bills what the preview said it would (once the update's
    # charge is settled, the clock is READY and moves on).
    await pay(shop, update_order.id)
    await ada.advance_clock(sub.current_period_end.ToDatetime(tzinfo=dt.UTC))

    async def renewed() -> orders_pb2.Order | None:
        found = await orders_of(shop, sub.id)
        return found[2] if len(found) == 3 else None

    renewal = await eventually(renewed, seconds=30.0)
    assert renewal.billing_reason == orders_pb2.BILLING_REASON_SUBSCRIPTION_CYCLE
    assert figures(renewal) == figures(preview.next_renewal)


async def test_prorations_kept_for_the_renewal_are_billed_as_previewed(shop: Shop) -> None:
    await proration(shop, subscriptions_pb2.PRORATION_BEHAVIOR_NEXT_INVOICE)
    team = await shop.product(fixed_price(15000), name="Team")
    starter = await shop.product(fixed_price(4000), name="Starter")
    ada = await customer_of(shop)
    sub = await active(ada, team)
    start = sub.current_period_start.ToDatetime(tzinfo=dt.UTC)
    await ada.move_clock(start + dt.timedelta(days=20))
    preview = await ada.portal.PreviewPortalSubscriptionChange(
        customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(
            id=sub.id, price_id=starter.prices[0].id
        ),
        metadata=ada.metadata(),
    )
    assert not preview.HasField("invoice_now")
    assert preview.amount_due_now_minor == 0
    renewal_lines = preview.next_renewal.lines
    assert [line.kind for line in renewal_lines] == [
        orders_pb2.ORDER_LINE_KIND_PLAN,
        orders_pb2.ORDER_LINE_KIND_PRORATION,
        orders_pb2.ORDER_LINE_KIND_PRORATION,
    ]
    assert [line.amount_minor for line in preview.proration_lines] == [
        line.amount_minor for line in renewal_lines[1:]
    ]
    await ada.portal.ChangePortalSubscription(
        customer_portal_pb2.ChangePortalSubscriptionRequest(
            id=sub.id, price_id=starter.prices[0].id
        ),
        metadata=ada.metadata(),
    )
    assert len(await orders_of(shop, sub.id)) == 1
    await ada.advance_clock(sub.current_period_end.ToDatetime(tzinfo=dt.UTC))

    async def renewed() -> orders_pb2.Order | None:
        found = await orders_of(shop, sub.id)
        return found[1] if len(found) == 2 else None

    renewal = await eventually(renewed, seconds=30.0)
    assert figures(renewal) == figures(preview.next_renewal)


@pytest.mark.parametrize(
    "behavior",
    [
        subscriptions_pb2.PRORATION_BEHAVIOR_NEXT_INVOICE,
        subscriptions_pb2.PRORATION_BEHAVIOR_AT_PERIOD_END,
    ],
    ids=["switched-now", "scheduled-for-the-trials-end"],
)
async def test_a_change_in_a_trial_bills_only_the_new_price_at_its_end(
    shop: Shop, behavior: subscriptions_pb2.ProrationBehavior.ValueType
) -> None:
    await proration(shop, behavior)
    pro = await shop.product(fixed_price(2000), name="Pro")
    team = await shop.product(fixed_price(15000), name="Team")
    ada = await customer_of(shop)
    made = await shop.create(
        subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=ada.id, product_id=pro.id, currency="USD"
            ),
            trial=WEEK_TRIAL,
        )
    )
    assert made.status == subscriptions_pb2.SUBSCRIPTION_STATUS_TRIALING
    ask = {"id": made.id, "price_id": team.prices[0].id}
    preview = await ada.portal.PreviewPortalSubscriptionChange(
        customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(**ask), metadata=ada.metadata()
    )
    assert list(preview.proration_lines) == []
    assert [line.amount_minor for line in preview.next_renewal.lines] == [15000]
    assert preview.next_renewal.period_start == made.trial_end
    at_trial_end = behavior == subscriptions_pb2.PRORATION_BEHAVIOR_AT_PERIOD_END
    assert preview.effective_time == (made.trial_end if at_trial_end else made.trial_start)
    await ada.portal.ChangePortalSubscription(
        customer_portal_pb2.ChangePortalSubscriptionRequest(**ask), metadata=ada.metadata()
    )
    await ada.advance_clock(made.trial_end.ToDatetime(tzinfo=dt.UTC))

    async def first_order() -> orders_pb2.Order | None:
        found = await orders_of(shop, made.id)
        return found[0] if found else None

    order = await eventually(first_order, seconds=30.0)
    assert figures(order) == figures(preview.next_renewal)


# ---- changes: what a customer may change to ----------------------------------


async def test_a_customer_may_change_to_the_organizations_live_products_only(
    shop: Shop, other_shop: Shop
) -> None:
    pro = await shop.product(fixed_price(2000), name="Pro")
    team = await shop.product(fixed_price(15000), name="Team")
    gone = await shop.product(fixed_price(500), name="Legacy")
    shop.clock.advance(dt.timedelta(seconds=1))
    await shop.products().UpdateProduct(
        products_pb2.UpdateProductRequest(
            product=products_pb2.Product(id=gone.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=shop.metadata,
    )
    theirs = await other_shop.product(fixed_price(100), name="Cheap")
    ada = await customer_of(shop)
    sub = await active(ada, pro)

    async def preview(price_id: str, seats: int = 0) -> Any:
        return await ada.portal.PreviewPortalSubscriptionChange(
            customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(
                id=sub.id, price_id=price_id, seats=seats
            ),
            metadata=ada.metadata(),
        )

    async def change(price_id: str, seats: int = 0) -> Any:
        return await ada.portal.ChangePortalSubscription(
            customer_portal_pb2.ChangePortalSubscriptionRequest(
                id=sub.id, price_id=price_id, seats=seats
            ),
            metadata=ada.metadata(),
        )

    async def both_refused(price_id: str, seats: int = 0) -> tuple[Any, str]:
        """The preview's and the change's refusal, which must be the same."""
        previewed = await refused(preview(price_id, seats))
        changed = await refused(change(price_id, seats))
        assert (previewed.code, previewed.reason) == (changed.code, changed.reason)
        return changed.code, changed.reason

    assert await both_refused(theirs.prices[0].id) == (NOT_FOUND, "PRICE_NOT_FOUND")
    assert await both_refused(gone.prices[0].id) == (FAILED_PRECONDITION, "PRODUCT_ARCHIVED")
    assert await both_refused(pro.prices[0].id) == (FAILED_PRECONDITION, "NO_CHANGE")
    assert await both_refused("", seats=3) == (FAILED_PRECONDITION, "SEATS_NOT_ALLOWED")
    # Another live product of the organization is fine (its pricing table's).
    assert (await preview(team.prices[0].id)).product_name == "Team"
    # Not while it ends at the period's end: uncancel first.
    await ada.portal.CancelPortalSubscription(
        customer_portal_pb2.CancelPortalSubscriptionRequest(id=sub.id), metadata=ada.metadata()
    )
    assert await both_refused(team.prices[0].id) == (FAILED_PRECONDITION, "SUBSCRIPTION_CANCELING")
    assert len(await orders_of(shop, sub.id)) == 1


async def test_only_an_active_or_trialing_subscription_is_changed_by_its_customer(
    shop: Shop,
) -> None:
    """A past-due, incomplete or unpaid subscription has not paid for its
    period: a change would credit its unused time, never paid. The customer
    pays what is due first."""
    pro = await shop.product(fixed_price(2000), name="Pro")
    team = await shop.product(fixed_price(15000), name="Team")
    ada = await customer_of(shop)
    late = await active(ada, pro)
    await execute(
        shop.database,
        update(models.subscriptions)
        .where(models.subscriptions.c.id == uuid.UUID(late.id))
        .values(status="past_due"),
    )
    gave_up = await active(ada, pro)
    await execute(
        shop.database,
        update(models.subscriptions)
        .where(models.subscriptions.c.id == uuid.UUID(gave_up.id))
        .values(status="unpaid"),
    )
    unstarted = await shop.subscribe(customer_id=ada.id, product_id=pro.id, currency="USD")
    assert unstarted.status == subscriptions_pb2.SUBSCRIPTION_STATUS_INCOMPLETE

    for sub_id, status in (
        (late.id, "past_due"),
        (unstarted.id, "incomplete"),
        (gave_up.id, "unpaid"),
    ):
        for call in (
            ada.portal.PreviewPortalSubscriptionChange(
                customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(
                    id=sub_id, price_id=team.prices[0].id
                ),
                metadata=ada.metadata(),
            ),
            ada.portal.ChangePortalSubscription(
                customer_portal_pb2.ChangePortalSubscriptionRequest(
                    id=sub_id, price_id=team.prices[0].id
                ),
                metadata=ada.metadata(f"change-{status}"),
            ),
        ):
            error = await refused(call)
            assert (error.code, error.reason) == (FAILED_PRECONDITION, "SUBSCRIPTION_NOT_ACTIVE")
            assert status in error.message, error
        assert len(await orders_of(shop, sub_id)) == 1
    untouched = await shop.subscriptions().GetSubscription(
        subscriptions_pb2.GetSubscriptionRequest(id=late.id), metadata=shop.metadata
    )
    assert untouched.price_id == pro.prices[0].id


async def test_the_portal_names_each_product_and_shows_a_live_discount_only(shop: Shop) -> None:
    pro = await shop.product(fixed_price(2000), name="Pro")
    team = await shop.product(fixed_price(15000), name="Team")
    ada = await customer_of(shop)
    forever = await shop.discount(
        discounts_pb2.Discount(
            name="Friends",
            percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
            duration=discounts_pb2.DISCOUNT_DURATION_FOREVER,
        )
    )
    discounted = await active(ada, pro, discount_id=forever.id)
    plain = await active(ada, team)
    spent = await active(ada, team, discount_id=forever.id)
    await execute(
        shop.database,
        update(models.subscriptions)
        .where(models.subscriptions.c.id == uuid.UUID(spent.id))
        .values(discount_remaining_orders=0),
    )

    listed = await ada.portal.ListPortalSubscriptions(
        customer_portal_pb2.ListPortalSubscriptionsRequest(), metadata=ada.metadata()
    )
    shown = {s.id: s for s in listed.subscriptions}
    assert [shown[s.id].product_name for s in (discounted, plain, spent)] == ["Pro", "Team", "Team"]
    assert shown[discounted.id].discount.name == "Friends"
    assert shown[discounted.id].discount.percent_off_basis_points == 1000
    assert not shown[plain.id].HasField("discount")
    assert not shown[spent.id].HasField("discount")


# ---- orders and invoices --------------------------------------------------------


@pytest.fixture
async def named_shop(
    subscriptions_service: RunningService, catalog_service: Neighbour, customers_service: Neighbour
) -> AsyncIterator[Shop]:
    """A shop whose organization the customers service knows (its name is
    on the invoices)."""
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    made = await admin.CreateOrganization(
        organizations_pb2.CreateOrganizationRequest(
            organization=organizations_pb2.Organization(name="Łódź Ωmega Software")
        ),
        metadata=call_metadata(),
    )
    shop = Shop(
        uuid.UUID(made.organization.id),
        subscriptions_service,
        catalog_service,
        subscriptions_service.app.clock,
    )
    yield shop
    await take_off_the_workers(shop.database, shop.organization_id)


async def test_orders_and_their_invoice_are_the_customers_own(
    named_shop: Shop, customers_service: Neighbour
) -> None:
    shop = named_shop

    async def in_the_customers_service(clock_id: str) -> str:
        made: customers_pb2.Customer = await customers_pb2_grpc.CustomerServiceStub(
            customers_service.channel
        ).CreateCustomer(
            customers_pb2.CreateCustomerRequest(
                customer=customers_pb2.Customer(
                    email="taro@example.com",
                    name="山田 太郎 (Дмитрий)",
                    billing_address=address_pb2.Address(
                        line1="Unter den Linden 1",
                        postal_code="10117",
                        city="Berlin",
                        country="DE",
                    ),
                    test_clock_id=clock_id,
                )
            ),
            metadata=shop.metadata,
        )
        await known_to_catalog(shop, made.id)
        return made.id

    ada = await customer_of(shop, in_the_customers_service)
    bob = await customer_of(shop)
    product = await shop.product(fixed_price(12345), name="Team Ünlimited")
    mine = await active(ada, product)
    theirs = await active(bob, product)
    [my_order] = await orders_of(shop, mine.id)
    [their_order] = await orders_of(shop, theirs.id)

    listed = await ada.portal.ListPortalOrders(
        customer_portal_pb2.ListPortalOrdersRequest(), metadata=ada.metadata()
    )
    assert [o.id for o in listed.orders] == [my_order.id]
    shown = listed.orders[0]
    assert (shown.total_minor, shown.amount_paid_minor) == (12345, 12345)
    assert shown.status == orders_pb2.ORDER_STATUS_PAID
    assert [line.description for line in shown.lines] == ["Team Ünlimited"]
    assert len(shown.invoice_number) == 26
    only_theirs = await ada.portal.ListPortalOrders(
        customer_portal_pb2.ListPortalOrdersRequest(subscription_id=theirs.id),
        metadata=ada.metadata(),
    )
    assert list(only_theirs.orders) == []
    for call in (
        ada.portal.GetPortalOrder(
            customer_portal_pb2.GetPortalOrderRequest(id=their_order.id), metadata=ada.metadata()
        ),
        ada.portal.GetPortalOrderInvoice(
            customer_portal_pb2.GetPortalOrderInvoiceRequest(id=their_order.id),
            metadata=ada.metadata(),
        ),
    ):
        error = await refused(call)
        assert (error.code, error.reason) == (NOT_FOUND, "ORDER_NOT_FOUND"), error

    invoice = await ada.portal.GetPortalOrderInvoice(
        customer_portal_pb2.GetPortalOrderInvoiceRequest(id=my_order.id), metadata=ada.metadata()
    )
    assert invoice.content_type == "application/pdf"
    assert invoice.data.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice.data)).pages)
    period = (
        f"{mine.current_period_start.ToDatetime().date().isoformat()} – "
        f"{mine.current_period_end.ToDatetime().date().isoformat()}"
    )
    for expected in (
        printed("Łódź Ωmega Software"),
        "Invoice",
        shown.invoice_number,
        printed("山田 太郎 (Дмитрий)"),
        "taro@example.com",
        "Unter den Linden 1",
        "10117 Berlin",
        "Team Ünlimited",
        period,
        "USD 123.45",
        "Total",
        "Amount paid",
        f"Paid {my_order.paid_time.ToDatetime().date().isoformat()}",
    ):
        assert expected in text, (expected, text.splitlines()[6:14])
    again = await ada.portal.GetPortalOrderInvoice(
        customer_portal_pb2.GetPortalOrderInvoiceRequest(id=my_order.id), metadata=ada.metadata()
    )
    assert again.data == invoice.data  # the same document every time


async def test_seats_added_then_removed_in_a_period_are_credited_back_in_full(
    shop: Shop,
) -> None:
    """1 → 10 → 1 seats at one moment: the second change credits the unused
    time of the ten seats the first one charged (not of the one the period's
    order billed), so the customer ends where they began."""
    await proration(shop, subscriptions_pb2.PRORATION_BEHAVIOR_INVOICE_NOW)
    seats = await shop.product(seat_price(1, 50, per_seat=1000), name="Seats")
    ada = await customer_of(shop)
    sub = await active(ada, seats, seats=1)
    start = sub.current_period_start.ToDatetime(tzinfo=dt.UTC)
    await ada.move_clock(start + dt.timedelta(days=5))

    def asked(count: int) -> Any:
        return customer_portal_pb2.PreviewPortalSubscriptionChangeRequest(id=sub.id, seats=count)

    up = await ada.portal.PreviewPortalSubscriptionChange(asked(10), metadata=ada.metadata())
    await ada.portal.ChangePortalSubscription(
        customer_portal_pb2.ChangePortalSubscriptionRequest(id=sub.id, seats=10),
        metadata=ada.metadata("seats-up"),
    )
    _first, up_order = await orders_of(shop, sub.id)
    await pay(shop, up_order.id)
    down = await ada.portal.PreviewPortalSubscriptionChange(asked(1), metadata=ada.metadata())
    one_unused, ten_remaining = (line.amount_minor for line in up.proration_lines)
    ten_unused, one_remaining = (line.amount_minor for line in down.proration_lines)
    assert ten_unused == -ten_remaining
    assert one_remaining == -one_unused
    assert down.amount_due_now_minor == 0
