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
  for a new plan that then ends unrenewed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.errors import FailedPrecondition, NotFound
from billingos_kit.pagination import Page, page_request
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.change_preview import ChangePreview, preview_change
from billingos_subscriptions.models import Order, OrderLine, Subscription
from billingos_subscriptions.repository import OrderFilter, SubscriptionFilter
from billingos_subscriptions.subscriptions import ChangePlan, Subscriptions


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
        await self.get(subscription_id)
        request = subscriptions_pb2.ChangeSubscriptionRequest(
            id=str(subscription_id),
            price_id=price_id,
            seats=seats,
            # The organization's default: the customer does not choose.
            proration_behavior=subscriptions_pb2.PRORATION_BEHAVIOR_UNSPECIFIED,
        )
        plan = await self._subscriptions.plan_change(request, subscription_id, lock=lock)
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
