"""The events the subscriptions context publishes; what each is (type,
subject, the entity whose state it carries) is declared on the message in
protos/billingos/subscriptions/v1/events.proto."""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf import field_mask_pb2

from billingos.subscriptions.v1 import (
    checkout_pb2,
    events_pb2,
    orders_pb2,
    seats_pb2,
    subscriptions_pb2,
)
from billingos_kit.protoconv import timestamp
from billingos_subscriptions.messages import test_clock_message
from billingos_subscriptions.models import TestClock

Sub = subscriptions_pb2.Subscription


def created(sub: Sub) -> events_pb2.SubscriptionCreatedEvent:
    return events_pb2.SubscriptionCreatedEvent(subscription=sub)


def activated(sub: Sub) -> events_pb2.SubscriptionActivatedEvent:
    return events_pb2.SubscriptionActivatedEvent(subscription=sub)


def renewed(sub: Sub, order_id: str) -> events_pb2.SubscriptionRenewedEvent:
    return events_pb2.SubscriptionRenewedEvent(subscription=sub, order_id=order_id)


def updated(
    sub: Sub, *, previous_price_id: str = "", previous_seats: int = 0, previous_product_id: str = ""
) -> events_pb2.SubscriptionUpdatedEvent:
    return events_pb2.SubscriptionUpdatedEvent(
        subscription=sub,
        previous_price_id=previous_price_id,
        previous_seats=previous_seats,
        previous_product_id=previous_product_id,
    )


def canceled(sub: Sub, comment: str) -> events_pb2.SubscriptionCanceledEvent:
    return events_pb2.SubscriptionCanceledEvent(subscription=sub, comment=comment)


def uncanceled(sub: Sub) -> events_pb2.SubscriptionUncanceledEvent:
    return events_pb2.SubscriptionUncanceledEvent(subscription=sub)


def past_due(
    sub: Sub,
    order: orders_pb2.Order,
    attempt: orders_pb2.PaymentAttempt,
    next_retry: dt.datetime | None,
    retries_remaining: int,
) -> events_pb2.SubscriptionPastDueEvent:
    return events_pb2.SubscriptionPastDueEvent(
        subscription=sub,
        order=order,
        attempt=attempt,
        next_retry_time=timestamp(next_retry),
        retries_remaining=retries_remaining,
    )


def revoked(sub: Sub) -> events_pb2.SubscriptionRevokedEvent:
    return events_pb2.SubscriptionRevokedEvent(subscription=sub)


def trial_will_end(sub: Sub) -> events_pb2.SubscriptionTrialWillEndEvent:
    return events_pb2.SubscriptionTrialWillEndEvent(subscription=sub)


def order_created(order: orders_pb2.Order) -> events_pb2.OrderCreatedEvent:
    return events_pb2.OrderCreatedEvent(order=order)


def order_paid(order: orders_pb2.Order) -> events_pb2.OrderPaidEvent:
    return events_pb2.OrderPaidEvent(order=order)


def order_updated(order: orders_pb2.Order) -> events_pb2.OrderUpdatedEvent:
    return events_pb2.OrderUpdatedEvent(order=order)


def test_clock_ready(row: TestClock) -> events_pb2.TestClockReadyEvent:
    return events_pb2.TestClockReadyEvent(test_clock=test_clock_message(row))


def seat_assigned(seat: seats_pb2.SubscriptionSeat) -> events_pb2.SubscriptionSeatAssignedEvent:
    return events_pb2.SubscriptionSeatAssignedEvent(seat=seat)


def seat_revoked(seat: seats_pb2.SubscriptionSeat) -> events_pb2.SubscriptionSeatRevokedEvent:
    return events_pb2.SubscriptionSeatRevokedEvent(seat=seat)


def checkout_link_created(link: checkout_pb2.CheckoutLink) -> events_pb2.CheckoutLinkCreatedEvent:
    return events_pb2.CheckoutLinkCreatedEvent(checkout_link=link)


def checkout_link_updated(
    link: checkout_pb2.CheckoutLink, changed: list[str]
) -> events_pb2.CheckoutLinkUpdatedEvent:
    return events_pb2.CheckoutLinkUpdatedEvent(
        checkout_link=link, update_mask=field_mask_pb2.FieldMask(paths=changed)
    )


def _without_secret(session: checkout_pb2.CheckoutSession) -> checkout_pb2.CheckoutSession:
    """A session's state as events carry it: never its client secret or the
    URL holding it (the outbox keeps what it is given)."""
    if session.client_secret or session.url:
        copy = checkout_pb2.CheckoutSession()
        copy.CopyFrom(session)
        copy.ClearField("client_secret")
        copy.ClearField("url")
        return copy
    return session


def purchase_abandoned(
    reference: str,
    customer_id: uuid.UUID,
    *,
    subscription_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
) -> events_pb2.PurchaseAbandonedEvent:
    return events_pb2.PurchaseAbandonedEvent(
        reference=reference,
        customer_id=str(customer_id),
        subscription_id="" if subscription_id is None else str(subscription_id),
        order_id="" if order_id is None else str(order_id),
    )


def checkout_created(session: checkout_pb2.CheckoutSession) -> events_pb2.CheckoutCreatedEvent:
    return events_pb2.CheckoutCreatedEvent(checkout_session=_without_secret(session))


def checkout_completed(
    session: checkout_pb2.CheckoutSession,
) -> events_pb2.CheckoutCompletedEvent:
    return events_pb2.CheckoutCompletedEvent(checkout_session=_without_secret(session))


def checkout_expired(session: checkout_pb2.CheckoutSession) -> events_pb2.CheckoutExpiredEvent:
    return events_pb2.CheckoutExpiredEvent(checkout_session=_without_secret(session))
