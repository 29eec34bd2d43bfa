"""Rows to protobuf messages (responses and events alike), and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from billingos.catalog.v1 import products_pb2
from billingos.common.v1 import money_pb2
from billingos.subscriptions.v1 import orders_pb2, seats_pb2, subscriptions_pb2, test_clocks_pb2
from billingos_kit.protoconv import metadata_to_proto, timestamp
from billingos_subscriptions.billing_rules import BillingRules
from billingos_subscriptions.models import (
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
    ClockStatus,
    LineKind,
    OrderStatus,
    SubscriptionStatus,
)

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
