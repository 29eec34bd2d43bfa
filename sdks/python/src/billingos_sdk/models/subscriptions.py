"""Subscriptions. ``status`` is a string such as
``"SUBSCRIPTION_STATUS_TRIALING"`` (see `SUBSCRIPTION_STATUSES`), so a
status added later reads as itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import _json as j
from .catalog import Period, Price

SUBSCRIPTION_STATUSES: Final = (
    "SUBSCRIPTION_STATUS_INCOMPLETE",
    "SUBSCRIPTION_STATUS_TRIALING",
    "SUBSCRIPTION_STATUS_ACTIVE",
    "SUBSCRIPTION_STATUS_PAST_DUE",
    "SUBSCRIPTION_STATUS_CANCELED",
    "SUBSCRIPTION_STATUS_UNPAID",
)


@dataclass(frozen=True)
class SubscriptionItem:
    """A price bought, with its snapshot as bought (later catalog changes do
    not alter it)."""

    price_id: str
    price: Price | None

    @classmethod
    def from_json(cls, data: j.Json) -> SubscriptionItem:
        return cls(
            price_id=j.text(data, "price_id"), price=j.nested(data, "price", Price.from_json)
        )


@dataclass(frozen=True)
class ScheduledChange:
    """A change waiting for the renewal."""

    price_id: str
    seats: int

    @classmethod
    def from_json(cls, data: j.Json) -> ScheduledChange:
        return cls(price_id=j.text(data, "price_id"), seats=j.integer(data, "seats"))


@dataclass(frozen=True)
class Subscription:
    id: str
    organization_id: str
    customer_id: str
    product_id: str
    price_id: str
    currency: str
    status: str
    seats: int
    payment_method_id: str
    discount_id: str
    promotion_code_id: str
    metadata: Mapping[str, Any]
    recurring: Period | None
    items: tuple[SubscriptionItem, ...]
    scheduled_change: ScheduledChange | None
    cancel_at_period_end: bool
    cancellation_reason: str
    latest_order_id: str
    test_clock_id: str
    discount_remaining_orders: int
    billing_anchor_time: dt.datetime | None
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    trial_start: dt.datetime | None
    trial_end: dt.datetime | None
    cancel_time: dt.datetime | None
    end_time: dt.datetime | None
    next_retry_time: dt.datetime | None
    discount_end_time: dt.datetime | None
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> Subscription:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            customer_id=j.text(data, "customer_id"),
            product_id=j.text(data, "product_id"),
            price_id=j.text(data, "price_id"),
            currency=j.text(data, "currency"),
            status=j.text(data, "status"),
            seats=j.integer(data, "seats"),
            payment_method_id=j.text(data, "payment_method_id"),
            discount_id=j.text(data, "discount_id"),
            promotion_code_id=j.text(data, "promotion_code_id"),
            metadata=j.mapping(data, "metadata"),
            recurring=j.nested(data, "recurring", Period.from_json),
            items=j.each(data, "items", SubscriptionItem.from_json),
            scheduled_change=j.nested(data, "scheduled_change", ScheduledChange.from_json),
            cancel_at_period_end=j.boolean(data, "cancel_at_period_end"),
            cancellation_reason=j.text(data, "cancellation_reason"),
            latest_order_id=j.text(data, "latest_order_id"),
            test_clock_id=j.text(data, "test_clock_id"),
            discount_remaining_orders=j.integer(data, "discount_remaining_orders"),
            billing_anchor_time=j.timestamp(data, "billing_anchor_time"),
            current_period_start=j.timestamp(data, "current_period_start"),
            current_period_end=j.timestamp(data, "current_period_end"),
            trial_start=j.timestamp(data, "trial_start"),
            trial_end=j.timestamp(data, "trial_end"),
            cancel_time=j.timestamp(data, "cancel_time"),
            end_time=j.timestamp(data, "end_time"),
            next_retry_time=j.timestamp(data, "next_retry_time"),
            discount_end_time=j.timestamp(data, "discount_end_time"),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            raw=dict(data),
        )
