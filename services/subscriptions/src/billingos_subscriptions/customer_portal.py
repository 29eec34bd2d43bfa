"""The customer portal's subscriptions and orders (customer_portal.proto):
each bounded by the customer session's customer, which the kit puts in the
call's scope from the token (a request has no field to name another), so
another customer's subscription or order is not found, exactly as another
organization's is. Mutations run the merchant API's own domain code
(`Subscriptions.cancel`, `.uncancel`, `.plan_change` and `.apply_change`)
with what a customer may not choose fixed:

- cancelling is at the period's end only (the period is paid for; an
  incomplete or unpaid subscription, which has none to finish, is the
  merchant's to end and what it owes the merchant's to forgive);
- a change takes the organization's proration behaviour
  (BillingSettings.proration_behavior), never one the customer picks (NONE
  would make an upgrade free until the renewal);
- a change may buy any static price, in the subscription's currency and
  billing period, of any product of the organization that is not archived:
  exactly what the organization's public catalog (its pricing table) offers
  anyone, the products of its checkout links among them, and the other
  prices and seats of the subscription's own product. Archiving a product or
  a price takes it out of the portal as out of the catalog
  (PRODUCT_ARCHIVED, PRICE_ARCHIVED); another organization's price is not
  found. The engine's own rules still hold (INTERVAL_MISMATCH: a monthly
  subscription does not become yearly by a change);
- a subscription set to end at its period's end is not changed
  (SUBSCRIPTION_CANCELING): uncancel it first, so a customer never pays
  for a new plan that then ends unrenewed;
- only an ACTIVE or TRIALING subscription is changed (or previewed)
  (SUBSCRIPTION_NOT_ACTIVE): a past-due, incomplete or unpaid one has a
  period it has not paid for, whose unused time a change must not credit;
  the customer pays what is due (a new card retries it) first.

The portal's subscription messages are built here too (`messages`): the
items, the products' names (one read of the copy for every product, the
catalog asked only of one it has not copied) and the discount while it
covers the current period, so portal_messages only shapes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.subscriptions.v1 import customer_portal_pb2, subscriptions_pb2
from billingos_kit.errors import FailedPrecondition, NotFound
from billingos_kit.pagination import Page, page_request
from billingos_subscriptions import order_amounts
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.change_preview import ChangePreview, preview_change
from billingos_subscriptions.models import Order, OrderLine, Subscription
from billingos_subscriptions.portal_messages import PortalDiscountView, portal_subscription_message
from billingos_subscriptions.repository import OrderFilter, RenewalRows, SubscriptionFilter
from billingos_subscriptions.subscriptions import ChangePlan, Subscriptions
from billingos_subscriptions.vocabulary import SubscriptionStatus

# What a customer may change: a subscription whose current period is paid
# for (or free, in a trial).
CHANGEABLE = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})


def refuse_unless_changeable(row: Subscription) -> None:
    """FAILED_PRECONDITION (SUBSCRIPTION_NOT_ACTIVE) unless the customer may
    change the subscription: a past-due, incomplete or unpaid one has not
    paid for its period, so a change would credit time never paid. An ended
    one is left to the engine's own refusal (SUBSCRIPTION_ENDED)."""
    status = SubscriptionStatus(row.status)
    if row.ended_at is not None or status is SubscriptionStatus.CANCELED:
        return
    if status not in CHANGEABLE:
        raise FailedPrecondition(
            f"the subscription is {status.value}: pay what is due before changing it",
            reason="SUBSCRIPTION_NOT_ACTIVE",
        )


def live_discount(row: Subscription) -> PortalDiscountView | None:
    """The subscription's discount while it covers the current period, with
    its effect in the subscription's currency (None: none, or spent)."""
    if row.discount_snapshot is None or not order_amounts.discount_live(
        row.discount_remaining_orders, row.discount_end_at, row.current_period_start
    ):
        return None
    discount = discounts_pb2.Discount()
    discount.ParseFromString(row.discount_snapshot)
    return PortalDiscountView(
        discount=discount,
        effect=order_amounts.invoice_discount(discount, row.currency),
        end_at=row.discount_end_at,
        remaining_orders=row.discount_remaining_orders,
    )


class PortalSubscriptions:
    """The session's customer's subscriptions."""

    def __init__(self, subscriptions: Subscriptions, customer_id: uuid.UUID) -> None:
        self._subscriptions = subscriptions
        self._customer_id = customer_id

    @property
    def service(self) -> Subscriptions:
        return self._subscriptions

    async def page(self, page_size: int, page_token: str) -> Page[Subscription]:
        """One page of the customer's subscriptions, ended ones too, newest first."""
        where = SubscriptionFilter(customer_id=self._customer_id)
        return await self._subscriptions.list_page(
            where, page_request(page_size, page_token, where)
        )

    async def get(self, subscription_id: uuid.UUID) -> Subscription:
        """The subscription if it is the customer's; NotFound otherwise."""
        found = await self._subscriptions.billing.subscriptions.of_customer_by_id(
            subscription_id, self._customer_id
        )
        if found is None:
            raise NotFound("subscription", str(subscription_id))
        return found

    async def messages(
        self, rows: Sequence[Subscription]
    ) -> list[customer_portal_pb2.PortalSubscription]:
        """The subscriptions as their customer sees them, in `rows`' order."""
        service = self._subscriptions
        items = await service.items_of(list(rows))
        products = await self._products({row.product_id for row in rows})
        return [
            portal_subscription_message(
                row, items[row.id], products.get(row.product_id), discount=live_discount(row)
            )
            for row in rows
        ]

    async def message(self, row: Subscription) -> customer_portal_pb2.PortalSubscription:
        (found,) = await self.messages([row])
        return found

    async def _products(
        self, product_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, products_pb2.Product | None]:
        """The products by id: the copy's in one read (keyed by the call's
        organization and each id), the catalog asked of one not copied yet."""
        catalog = self._subscriptions.catalog
        organization_id = self._subscriptions.billing.scope.organization_id
        wanted = sorted(set(product_ids))
        found: dict[uuid.UUID, products_pb2.Product | None] = {}
        rows = RenewalRows(self._subscriptions.billing.scope)
        for copy in await rows.products_of([(organization_id, pid) for pid in wanted]):
            product = products_pb2.Product()
            product.ParseFromString(copy.payload)
            found[copy.id] = product
        for product_id in wanted:
            if product_id not in found:
                found[product_id] = await catalog.product(product_id)
        return found

    async def cancel(self, subscription_id: uuid.UUID, comment: str) -> Subscription:
        await self.get(subscription_id)
        return await self._subscriptions.cancel(subscription_id, False, comment)

    async def uncancel(self, subscription_id: uuid.UUID) -> Subscription:
        await self.get(subscription_id)
        return await self._subscriptions.uncancel(subscription_id)

    async def preview_change(
        self, subscription_id: uuid.UUID, price_id: str, seats: int
    ) -> ChangePreview:
        """What `change` would do and bill now; writes nothing."""
        plan = await self._plan(subscription_id, price_id, seats, lock=False)
        return await preview_change(self._subscriptions.billing, plan)

    async def change(self, subscription_id: uuid.UUID, price_id: str, seats: int) -> Subscription:
        plan = await self._plan(subscription_id, price_id, seats, lock=True)
        return await self._subscriptions.apply_change(plan)

    async def _plan(
        self, subscription_id: uuid.UUID, price_id: str, seats: int, *, lock: bool
    ) -> ChangePlan:
        refuse_unless_changeable(await self.get(subscription_id))
        request = subscriptions_pb2.ChangeSubscriptionRequest(
            id=str(subscription_id),
            price_id=price_id,
            seats=seats,
            # The organization's default: the customer does not choose.
            proration_behavior=subscriptions_pb2.PRORATION_BEHAVIOR_UNSPECIFIED,
        )
        plan = await self._subscriptions.plan_change(request, subscription_id, lock=lock)
        # Again on the row the plan read (locked, for a change): a payment
        # may have failed in between.
        refuse_unless_changeable(plan.row)
        if plan.row.cancel_at_period_end:
            raise FailedPrecondition(
                "the subscription ends at the end of its period: uncancel it before changing it",
                reason="SUBSCRIPTION_CANCELING",
            )
        return plan


class PortalOrders:
    """The session's customer's final orders (a draft's usage is still being
    read: its figures are not an invoice yet)."""

    def __init__(self, billing: Billing, customer_id: uuid.UUID) -> None:
        self._billing = billing
        self._customer_id = customer_id

    async def page(
        self, subscription_id: uuid.UUID | None, page_size: int, page_token: str
    ) -> Page[Order]:
        """One page, newest first; of one subscription when named (another
        customer's subscription has none of this customer's orders)."""
        where = OrderFilter(
            customer_id=self._customer_id, subscription_id=subscription_id, final=True
        )
        return await self._billing.orders.page(where, page_request(page_size, page_token, where))

    async def get(self, order_id: uuid.UUID) -> Order:
        """The order if it is the customer's and final; NotFound otherwise."""
        found = await self._billing.orders.final_of_customer(order_id, self._customer_id)
        if found is None:
            raise NotFound("order", str(order_id))
        return found

    async def lines_of(self, orders: Sequence[Order]) -> dict[uuid.UUID, list[OrderLine]]:
        found: dict[uuid.UUID, list[OrderLine]] = {order.id: [] for order in orders}
        for line in await self._billing.lines.of_orders([order.id for order in orders]):
            found[line.order_id].append(line)
        return found
