"""Other contexts' messages turned into this context's read copies: a
product's benefit list, a customer, the engine's subscriptions and
one-time orders as sources of grants, and subscriptions' seats. A message without a usable id or
time teaches nothing (None)."""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf import timestamp_pb2

from billingos.catalog.v1 import products_pb2
from billingos.customers.v1 import customers_pb2
from billingos.subscriptions.v1 import orders_pb2, seats_pb2, subscriptions_pb2
from billingos_entitlements.models import CustomerCopy, GrantSourceCopy, ProductCopy, SeatCopy
from billingos_entitlements.vocabulary import GrantSource
from billingos_kit.ids import canonical_id

_S = subscriptions_pb2
# A subscription grants while it runs: trialing, active (also when set to
# cancel at its period's end), past due (dunning keeps the customer served
# until it gives up).
_SUBSCRIPTION_GRANTS = {
    _S.SUBSCRIPTION_STATUS_TRIALING: "trialing",
    _S.SUBSCRIPTION_STATUS_ACTIVE: "active",
    _S.SUBSCRIPTION_STATUS_PAST_DUE: "past_due",
}
_SUBSCRIPTION_STATUS = {
    **_SUBSCRIPTION_GRANTS,
    _S.SUBSCRIPTION_STATUS_INCOMPLETE: "incomplete",
    _S.SUBSCRIPTION_STATUS_CANCELED: "canceled",
    # Dunning gave up but kept it: it grants nothing until it is paid.
    _S.SUBSCRIPTION_STATUS_UNPAID: "unpaid",
}
_O = orders_pb2
# A one-time purchase grants while it stays paid; refunded in full or void,
# it is over.
_ORDER_STATUS = {
    _O.ORDER_STATUS_DRAFT: "draft",
    _O.ORDER_STATUS_PENDING: "pending",
    _O.ORDER_STATUS_PAID: "paid",
    _O.ORDER_STATUS_PARTIALLY_REFUNDED: "partially_refunded",
    _O.ORDER_STATUS_REFUNDED: "refunded",
    _O.ORDER_STATUS_VOID: "void",
}
_ORDER_GRANTS = {"paid", "partially_refunded"}
_ORDER_ENDED = {"refunded", "void"}


def _time(message: timestamp_pb2.Timestamp) -> dt.datetime:
    return message.ToDatetime(tzinfo=dt.UTC)


def _optional_time(has: bool, message: timestamp_pb2.Timestamp) -> dt.datetime | None:
    return _time(message) if has else None


def product_copy(message: products_pb2.Product, organization_id: uuid.UUID) -> ProductCopy | None:
    product_id = canonical_id(message.id)
    if product_id is None or not message.HasField("update_time"):
        return None
    benefit_ids = [b for b in (canonical_id(raw) for raw in message.benefit_ids) if b is not None]
    return ProductCopy(product_id, organization_id, benefit_ids, _time(message.update_time))


def customer_copy(
    message: customers_pb2.Customer, organization_id: uuid.UUID, *, deleted: bool = False
) -> CustomerCopy | None:
    customer_id = canonical_id(message.id)
    if customer_id is None or not message.HasField("update_time"):
        return None
    deleted_at = _optional_time(message.HasField("delete_time"), message.delete_time)
    if deleted and deleted_at is None:
        deleted_at = _time(message.update_time)
    return CustomerCopy(
        customer_id,
        organization_id,
        message.external_id or None,
        deleted_at,
        _time(message.update_time),
    )


def subscription_source(
    message: subscriptions_pb2.Subscription, organization_id: uuid.UUID, event_id: uuid.UUID
) -> GrantSourceCopy | None:
    ids = [canonical_id(v) for v in (message.id, message.customer_id, message.product_id)]
    if None in ids or not message.HasField("update_time"):
        return None
    subscription_id, customer_id, product_id = ids
    assert subscription_id is not None
    assert customer_id is not None
    assert product_id is not None
    ended = message.HasField("end_time")
    return GrantSourceCopy(
        id=subscription_id,
        organization_id=organization_id,
        kind=GrantSource.SUBSCRIPTION.value,
        customer_id=customer_id,
        product_id=product_id,
        status=_SUBSCRIPTION_STATUS.get(message.status, "unknown"),
        live=message.status in _SUBSCRIPTION_GRANTS and not ended,
        ended=ended,
        price_id=canonical_id(message.price_id),
        seats=message.seats,
        current_period_start=_optional_time(
            message.HasField("current_period_start"), message.current_period_start
        ),
        current_period_end=_optional_time(
            message.HasField("current_period_end"), message.current_period_end
        ),
        cancel_at_period_end=message.cancel_at_period_end,
        source_updated_at=_time(message.update_time),
        source_event_id=event_id,
    )


def purchase_source(
    message: orders_pb2.Order, organization_id: uuid.UUID, event_id: uuid.UUID
) -> GrantSourceCopy | None:
    """A one-time purchase's order as a source; None for any other order (a
    subscription's orders grant nothing: the subscription does)."""
    if message.billing_reason != orders_pb2.BILLING_REASON_PURCHASE:
        return None
    order_id, customer_id = canonical_id(message.id), canonical_id(message.customer_id)
    product_ids = [canonical_id(line.product_id) for line in message.lines if line.product_id]
    product_id = next((p for p in product_ids if p is not None), None)
    if order_id is None or customer_id is None or product_id is None:
        return None
    if not message.HasField("update_time"):
        return None
    status = _ORDER_STATUS.get(message.status, "unknown")
    return GrantSourceCopy(
        id=order_id,
        organization_id=organization_id,
        kind=GrantSource.ORDER.value,
        customer_id=customer_id,
        product_id=product_id,
        status=status,
        live=status in _ORDER_GRANTS,
        ended=status in _ORDER_ENDED,
        price_id=None,
        seats=0,
        current_period_start=None,
        current_period_end=None,
        cancel_at_period_end=False,
        source_updated_at=_time(message.update_time),
        source_event_id=event_id,
    )


def seat_copy(message: seats_pb2.SubscriptionSeat, organization_id: uuid.UUID) -> SeatCopy | None:
    ids = [
        canonical_id(v) for v in (message.id, message.subscription_id, message.member_customer_id)
    ]
    if None in ids or not message.HasField("update_time"):
        return None
    seat_id, subscription_id, member_id = ids
    assert seat_id is not None
    assert subscription_id is not None
    assert member_id is not None
    return SeatCopy(
        id=seat_id,
        organization_id=organization_id,
        subscription_id=subscription_id,
        member_customer_id=member_id,
        live=message.status == seats_pb2.SEAT_STATUS_ASSIGNED,
        source_updated_at=_time(message.update_time),
    )
