"""Rows to protobuf messages (responses and events alike), and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from billingos.catalog.v1 import products_pb2, public_pb2
from billingos.common.v1 import address_pb2, money_pb2
from billingos.subscriptions.v1 import (
    checkout_pb2,
    orders_pb2,
    public_checkout_pb2,
    seats_pb2,
    subscriptions_pb2,
    test_clocks_pb2,
)
from billingos_kit.protoconv import metadata_to_proto, timestamp
from billingos_subscriptions.billing_rules import BillingRules
from billingos_subscriptions.models import (
    CheckoutLink,
    CheckoutSession,
    Order,
    OrderLine,
    PaymentAttempt,
    Subscription,
    SubscriptionItem,
    SubscriptionSeat,
    TestClock,
)
from billingos_subscriptions.vocabulary import (
    BillingReason,
    CheckoutSessionStatus,
    ClockStatus,
    LineKind,
    OrderStatus,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from billingos_subscriptions.checkout_quote import Quote

_INTERVALS = {
    "day": products_pb2.INTERVAL_DAY,
    "week": products_pb2.INTERVAL_WEEK,
    "month": products_pb2.INTERVAL_MONTH,
    "year": products_pb2.INTERVAL_YEAR,
}


def _id(value: object) -> str:
    return "" if value is None else str(value)


def subscription_message(
    row: Subscription, items: Sequence[SubscriptionItem]
) -> subscriptions_pb2.Subscription:
    message = subscriptions_pb2.Subscription(
        id=str(row.id),
        organization_id=str(row.organization_id),
        customer_id=str(row.customer_id),
        product_id=str(row.product_id),
        price_id=str(row.price_id),
        currency=row.currency,
        status=SubscriptionStatus(row.status).proto,
        recurring=products_pb2.Period(
            interval=_INTERVALS[row.interval_unit], count=row.interval_count
        ),
        seats=row.seats,
        payment_method_id=_id(row.payment_method_id),
        discount_id=_id(row.discount_id),
        promotion_code_id=_id(row.promotion_code_id),
        discount_end_time=timestamp(row.discount_end_at),
        discount_remaining_orders=row.discount_remaining_orders or 0,
        billing_anchor_time=timestamp(row.billing_anchor_at),
        current_period_start=timestamp(row.current_period_start),
        current_period_end=timestamp(row.current_period_end),
        trial_start=timestamp(row.trial_start),
        trial_end=timestamp(row.trial_end),
        cancel_at_period_end=row.cancel_at_period_end,
        cancel_time=timestamp(row.canceled_at),
        end_time=timestamp(row.ended_at),
        cancellation_reason=row.cancellation_reason or "",
        next_retry_time=timestamp(row.next_retry_at),
        test_clock_id=_id(row.test_clock_id),
        latest_order_id=_id(row.latest_order_id),
        metadata=metadata_to_proto(row.metadata),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    for item in items:
        if item.ended_at is not None:
            continue
        # Parsed in place: no Price built and then copied in.
        message.items.add(price_id=str(item.price_id)).price.ParseFromString(item.price_snapshot)
    if row.scheduled_price_id is not None or row.scheduled_seats is not None:
        message.scheduled_change.CopyFrom(
            subscriptions_pb2.ScheduledChange(
                price_id=_id(row.scheduled_price_id), seats=row.scheduled_seats or 0
            )
        )
    return message


def attempt_message(row: PaymentAttempt) -> orders_pb2.PaymentAttempt:
    return orders_pb2.PaymentAttempt(
        attempt_number=row.attempt_number,
        payment_id=_id(row.payment_id),
        status=row.status,
        amount=money_pb2.Money(amount_minor=row.amount_minor, currency=row.currency),
        failure_code=row.failure_code or "",
        decline_code=row.decline_code or "",
        failure_message=row.failure_message or "",
        retryable=row.retryable,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def line_message(row: OrderLine) -> orders_pb2.OrderLine:
    return orders_pb2.OrderLine(
        kind=LineKind(row.kind).proto,
        description=row.description,
        price_id=_id(row.price_id),
        product_id=_id(row.product_id),
        period_start=timestamp(row.period_start),
        period_end=timestamp(row.period_end),
        prorated_seconds=row.prorated_seconds,
        period_seconds=row.period_seconds,
        quantity=row.quantity,
        meter_id=_id(row.meter_id),
        event_count=row.event_count,
        late_quantity=row.late_quantity,
        amount_minor=row.amount_minor,
        discount_minor=row.discount_minor,
        tax_minor=row.tax_minor,
        tax_inclusive=row.tax_inclusive,
        total_minor=row.total_minor,
    )


def order_message(
    row: Order, lines: Sequence[OrderLine], attempts: Sequence[PaymentAttempt]
) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=str(row.id),
        organization_id=str(row.organization_id),
        customer_id=str(row.customer_id),
        subscription_id=_id(row.subscription_id),
        billing_reason=BillingReason(row.billing_reason).proto,
        status=OrderStatus(row.status).proto,
        currency=row.currency,
        lines=[line_message(line) for line in lines],
        subtotal_minor=row.subtotal_minor,
        discount_minor=row.discount_minor,
        tax_minor=row.tax_minor,
        inclusive_tax_minor=row.inclusive_tax_minor,
        total_minor=row.total_minor,
        credit_applied_minor=row.credit_applied_minor,
        credit_carried_minor=row.credit_carried_minor,
        amount_due_minor=row.amount_due_minor,
        amount_paid_minor=row.amount_paid_minor,
        amount_refunded_minor=row.amount_refunded_minor,
        period_start=timestamp(row.period_start),
        period_end=timestamp(row.period_end),
        attempts=[attempt_message(attempt) for attempt in attempts],
        next_retry_time=timestamp(row.next_charge_at),
        create_time=timestamp(row.created_at),
        paid_time=timestamp(row.paid_at),
        update_time=timestamp(row.updated_at),
        tax_rate_percent=row.tax_rate_percent or "",
    )


def test_clock_message(row: TestClock) -> test_clocks_pb2.TestClock:
    return test_clocks_pb2.TestClock(
        id=str(row.id),
        organization_id=str(row.organization_id),
        frozen_time=timestamp(row.frozen_time),
        name=row.name,
        status=ClockStatus(row.status).proto,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def billing_settings_message(rules: BillingRules) -> subscriptions_pb2.BillingSettings:
    message = subscriptions_pb2.BillingSettings(
        organization_id=str(rules.organization_id),
        billing_time_zone=rules.time_zone_name,
        proration_behavior=rules.proration_behavior.proto,
        dunning_final_action=rules.final_action.proto,
        update_time=timestamp(rules.updated_at),
    )
    if rules.custom_retries:
        message.retry_schedule.CopyFrom(
            subscriptions_pb2.RetrySchedule(
                retry_hours=[
                    int(delay.total_seconds() // 3600) for delay in rules.dunning.retry_delays
                ]
            )
        )
    return message


def seat_message(row: SubscriptionSeat) -> seats_pb2.SubscriptionSeat:
    return seats_pb2.SubscriptionSeat(
        id=str(row.id),
        organization_id=str(row.organization_id),
        subscription_id=str(row.subscription_id),
        member_customer_id=str(row.member_customer_id),
        email=row.email,
        external_id=row.external_id,
        status=seats_pb2.SEAT_STATUS_ASSIGNED
        if row.revoked_at is None
        else seats_pb2.SEAT_STATUS_REVOKED,
        assign_time=timestamp(row.assigned_at),
        revoke_time=timestamp(row.revoked_at),
        update_time=timestamp(row.updated_at),
    )


# ---- checkout ---------------------------------------------------------------

ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "state", "country")


def trial_message(interval: str | None, count: int | None) -> products_pb2.Period | None:
    if interval is None:
        return None
    return products_pb2.Period(interval=_INTERVALS[interval], count=count or 1)


def address_values(address: address_pb2.Address) -> dict[str, str]:
    """An address as its row keeps it (only the parts given)."""
    return {name: getattr(address, name) for name in ADDRESS_FIELDS if getattr(address, name)}


def address_message(values: dict[str, str] | None) -> address_pb2.Address | None:
    if values is None:
        return None
    return address_pb2.Address(**{k: v for k, v in values.items() if k in ADDRESS_FIELDS})


def totals_message(quote: Quote) -> checkout_pb2.CheckoutTotals:
    amounts = quote.amounts
    return checkout_pb2.CheckoutTotals(
        currency=quote.currency,
        lines=[line_message(line) for line in quote.lines],
        subtotal_minor=amounts.subtotal,
        discount_minor=amounts.discount_total,
        tax_minor=amounts.tax_total,
        inclusive_tax_minor=amounts.inclusive_tax_total,
        total_minor=amounts.total,
        amount_due_now_minor=quote.due_now_minor,
        tax_rate_percent="" if quote.rate is None else quote.rate.percentage,
        trial_end_time=timestamp(quote.trial_end),
    )


def _totals(row: CheckoutSession) -> checkout_pb2.CheckoutTotals:
    totals = checkout_pb2.CheckoutTotals()
    totals.ParseFromString(row.totals)
    return totals


def checkout_link_message(row: CheckoutLink, url: str) -> checkout_pb2.CheckoutLink:
    return checkout_pb2.CheckoutLink(
        id=str(row.id),
        organization_id=str(row.organization_id),
        product_ids=[str(p) for p in row.product_ids],
        allowed_discount_ids=[str(d) for d in row.allowed_discount_ids],
        success_url=row.success_url,
        trial=trial_message(row.trial_interval, row.trial_count),
        skip_trial=row.skip_trial,
        archived=row.archived_at is not None,
        url=url,
        metadata=metadata_to_proto(row.metadata),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def checkout_session_message(row: CheckoutSession) -> checkout_pb2.CheckoutSession:
    """The session as its merchant sees it, without its client secret (never
    kept) and so without its page's URL."""
    return checkout_pb2.CheckoutSession(
        id=str(row.id),
        organization_id=str(row.organization_id),
        checkout_link_id=_id(row.checkout_link_id),
        status=CheckoutSessionStatus(row.status).proto,
        product_ids=[str(p) for p in row.product_ids],
        allowed_discount_ids=[str(d) for d in row.allowed_discount_ids],
        price_id=str(row.price_id),
        seats=row.seats,
        customer_id=_id(row.customer_id),
        customer_email=row.customer_email,
        customer_name=row.customer_name,
        billing_address=address_message(row.billing_address),
        discount_code=row.discount_code,
        discount_id=_id(row.discount_id),
        totals=_totals(row),
        success_url=row.success_url,
        trial=trial_message(row.trial_interval, row.trial_count),
        skip_trial=row.skip_trial,
        subscription_id=_id(row.subscription_id),
        order_id=_id(row.order_id),
        expire_time=timestamp(row.expire_at),
        complete_time=timestamp(row.completed_at),
        metadata=metadata_to_proto(row.metadata),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
        payment_error=payment_error_message(row.payment_error),
    )


# What a customer is told when the payment's own message is empty, or when
# the decline's reason is the issuer's suspicion (never shown: it would tell
# a card tester which stolen card is live).
DECLINED_MESSAGE = "The payment was declined. Try another card."
_UNTOLD_DECLINES = frozenset(
    {
        "fraudulent",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "merchant_blacklist",
        "security_violation",
    }
)


def public_payment_error(error: dict[str, str] | None) -> dict[str, str] | None:
    """The error as the customer's page may see it: the failure's code and
    the bank's message, never the decline code (the merchant's to read), and
    a plain decline where the reason is the issuer's suspicion."""
    if error is None:
        return None
    if error.get("decline_code") in _UNTOLD_DECLINES:
        return {"code": "card_declined", "decline_code": "", "message": DECLINED_MESSAGE}
    return {**error, "decline_code": ""}


def payment_error_message(
    error: dict[str, str] | None,
) -> checkout_pb2.CheckoutPaymentError | None:
    if error is None:
        return None
    return checkout_pb2.CheckoutPaymentError(
        code=error.get("code", ""),
        decline_code=error.get("decline_code", ""),
        message=error.get("message", ""),
    )


def public_price(price: products_pb2.Price) -> products_pb2.Price:
    """A price as public pages show it (as the public catalog does): without
    what the merchant keeps to itself (nickname, metadata, first use)."""
    shown = products_pb2.Price()
    shown.CopyFrom(price)
    shown.ClearField("nickname")
    shown.ClearField("metadata")
    shown.ClearField("first_use_time")
    return shown


def public_product_message(
    product: products_pb2.Product, prices: Sequence[products_pb2.Price]
) -> public_pb2.PublicProduct:
    message = public_pb2.PublicProduct(
        id=product.id,
        name=product.name,
        description=product.description,
        prices=[public_price(price) for price in prices],
    )
    if product.HasField("recurring"):
        message.recurring.CopyFrom(product.recurring)
    if product.HasField("trial"):
        message.trial.CopyFrom(product.trial)
    for key, value in product.public_metadata.items():
        message.public_metadata[key].CopyFrom(value)
    return message


def public_link_message(
    row: CheckoutLink, products: Sequence[public_pb2.PublicProduct]
) -> public_checkout_pb2.PublicCheckoutLink:
    return public_checkout_pb2.PublicCheckoutLink(
        id=str(row.id),
        organization_id=str(row.organization_id),
        products=products,
        accepts_discount_codes=bool(row.allowed_discount_ids),
        trial=trial_message(row.trial_interval, row.trial_count),
        skip_trial=row.skip_trial,
    )


def public_session_message(
    row: CheckoutSession,
    products: Sequence[public_pb2.PublicProduct],
    success_url: str,
    payment: public_checkout_pb2.CheckoutPayment | None,
) -> public_checkout_pb2.PublicCheckoutSession:
    """The session as the customer's page sees it: no metadata, no customer
    id, no discount ids, no client secret (the caller adds it once); how to
    collect the card while it is open, or to authenticate the first payment
    while it waits for that (`payment`: the caller's, None for neither)."""
    return public_checkout_pb2.PublicCheckoutSession(
        id=str(row.id),
        organization_id=str(row.organization_id),
        checkout_link_id=_id(row.checkout_link_id),
        status=CheckoutSessionStatus(row.status).proto,
        products=products,
        price_id=str(row.price_id),
        seats=row.seats,
        customer_email=row.customer_email,
        customer_name=row.customer_name,
        billing_address=address_message(row.billing_address),
        discount_code=row.discount_code,
        accepts_discount_codes=bool(row.allowed_discount_ids),
        totals=_totals(row),
        success_url=success_url,
        expire_time=timestamp(row.expire_at),
        payment=payment,
        payment_error=payment_error_message(public_payment_error(row.payment_error)),
    )
