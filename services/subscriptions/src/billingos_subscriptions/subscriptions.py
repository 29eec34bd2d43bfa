"""Subscriptions: buying a product's prices (with a trial, a discount), and
canceling, uncanceling and changing them. Periods come from periods.py in the
organization's billing time zone; money from billing.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.protoconv import metadata_from_proto, timestamp
from billingos_kit.validation import Violations, check_metadata, check_text
from billingos_kit.workscope import WorkScope
from billingos_pricing import amounts
from billingos_pricing.currencies import UnknownCurrency, normalize_currency
from billingos_pricing.prorations import ProrationWindow, charge_for_remaining, credit_for_unused
from billingos_subscriptions import events, price_lines
from billingos_subscriptions.billing import (
    Billing,
    LineDraft,
    period_billing_key,
    price_of,
    schedule_next_action,
)
from billingos_subscriptions.catalog_copy import Catalog
from billingos_subscriptions.clients import CatalogClient, PaymentsClient
from billingos_subscriptions.models import PendingLine, Subscription, SubscriptionItem
from billingos_subscriptions.periods import BillingInterval, IntervalUnit, boundary
from billingos_subscriptions.repository import SubscriptionFilter
from billingos_subscriptions.seats import refuse_fewer_than_assigned
from billingos_subscriptions.vocabulary import (
    CANCELABLE,
    RENEWING,
    BillingReason,
    CancellationReason,
    LineKind,
    OrderStatus,
    ProrationBehavior,
    SubscriptionStatus,
)

MAX_COMMENT = 500
MAX_SEATS = 1_000_000


@dataclass(frozen=True)
class Bought:
    """What a create or change buys: the product, the prices (static first),
    the billing period, the seats."""

    product: products_pb2.Product
    prices: list[products_pb2.Price]
    static: products_pb2.Price | None
    currency: str
    interval: BillingInterval
    seats: int


class Buying(Protocol):
    """What a discount is validated against: a subscription's `Bought` or a
    one-time purchase's (purchases.OneTime)."""

    @property
    def product(self) -> products_pb2.Product: ...

    @property
    def static(self) -> products_pb2.Price | None: ...

    @property
    def currency(self) -> str: ...

    @property
    def seats(self) -> int: ...


@dataclass(frozen=True)
class ChosenDiscount:
    """A discount that applies to a purchase, as validated: the catalog's
    discount, the promotion code named (if one was), when it stops applying
    (a repeating one), the orders it has left (a once-only one: 1), and the
    redemption the purchase makes once everything else has succeeded."""

    discount: discounts_pb2.Discount
    promotion_code_id: uuid.UUID | None
    ends_at: dt.datetime | None
    remaining_orders: int | None
    redemption: discounts_pb2.RedeemDiscountRequest


@dataclass(frozen=True)
class ChangePlan:
    """A change worked out and not yet written: the subscription as read
    (locked, for a change), what it will buy, the proration behaviour, the
    business time it happens at, its live items and the proration lines it
    bills (none in a trial, for NONE or AT_PERIOD_END). A change writes
    exactly this; a preview prices exactly this."""

    row: Subscription
    bought: Bought
    behavior: ProrationBehavior
    now: dt.datetime
    items: list[SubscriptionItem]
    prorations: list[LineDraft]


def _not_allowed(field: str) -> FailedPrecondition:
    description = "this code is not accepted here"
    return FailedPrecondition(
        f"{field}: {description}",
        reason="DISCOUNT_NOT_ALLOWED",
        violations=[FieldViolation(field, description)],
    )


def _id(value: str, field: str, violations: Violations) -> uuid.UUID | None:
    if not value:
        return None
    parsed = canonical_id(value)
    if parsed is None:
        violations.add(field, "must be an id in canonical UUID form (lower-case hex with hyphens)")
    return parsed


MAX_TRIAL_DAYS = 730  # Stripe's bound


def check_trial(violations: Violations, trial: products_pb2.Period, field: str = "trial") -> None:
    days = {
        products_pb2.INTERVAL_DAY: 1,
        products_pb2.INTERVAL_WEEK: 7,
        products_pb2.INTERVAL_MONTH: 31,
        products_pb2.INTERVAL_YEAR: 366,
    }.get(trial.interval)
    if days is None:
        violations.add(f"{field}.interval", "must be INTERVAL_DAY, _WEEK, _MONTH or _YEAR")
    elif not 1 <= trial.count <= 365:
        violations.add(f"{field}.count", "must be 1 to 365")
    elif days * trial.count > MAX_TRIAL_DAYS + (0 if days == 1 else days):
        violations.add(field, f"may last at most {MAX_TRIAL_DAYS} days")


def _period_key(period: products_pb2.Period) -> tuple[int, int]:
    return (period.interval, period.count or 1)


def first_period_line(
    bought_price: products_pb2.Price,
    product: products_pb2.Product,
    seats: int,
    start: dt.datetime,
    end: dt.datetime,
) -> LineDraft:
    charge = price_lines.static_charge(bought_price, seats)
    kind = LineKind.SEATS if charge.kind == "seats" else LineKind.PLAN
    description = product.name if kind is LineKind.PLAN else f"{product.name} × {seats} seats"
    return LineDraft(
        kind=kind,
        description=description,
        amount=charge.amount_minor,
        price_id=uuid.UUID(bought_price.id),
        product_id=uuid.UUID(bought_price.product_id),
        period_start=start,
        period_end=end,
        quantity=charge.quantity,
        tax_behavior=price_lines.tax_behavior_of(bought_price),
    )


def period_lines(
    prices: Iterable[products_pb2.Price],
    product: products_pb2.Product | None,
    seats: int,
    start: dt.datetime,
    end: dt.datetime,
) -> list[LineDraft]:
    """A period's lines, billed in advance: one per static price (a metered
    price is billed at the period's end, by its usage). The first order,
    every renewal and a change's preview of the next renewal all take their
    lines from here. `product`: the prices' product (a static price names
    it on its line; metered prices alone need none)."""
    lines = []
    for price in prices:
        if price_lines.is_metered(price):
            continue
        assert product is not None, "a static price's product is known"
        lines.append(first_period_line(price, product, seats, start, end))
    return lines


def next_period(sub: Subscription) -> tuple[dt.datetime, dt.datetime]:
    """The period the subscription's next order opens: in a trial, the first
    billing period (from the trial's end); otherwise the one after the
    current, counted from the anchor in the subscription's time zone (so
    Jan 31 renews on Feb 28, then Mar 31)."""
    zone = ZoneInfo(sub.time_zone or "UTC")
    interval = BillingInterval(IntervalUnit(sub.interval_unit), sub.interval_count)
    if SubscriptionStatus(sub.status) is SubscriptionStatus.TRIALING and sub.trial_end is not None:
        return sub.trial_end, boundary(sub.trial_end, interval, 1, zone)
    return sub.current_period_end, boundary(
        sub.billing_anchor_at, interval, sub.period_number + 2, zone
    )


class Subscriptions:
    def __init__(
        self,
        scope: WorkScope,
        real_clock: Clock,
        catalog: CatalogClient,
        directory: CustomerDirectory,
        payments: PaymentsClient | None = None,
    ) -> None:
        self._scope = scope
        self._payments = payments
        self._catalog_client = catalog
        self.billing = Billing(scope, real_clock)
        self.catalog = Catalog(scope, catalog, directory)

    # ---- reads ----------------------------------------------------------------

    async def get(self, subscription_id: uuid.UUID) -> Subscription:
        return await self.billing.subscriptions.require(subscription_id)

    async def items_of(self, rows: list[Subscription]) -> dict[uuid.UUID, list[SubscriptionItem]]:
        found: dict[uuid.UUID, list[SubscriptionItem]] = {row.id: [] for row in rows}
        for item in await self.billing.items.of_subscriptions([row.id for row in rows]):
            found[item.subscription_id].append(item)
        return found

    async def list_page(self, where: SubscriptionFilter, page: PageRequest) -> Page[Subscription]:
        return await self.billing.subscriptions.page(where, page)

    # ---- buying ---------------------------------------------------------------

    async def bought(
        self,
        product_id: uuid.UUID,
        price_id: uuid.UUID | None,
        currency: str,
        seats: int,
        *,
        field: str,
    ) -> Bought:
        product = await self.catalog.product(product_id, fresh=True)
        if product is None:
            raise NotFound("product", str(product_id))
        if product.archived:
            raise FailedPrecondition(
                f"{field}.product_id: the product is archived", reason="PRODUCT_ARCHIVED"
            )
        if not product.HasField("recurring"):
            raise FailedPrecondition(
                f"{field}.product_id: a one-time product cannot be subscribed to",
                reason="PRODUCT_NOT_RECURRING",
            )
        candidates = [p for p in await self.catalog.prices_of(product) if not p.archived]
        chosen: products_pb2.Price | None = None
        if price_id is not None:
            chosen = await self.catalog.price(price_id, fresh=True)
            if chosen is None or chosen.product_id != str(product_id):
                raise NotFound("price", str(price_id))
            if chosen.archived:
                raise FailedPrecondition(
                    f"{field}.price_id: the price is archived", reason="PRICE_ARCHIVED"
                )
            if all(p.id != chosen.id for p in candidates):
                candidates.append(chosen)
            if currency and currency != chosen.currency:
                raise InvalidArgument(
                    f"{field}.currency", f"the price is in {chosen.currency}, not {currency}"
                )
            currency = chosen.currency

        def period_of(price: products_pb2.Price) -> products_pb2.Period:
            return price.recurring if price.HasField("recurring") else product.recurring

        in_currency = [p for p in candidates if p.currency == currency]
        if not in_currency:
            raise FailedPrecondition(
                f"{field}.currency: the product has no active price in {currency}",
                reason="NO_PRICE_IN_CURRENCY",
            )
        if chosen is not None:
            wanted = _period_key(period_of(chosen))
        else:
            periods = {_period_key(period_of(p)) for p in in_currency}
            if len(periods) > 1:
                raise FailedPrecondition(
                    f"{field}.price_id: the product has prices for several billing periods in "
                    f"{currency}; name the price",
                    reason="PRICE_REQUIRED",
                )
            wanted = periods.pop()
        bought = [p for p in in_currency if _period_key(period_of(p)) == wanted]
        statics = [p for p in bought if not price_lines.is_metered(p)]
        static = statics[0] if statics else None
        for index, price in enumerate(bought):
            price_lines.check_subscribable(
                price,
                f"{field}.price_id" if chosen and price.id == chosen.id else f"prices[{index}]",
            )
        if static is not None and price_lines.kind_of(static) == "seat_based":
            minimum, maximum = price_lines.seat_limits(static)
            if seats == 0:
                seats = minimum
            if seats < minimum or (maximum is not None and seats > maximum):
                bound = f"{minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
                raise FailedPrecondition(
                    f"{field}.seats: the price allows {bound} seats", reason="SEATS_OUT_OF_RANGE"
                )
        elif seats:
            raise FailedPrecondition(
                f"{field}.seats: only a seat-based price has seats", reason="SEATS_NOT_ALLOWED"
            )
        if static is not None and (
            price_lines.static_charge(static, seats).amount_minor > amounts.MAX_AMOUNT_MINOR
        ):
            raise InvalidArgument(
                f"{field}.seats",
                f"a period would cost more than {amounts.MAX_AMOUNT_MINOR} minor units",
            )
        ordered = ([static] if static is not None else []) + [p for p in bought if p is not static]
        return Bought(
            product,
            ordered,
            static,
            currency,
            price_lines.interval_of(period_of(ordered[0])),
            seats,
        )

    async def create(
        self,
        request: subscriptions_pb2.CreateSubscriptionRequest,
        *,
        checkout_session_id: uuid.UUID | None = None,
        reference: str | None = None,
        allowed_discounts: frozenset[str] | None = None,
    ) -> Subscription:
        """Makes the subscription (and its first order, unless it trials).
        A checkout's confirmation names its session (one subscription per
        session), the reference its discount redemption and purchase are
        recorded under (a retry finds them), and the discounts it accepts."""
        wanted = request.subscription
        scope = self._scope
        violations = Violations()
        customer_id = _id(wanted.customer_id, "subscription.customer_id", violations)
        if not wanted.customer_id:
            violations.add("subscription.customer_id", "is required")
        product_id = _id(wanted.product_id, "subscription.product_id", violations)
        if not wanted.product_id:
            violations.add("subscription.product_id", "is required")
        price_id = _id(wanted.price_id, "subscription.price_id", violations)
        payment_method_id = _id(
            wanted.payment_method_id, "subscription.payment_method_id", violations
        )
        discount_id = _id(wanted.discount_id, "subscription.discount_id", violations)
        currency = ""
        if wanted.currency:
            try:
                currency = normalize_currency(wanted.currency)
            except UnknownCurrency:
                violations.add("subscription.currency", "must be an ISO 4217 code, e.g. USD")
        elif not wanted.price_id:
            violations.add("subscription.price_id", "is required (or a currency)")
        if not 0 <= wanted.seats <= MAX_SEATS:
            violations.add("subscription.seats", f"must be 0 to {MAX_SEATS}")
        if discount_id is not None and request.promotion_code:
            violations.add("promotion_code", "give a promotion code or a discount id, not both")
        check_text(violations, "promotion_code", request.promotion_code, max_length=64)
        metadata, bad_values = metadata_from_proto(wanted.metadata, "subscription.metadata")
        violations.extend(bad_values)
        check_metadata(violations, "subscription.metadata", metadata)
        if request.HasField("trial") and request.skip_trial:
            violations.add("trial", "give a trial or skip_trial, not both")
        if request.HasField("trial"):
            check_trial(violations, request.trial)
        violations.raise_if_any()
        assert customer_id is not None
        assert product_id is not None
        customer = await self.catalog.customer(customer_id, fresh=True)
        if customer is None or customer.deleted_at is not None:
            raise NotFound("customer", str(customer_id))
        if payment_method_id is not None and self._payments is not None:
            card = await self._payments.payment_method(scope.organization_id, payment_method_id)
            if card is None or card.customer_id != str(customer_id) or card.HasField("detach_time"):
                # Only the customer's own attached cards: another's is not found.
                raise NotFound("payment_method", str(payment_method_id))
        now = scope.clock.now()
        if customer.test_clock_id is not None:
            clock = await self.billing.clocks.get(customer.test_clock_id)
            if clock is None or clock.deleted_at is not None:
                raise FailedPrecondition(
                    "subscription.customer_id: the customer's test clock does not exist",
                    reason="TEST_CLOCK_NOT_FOUND",
                )
            now = clock.frozen_time
        bought = await self.bought(
            product_id, price_id, currency, wanted.seats, field="subscription"
        )
        trial: products_pb2.Period | None = None
        if request.HasField("trial"):
            trial = request.trial
        elif not request.skip_trial and bought.product.HasField("trial"):
            trial = bought.product.trial
        rules = await self.billing.rules()
        zone = rules.zone
        subscription_id = new_id(scope.clock)
        trial_end: dt.datetime | None = None
        if trial is not None:
            try:
                trial_end = boundary(now, price_lines.interval_of(trial), 1, zone)
            except ValueError:
                raise InvalidArgument("trial", "ends past the end of the calendar") from None
        anchor = trial_end or now
        try:
            first_end = boundary(anchor, bought.interval, 1, zone)
        except ValueError:
            raise InvalidArgument(
                "subscription.price_id", "its first period ends past the end of the calendar"
            ) from None
        reference = reference or self._reference(subscription_id)
        discount = await self.discount(
            request.promotion_code,
            discount_id,
            bought,
            customer_id,
            reference,
            now,
            field="promotion_code" if request.promotion_code else "subscription.discount_id",
            allowed=allowed_discounts,
        )
        row = Subscription(
            id=subscription_id,
            organization_id=scope.organization_id,
            customer_id=customer_id,
            product_id=product_id,
            price_id=uuid.UUID(bought.prices[0].id),
            currency=bought.currency,
            status=(
                SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.INCOMPLETE
            ).value,
            interval_unit=bought.interval.unit.value,
            interval_count=bought.interval.count,
            time_zone=rules.time_zone_name,
            seats=bought.seats,
            payment_method_id=payment_method_id,
            discount_id=None if discount is None else uuid.UUID(discount.discount.id),
            promotion_code_id=None if discount is None else discount.promotion_code_id,
            discount_snapshot=None if discount is None else discount.discount.SerializeToString(),
            discount_end_at=None if discount is None else discount.ends_at,
            discount_remaining_orders=None if discount is None else discount.remaining_orders,
            billing_anchor_at=anchor,
            period_number=0,
            current_period_start=anchor,
            current_period_end=first_end,
            trial_start=now if trial_end else None,
            trial_end=trial_end,
            trial_will_end_sent=False,
            cancel_at_period_end=False,
            canceled_at=None,
            ended_at=None,
            cancellation_reason=None,
            cancellation_comment=None,
            test_clock_id=customer.test_clock_id,
            scheduled_price_id=None,
            scheduled_seats=None,
            next_action_at=None,
            next_retry_at=None,
            latest_order_id=None,
            metadata=metadata,
            created_at=now,
            updated_at=now,
            checkout_session_id=checkout_session_id,
            purchase_reference=reference,
        )
        if trial_end is not None:
            # The trial's period is the trial itself; the first billing period
            # starts at its end.
            row.current_period_start = now
            row.current_period_end = trial_end
        schedule_next_action(row)
        await self.billing.subscriptions.insert(row)
        await self.billing.wake_clock(row.test_clock_id)
        bought = await self._purchased(bought, reference, customer_id)
        await self.billing.items.insert(*self._items(row, bought, anchor))
        if trial_end is not None:
            await self.billing.announce(row, events.created, events.activated)
        else:
            await self.billing.announce(row, events.created)
            await self.open_first_order(row, now)
        if discount is not None:
            # The last remote step: nothing after it can fail but the commit,
            # so a refused create never uses up a limited code.
            await self.redeem(discount)
        return row

    async def redeem(self, chosen: ChosenDiscount) -> None:
        """Uses the discount up once (the catalog's count and per-customer
        limits), under its reference: a retry finds the same redemption."""
        await self._catalog_client.redeem_discount(self._scope.organization_id, chosen.redemption)

    async def _paid_for_period(
        self, row: Subscription, price_id: uuid.UUID, list_charge: price_lines.StaticCharge
    ) -> int:
        """What the current period's plan cost the customer: the plan line of
        the period's own order, less its share of the discount (a credit for
        unused time never gives back more than was paid for it); the list
        amount where that order billed another price or another number of
        seats (an earlier change in the period, charged at list: prorations
        are not discountable; a line of fewer seats would credit back less
        than the added seats cost) or none exists."""
        reason = (
            BillingReason.SUBSCRIPTION_CREATE
            if row.period_number == 0
            else BillingReason.SUBSCRIPTION_CYCLE
        )
        order = await self.billing.orders.by_billing_key(
            period_billing_key(row.id, row.current_period_start, reason)
        )
        if order is None or OrderStatus(order.status) is OrderStatus.VOID:
            return list_charge.amount_minor
        for line in await self.billing.lines.of_orders([order.id]):
            if (
                line.kind == list_charge.kind
                and line.price_id == price_id
                and line.quantity == list_charge.quantity
            ):
                return min(list_charge.amount_minor, line.amount_minor - line.discount_minor)
        return list_charge.amount_minor

    def _reference(self, subscription_id: uuid.UUID) -> str:
        """What the catalog's redemption and purchase are recorded under. A
        call with an Idempotency-Key uses the key: a retry after a dropped
        connection (whose first try may have redeemed, then rolled back)
        finds the same redemption instead of using up another."""
        key = getattr(self._scope, "idempotency_key", None)
        if not key:
            return f"subscription:{subscription_id}"
        return f"subscription-request:{hashlib.sha256(key.encode()).hexdigest()}"

    async def _purchased(self, bought: Bought, reference: str, customer_id: uuid.UUID) -> Bought:
        frozen = await self.record_purchase(bought.prices, reference, customer_id)
        static = frozen[0] if bought.static is not None else None
        return dataclasses.replace(bought, prices=frozen, static=static)

    async def record_purchase(
        self, prices: list[products_pb2.Price], reference: str, customer_id: uuid.UUID
    ) -> list[products_pb2.Price]:
        """Records the purchase with the catalog, which freezes each price's
        tax behaviour at its first use; returns the prices as frozen, so an
        order's lines are never read with a later default."""
        organization_id = self._scope.organization_id
        await self._catalog_client.record_purchase(
            organization_id, reference, customer_id, [uuid.UUID(p.id) for p in prices]
        )
        frozen: list[products_pb2.Price] = []
        for price in prices:
            if price.tax_behavior == products_pb2.TAX_BEHAVIOR_UNSPECIFIED:
                asked = await self._catalog_client.price(organization_id, uuid.UUID(price.id))
                if asked is not None:
                    price = asked
            frozen.append(price)
        return frozen

    def _items(
        self, row: Subscription, bought: Bought, start: dt.datetime
    ) -> list[SubscriptionItem]:
        return [
            SubscriptionItem(
                id=new_id(self._scope.clock),
                organization_id=row.organization_id,
                subscription_id=row.id,
                price_id=uuid.UUID(price.id),
                product_id=uuid.UUID(price.product_id),
                position=index,
                price_snapshot=price.SerializeToString(),
                meter_id=price_lines.meter_of(price),
                usage_start_at=start,
                usage_billed_to=start,
                usage_watermark=0,
                ended_at=None,
                final_billed=False,
                created_at=row.created_at,
            )
            for index, price in enumerate(bought.prices)
        ]

    async def open_first_order(self, row: Subscription, now: dt.datetime) -> None:
        """The first period's order, paid in advance (metered prices are
        billed at the period's end)."""
        items = await self.billing.items.of_subscriptions([row.id])
        product = await self.catalog.product(row.product_id)
        # Only the live items: a change during a trial ended the old ones.
        lines = period_lines(
            [price_of(item) for item in items if item.ended_at is None],
            product,
            row.seats,
            row.current_period_start,
            row.current_period_end,
        )
        await self.billing.open_order(
            row,
            BillingReason.SUBSCRIPTION_CREATE,
            period_billing_key(row.id, row.current_period_start, BillingReason.SUBSCRIPTION_CREATE),
            now,
            lines,
            period=(row.current_period_start, row.current_period_end),
        )

    async def discount(
        self,
        code: str,
        discount_id: uuid.UUID | None,
        bought: Buying,
        customer_id: uuid.UUID | None,
        reference: str,
        now: dt.datetime,
        *,
        field: str,
        allowed: frozenset[str] | None = None,
    ) -> ChosenDiscount | None:
        """Validates the discount (by id, or by a code: its own or a
        promotion code's) with the catalog for buying `bought` at `now`: the
        discount, its promotion code, when it stops, how many orders it has
        left (once-only), and the redemption a purchase makes last under
        `reference`. `allowed`: the discount ids a checkout accepts (any
        other, or a code no discount has, is DISCOUNT_NOT_ALLOWED, before
        whether it applies is told); None: any of the organization's."""
        if discount_id is None and not code:
            return None
        if allowed is not None and not allowed:
            raise _not_allowed(field)
        first_amount = 0
        if bought.static is not None:
            first_amount = price_lines.static_charge(bought.static, bought.seats).amount_minor
        validation = discounts_pb2.ValidateDiscountRequest(
            code=code,
            discount_id="" if discount_id is None else str(discount_id),
            product_id=bought.product.id,
            currency=bought.currency,
            time=timestamp(now),
            customer_id="" if customer_id is None else str(customer_id),
            order_amount_minor=first_amount,
        )
        answer = await self._catalog_client.validate_discount(
            self._scope.organization_id, validation
        )
        if answer is None or not answer.HasField("discount"):
            if allowed is not None:
                raise _not_allowed(field)
            raise NotFound("discount", code or str(discount_id))
        if allowed is not None and answer.discount.id not in allowed:
            raise _not_allowed(field)
        if not answer.applicable:
            why = discounts_pb2.DiscountIneligibility.Name(answer.ineligibility).removeprefix(
                "DISCOUNT_INELIGIBILITY_"
            )
            raise FailedPrecondition(
                f"{field}: the discount does not apply ({why.lower()})",
                reason="DISCOUNT_NOT_APPLICABLE",
                metadata={"ineligibility": why},
            )
        discount = answer.discount
        promotion_code_id = (
            canonical_id(answer.promotion_code.id) if answer.HasField("promotion_code") else None
        )
        ends: dt.datetime | None = None
        remaining: int | None = None
        if discount.duration == discounts_pb2.DISCOUNT_DURATION_ONCE:
            remaining = 1
        elif discount.duration == discounts_pb2.DISCOUNT_DURATION_REPEATING:
            months = discount.duration_in_months or 1
            try:
                ends = boundary(
                    now,
                    BillingInterval(IntervalUnit.MONTH, months),
                    1,
                    (await self.billing.rules()).zone,
                )
            except ValueError:
                raise InvalidArgument(
                    "discount_id", "the discount would end past the end of the calendar"
                ) from None
        redemption = discounts_pb2.RedeemDiscountRequest(
            id=discount.id,
            product_id=bought.product.id,
            currency=bought.currency,
            reference=reference,
            customer_id="" if customer_id is None else str(customer_id),
            promotion_code_id="" if promotion_code_id is None else str(promotion_code_id),
            order_amount_minor=first_amount,
        )
        return ChosenDiscount(discount, promotion_code_id, ends, remaining, redemption)

    # ---- cancel and uncancel --------------------------------------------------

    async def cancel(
        self, subscription_id: uuid.UUID, immediately: bool, comment: str
    ) -> Subscription:
        violations = Violations()
        check_text(violations, "comment", comment, max_length=MAX_COMMENT)
        violations.raise_if_any()
        row = await self.billing.subscriptions.require(subscription_id, for_update=True)
        status = SubscriptionStatus(row.status)
        if status not in CANCELABLE or row.ended_at is not None:
            raise FailedPrecondition(
                "the subscription has already ended", reason="SUBSCRIPTION_ENDED"
            )
        now = await self.billing.now_for(row.test_clock_id)
        if immediately:
            row.cancellation_comment = comment or row.cancellation_comment
            first = row.canceled_at is None
            row.canceled_at = row.canceled_at or now
            row.cancellation_reason = CancellationReason.REQUESTED.value
            row.cancel_at_period_end = False
            await self.billing.subscriptions.update(
                row,
                [
                    "cancellation_comment",
                    "canceled_at",
                    "cancellation_reason",
                    "cancel_at_period_end",
                ],
            )
            if first:
                await self.billing.announce(row, lambda state: events.canceled(state, comment))
            if status in RENEWING and now > row.current_period_start:
                # What the cut-short period used, and prorations waiting.
                items = await self.billing.items.of_subscriptions([row.id])
                metered = any(
                    price_lines.is_metered(price_of(i)) and not i.final_billed for i in items
                )
                await self.billing.wake_clock(row.test_clock_id)
                await self.billing.open_final_order(
                    row, (row.current_period_start, now), now, metered=metered
                )
            await self.billing.end(row, now, CancellationReason.REQUESTED)
            return row
        if row.cancel_at_period_end:
            raise FailedPrecondition(
                "the subscription is already canceled at the end of its period",
                reason="ALREADY_CANCELED",
            )
        if status in (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.UNPAID):
            raise FailedPrecondition(
                "an incomplete or unpaid subscription has no period to finish: "
                "cancel it immediately",
                reason="CANCEL_IMMEDIATELY",
            )
        row.cancel_at_period_end = True
        row.canceled_at = now
        row.cancellation_reason = CancellationReason.REQUESTED.value
        row.cancellation_comment = comment or None
        row.updated_at = now
        await self.billing.subscriptions.update(
            row,
            [
                "cancel_at_period_end",
                "canceled_at",
                "cancellation_reason",
                "cancellation_comment",
                "updated_at",
            ],
        )
        await self.billing.announce(row, lambda state: events.canceled(state, comment))
        return row

    async def uncancel(self, subscription_id: uuid.UUID) -> Subscription:
        row = await self.billing.subscriptions.require(subscription_id, for_update=True)
        if row.ended_at is not None:
            raise FailedPrecondition(
                "the subscription has already ended", reason="SUBSCRIPTION_ENDED"
            )
        if not row.cancel_at_period_end:
            raise FailedPrecondition("the subscription is not canceled", reason="NOT_CANCELED")
        now = await self.billing.now_for(row.test_clock_id)
        row.cancel_at_period_end = False
        row.canceled_at = None
        row.cancellation_reason = None
        row.cancellation_comment = None
        row.updated_at = now
        await self.billing.subscriptions.update(
            row,
            [
                "cancel_at_period_end",
                "canceled_at",
                "cancellation_reason",
                "cancellation_comment",
                "updated_at",
            ],
        )
        await self.billing.announce(row, events.uncanceled)
        return row

    # ---- change -------------------------------------------------------------

    async def change(
        self, request: subscriptions_pb2.ChangeSubscriptionRequest, subscription_id: uuid.UUID
    ) -> Subscription:
        """Changes the price and/or the seats: `plan_change` works out what
        the change is and bills (which the customer portal's preview shows),
        `apply_change` writes exactly that."""
        return await self.apply_change(await self.plan_change(request, subscription_id))

    async def plan_change(
        self,
        request: subscriptions_pb2.ChangeSubscriptionRequest,
        subscription_id: uuid.UUID,
        *,
        lock: bool = True,
    ) -> ChangePlan:
        """Every check of a change and every figure it bills, writing
        nothing: the new purchase, the proration behaviour, the business
        time and the proration lines. `lock`: the subscription's row lock,
        which a change holds; a preview (outside a transaction) reads it."""
        violations = Violations()
        new_price_id = _id(request.price_id, "price_id", violations)
        if not 0 <= request.seats <= MAX_SEATS:
            violations.add("seats", f"must be 0 to {MAX_SEATS}")
        if new_price_id is None and request.seats == 0:
            violations.add("price_id", "give a new price, new seats, or both")
        violations.raise_if_any()
        row = await self.billing.subscriptions.require(subscription_id, for_update=lock)
        status = SubscriptionStatus(row.status)
        if row.ended_at is not None or status is SubscriptionStatus.CANCELED:
            raise FailedPrecondition("the subscription has ended", reason="SUBSCRIPTION_ENDED")
        if status not in (
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.TRIALING,
            SubscriptionStatus.PAST_DUE,
        ):
            raise FailedPrecondition(
                f"the subscription cannot be changed while {status.value}",
                reason="SUBSCRIPTION_NOT_CHANGEABLE",
            )
        price = await self.catalog.price(new_price_id or row.price_id)
        if price is None:
            raise NotFound("price", str(new_price_id))
        if new_price_id is not None and price.currency != row.currency:
            raise FailedPrecondition(
                f"price_id: the price is in {price.currency}; "
                f"the subscription is in {row.currency}",
                reason="CURRENCY_MISMATCH",
            )
        if price_lines.is_metered(price):
            raise FailedPrecondition(
                "price_id: change to the product's static price; its metered prices come with it",
                reason="STATIC_PRICE_REQUIRED",
            )
        bought = await self.bought(
            uuid.UUID(price.product_id),
            uuid.UUID(price.id),
            row.currency,
            # Seats carry over to another seat-based price; a price without
            # seats takes none.
            request.seats or (row.seats if price_lines.kind_of(price) == "seat_based" else 0),
            field="change",
        )
        if str(row.price_id) == bought.prices[0].id and bought.seats == row.seats:
            raise FailedPrecondition(
                "the subscription already has this price and these seats", reason="NO_CHANGE"
            )
        await refuse_fewer_than_assigned(self.billing.scope, row, bought.seats)
        if bought.interval != BillingInterval(IntervalUnit(row.interval_unit), row.interval_count):
            raise FailedPrecondition(
                "price_id: the new price bills on another period; cancel and subscribe anew",
                reason="INTERVAL_MISMATCH",
            )
        try:
            asked = ProrationBehavior.from_proto(request.proration_behavior)
        except ValueError:
            raise InvalidArgument("proration_behavior", "is not a proration behaviour") from None
        behavior = asked or (await self.billing.rules()).proration_behavior
        now = await self.billing.now_for(row.test_clock_id)
        if now >= row.current_period_end:
            raise FailedPrecondition(
                "the subscription's period has ended and its renewal is running; retry in a moment",
                reason="RENEWAL_IN_PROGRESS",
            )
        items = [
            i for i in await self.billing.items.of_subscriptions([row.id]) if i.ended_at is None
        ]
        prorations: list[LineDraft] = []
        if (
            behavior not in (ProrationBehavior.AT_PERIOD_END, ProrationBehavior.NONE)
            and status is not SubscriptionStatus.TRIALING
        ):
            prorations = await self._prorations(row, bought, items, now)
        return ChangePlan(row, bought, behavior, now, items, prorations)

    async def _prorations(
        self,
        row: Subscription,
        bought: Bought,
        items: list[SubscriptionItem],
        now: dt.datetime,
    ) -> list[LineDraft]:
        """The rest of the period, to the second: a credit for the unused
        time of what was paid for the old static price, a charge for the
        time left on the new one at its list price."""
        old_static = next((i for i in items if not price_lines.is_metered(price_of(i))), None)
        old_amount = (
            0
            if old_static is None
            else await self._paid_for_period(
                row, old_static.price_id, price_lines.static_charge(price_of(old_static), row.seats)
            )
        )
        new_amount = (
            0
            if bought.static is None
            else price_lines.static_charge(bought.static, bought.seats).amount_minor
        )
        window = ProrationWindow(row.current_period_start, row.current_period_end, now)
        drafts = []
        if old_static is not None and old_amount:
            old_product = await self.catalog.product(old_static.product_id)
            old_name = old_product.name if old_product is not None else "the previous plan"
            drafts.append(
                LineDraft(
                    kind=LineKind.PRORATION,
                    description=f"Unused time on {old_name}",
                    amount=credit_for_unused(old_amount, window),
                    price_id=old_static.price_id,
                    product_id=old_static.product_id,
                    period_start=now,
                    period_end=row.current_period_end,
                    prorated_seconds=window.seconds_remaining,
                    period_seconds=window.seconds_total,
                    quantity=str(row.seats or 1),
                    tax_behavior=price_lines.tax_behavior_of(price_of(old_static)),
                )
            )
        if bought.static is not None and new_amount:
            drafts.append(
                LineDraft(
                    kind=LineKind.PRORATION,
                    description=f"Remaining time on {bought.product.name}",
                    amount=charge_for_remaining(new_amount, window),
                    price_id=uuid.UUID(bought.static.id),
                    product_id=uuid.UUID(bought.static.product_id),
                    period_start=now,
                    period_end=row.current_period_end,
                    prorated_seconds=window.seconds_remaining,
                    period_seconds=window.seconds_total,
                    quantity=str(bought.seats or 1),
                    tax_behavior=price_lines.tax_behavior_of(bought.static),
                )
            )
        return drafts

    async def apply_change(self, plan: ChangePlan) -> Subscription:
        """Writes the planned change (the caller planned it with the row
        locked, in this transaction): scheduled for the renewal, or the new
        prices from now with the planned prorations billed at once or kept
        for the next order."""
        row, bought, now = plan.row, plan.bought, plan.now
        previous_price, previous_seats, previous_product = row.price_id, row.seats, row.product_id
        if plan.behavior is ProrationBehavior.AT_PERIOD_END:
            row.scheduled_price_id = uuid.UUID(bought.prices[0].id)
            row.scheduled_seats = bought.seats
            row.updated_at = now
            await self.billing.subscriptions.update(
                row, ["scheduled_price_id", "scheduled_seats", "updated_at"]
            )
            await self.billing.announce(row, events.updated)
            return row
        await self._switch(row, bought, plan.items, now)
        drafts = plan.prorations
        if plan.behavior is ProrationBehavior.INVOICE_NOW and drafts:
            await self.billing.wake_clock(row.test_clock_id)
            await self.billing.open_order(
                row,
                BillingReason.SUBSCRIPTION_UPDATE,
                f"{row.id}:update:{new_id(self._scope.clock)}",
                now,
                drafts,
                period=(now, row.current_period_end),
            )
        elif drafts:
            await self.billing.pending.insert(
                *[
                    PendingLine(
                        id=new_id(self._scope.clock),
                        organization_id=row.organization_id,
                        subscription_id=row.id,
                        kind=d.kind.value,
                        description=d.description,
                        price_id=d.price_id,
                        product_id=d.product_id,
                        period_start=d.period_start,
                        period_end=d.period_end,
                        prorated_seconds=d.prorated_seconds,
                        period_seconds=d.period_seconds,
                        quantity=d.quantity,
                        amount_minor=d.amount,
                        tax_behavior=d.tax_behavior.value,
                        order_id=None,
                        created_at=now,
                    )
                    for d in drafts
                ]
            )
        await self.billing.announce(
            row,
            lambda state: events.updated(
                state,
                previous_price_id=str(previous_price) if previous_price != row.price_id else "",
                previous_seats=previous_seats if previous_seats != row.seats else 0,
                previous_product_id=str(previous_product)
                if previous_product != row.product_id
                else "",
            ),
        )
        return row

    async def _switch(
        self, row: Subscription, bought: Bought, items: list[SubscriptionItem], now: dt.datetime
    ) -> None:
        """Replaces the subscription's prices with `bought`'s: the old items
        end now (a metered one's usage until now is billed at the next
        renewal), the new ones start now. Unchanged prices keep their item."""
        reference = f"subscription:{row.id}:change:{new_id(self._scope.clock)}"
        bought = await self._purchased(bought, reference, row.customer_id)
        keep = {p.id for p in bought.prices}
        existing = {str(i.price_id): i for i in items}
        for item in items:
            if str(item.price_id) not in keep:
                item.ended_at = now
                await self.billing.items.update(item, ["ended_at"])
        new_items = [
            SubscriptionItem(
                id=new_id(self._scope.clock),
                organization_id=row.organization_id,
                subscription_id=row.id,
                price_id=uuid.UUID(price.id),
                product_id=uuid.UUID(price.product_id),
                position=len(items) + index,
                price_snapshot=price.SerializeToString(),
                meter_id=price_lines.meter_of(price),
                usage_start_at=now,
                usage_billed_to=now,
                usage_watermark=0,
                ended_at=None,
                final_billed=False,
                created_at=now,
            )
            for index, price in enumerate(p for p in bought.prices if p.id not in existing)
        ]
        await self.billing.items.insert(*new_items)
        row.product_id = uuid.UUID(bought.product.id)
        row.price_id = uuid.UUID(bought.prices[0].id)
        row.seats = bought.seats
        row.scheduled_price_id = None
        row.scheduled_seats = None
        row.updated_at = now
        await self.billing.subscriptions.update(
            row,
            [
                "product_id",
                "price_id",
                "seats",
                "scheduled_price_id",
                "scheduled_seats",
                "updated_at",
            ],
        )
