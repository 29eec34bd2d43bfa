"""One-time purchases: a product without a billing period, bought once at
checkout. What it buys (its price, fresh from the catalog: only an amount
the engine can charge as it is, a fixed or a free price), its one line, and
its order: billing reason PURCHASE, no subscription, opened once per
checkout (its billing key), priced by the invoice arithmetic with the
discount and the customer's tax rate, and charged on the card the buyer
saved. No dunning: what was never paid for was never delivered, so a
declined card reopens the checkout (checkout_outcome.py) and the order is
voided when the checkout gives up. A paid order is what the entitlements
service grants a one-time product's benefits from."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from billingos.catalog.v1 import products_pb2
from billingos_kit.errors import FailedPrecondition, NotFound
from billingos_subscriptions import order_amounts, price_lines
from billingos_subscriptions.billing import LineDraft, blank_order, purchase_billing_key
from billingos_subscriptions.models import Order
from billingos_subscriptions.subscriptions import Subscriptions
from billingos_subscriptions.vocabulary import BillingReason, LineKind, OrderStatus

# Price kinds a one-time purchase charges as they are. A pay-what-you-want
# price needs the buyer's amount, which checkout does not ask for yet.
_PURCHASABLE = frozenset({"fixed", "free"})


@dataclass(frozen=True)
class OneTime:
    """What a one-time purchase buys: the product and its one price."""

    product: products_pb2.Product
    price: products_pb2.Price

    @property
    def static(self) -> products_pb2.Price:
        return self.price

    @property
    def currency(self) -> str:
        return self.price.currency

    @property
    def seats(self) -> int:
        return 0


@dataclass(frozen=True)
class PurchaseRequest:
    """A checkout's purchase: who buys what with which card, under which
    reference (the catalog's purchase and redemption, and the order's
    billing key), with the discount code typed and the discounts allowed."""

    customer_id: uuid.UUID
    bought: OneTime
    payment_method_id: uuid.UUID
    reference: str
    discount_code: str
    allowed_discount_ids: frozenset[str]
    field: str


def purchase_lines(bought: OneTime) -> list[LineDraft]:
    """The purchase's one line: the price's amount, once."""
    price = bought.price
    charge = price_lines.static_charge(price, 0)
    return [
        LineDraft(
            kind=LineKind.PLAN,
            description=bought.product.name,
            amount=charge.amount_minor,
            price_id=uuid.UUID(price.id),
            product_id=uuid.UUID(price.product_id),
            quantity=charge.quantity,
            tax_behavior=price_lines.tax_behavior_of(price),
        )
    ]


class Purchases:
    """The organization's one-time purchases, on a call's scope."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subscriptions = subscriptions
        self._billing = subscriptions.billing
        self._scope = subscriptions.billing.scope

    async def bought(
        self, product: products_pb2.Product, price_id: uuid.UUID, seats: int, *, field: str
    ) -> OneTime:
        """The one-time product's price as the catalog has it now: archived
        ones, another product's, seats and amounts the engine cannot charge
        as they are refused."""
        if product.archived:
            raise FailedPrecondition(
                f"{field}.price_id: the product is archived", reason="PRODUCT_ARCHIVED"
            )
        price = await self._subscriptions.catalog.price(price_id, fresh=True)
        if price is None or price.product_id != product.id:
            raise NotFound("price", str(price_id))
        if price.archived:
            raise FailedPrecondition(
                f"{field}.price_id: the price is archived", reason="PRICE_ARCHIVED"
            )
        if price_lines.kind_of(price) not in _PURCHASABLE:
            raise FailedPrecondition(
                f"{field}.price_id: only a fixed or free price can be bought once "
                "(a pay-what-you-want amount is not asked for at checkout yet)",
                reason="PRICE_NOT_PURCHASABLE",
            )
        if seats:
            raise FailedPrecondition(
                f"{field}.seats: only a seat-based price has seats", reason="SEATS_NOT_ALLOWED"
            )
        return OneTime(product, price)

    async def buy(self, request: PurchaseRequest) -> Order:
        """Opens the purchase's order once (a second call with the same
        reference returns the first's) and charges the card; the discount's
        redemption is the last remote step, so a refused purchase never uses
        up a limited code."""
        billing = self._billing
        key = purchase_billing_key(request.reference)
        existing = await billing.orders.by_billing_key(key)
        if existing is not None:
            return existing
        customer = await self._subscriptions.catalog.customer(request.customer_id, fresh=True)
        if customer is None or customer.deleted_at is not None:
            raise NotFound("customer", str(request.customer_id))
        now = await billing.now_for(customer.test_clock_id)
        bought = request.bought
        chosen = await self._subscriptions.discount(
            request.discount_code,
            None,
            bought,
            request.customer_id,
            request.reference,
            now,
            field=f"{request.field}.discount_code",
            allowed=request.allowed_discount_ids,
        )
        frozen = await self._subscriptions.record_purchase(
            [bought.price], request.reference, request.customer_id
        )
        bought = dataclasses.replace(bought, price=frozen[0])
        discount = None
        if chosen is not None and order_amounts.discount_live(
            chosen.remaining_orders, chosen.ends_at, now
        ):
            discount = order_amounts.invoice_discount(chosen.discount, bought.currency)
        order = blank_order(
            self._scope.organization_id,
            request.customer_id,
            bought.currency,
            customer.test_clock_id,
            BillingReason.PURCHASE,
            key,
            self._scope.clock,
            now,
        )
        await billing.wake_clock(customer.test_clock_id)
        if not await billing.open_purchase(
            order, purchase_lines(bought), discount, request.payment_method_id, now
        ):
            # Opened meanwhile under the same key (a checkout's row lock
            # makes this unreachable from checkout; kept for any caller).
            opened = await billing.orders.by_billing_key(key)
            assert opened is not None
            return opened
        if chosen is not None:
            await self._subscriptions.redeem(chosen)
        return order

    async def retry_with(
        self, order_id: uuid.UUID, payment_method_id: uuid.UUID, *, field: str
    ) -> Order:
        """The purchase's order charged anew on another card after a decline:
        its next attempt (never a second order)."""
        billing = self._billing
        order = await billing.orders.require(order_id, for_update=True)
        if OrderStatus(order.status) is not OrderStatus.PENDING:
            raise FailedPrecondition(
                f"{field}: the checkout's purchase is no longer waiting for payment; "
                "open a new checkout",
                reason="CHECKOUT_SESSION_EXPIRED",
            )
        if not await billing.in_flight(order):
            now = await billing.now_for(order.test_clock_id)
            await billing.request_attempt(order, payment_method_id, now)
        return order


def is_one_time(product: products_pb2.Product) -> bool:
    """A product without a billing period is bought once, never subscribed to."""
    return not product.HasField("recurring")
