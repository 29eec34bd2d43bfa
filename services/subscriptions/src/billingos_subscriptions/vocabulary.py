"""The words the subscriptions tables store (status columns hold these
values), and their protobuf counterparts."""

from __future__ import annotations

import enum
import functools

from billingos.subscriptions.v1 import checkout_pb2, orders_pb2, subscriptions_pb2, test_clocks_pb2


class SubscriptionStatus(enum.StrEnum):
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"

    @functools.cached_property
    def proto(self) -> subscriptions_pb2.SubscriptionStatus.ValueType:
        return subscriptions_pb2.SubscriptionStatus.Value(f"SUBSCRIPTION_STATUS_{self.name}")


# Statuses in which a subscription still renews at its period's end.
RENEWING = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
# Statuses from which a subscription can still be canceled.
CANCELABLE = frozenset(
    {
        SubscriptionStatus.INCOMPLETE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
    }
)


class OrderStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOID = "void"

    @functools.cached_property
    def proto(self) -> orders_pb2.OrderStatus.ValueType:
        return orders_pb2.OrderStatus.Value(f"ORDER_STATUS_{self.name}")


class BillingReason(enum.StrEnum):
    SUBSCRIPTION_CREATE = "subscription_create"
    SUBSCRIPTION_CYCLE = "subscription_cycle"
    SUBSCRIPTION_UPDATE = "subscription_update"
    PURCHASE = "purchase"

    @functools.cached_property
    def proto(self) -> orders_pb2.BillingReason.ValueType:
        return orders_pb2.BillingReason.Value(f"BILLING_REASON_{self.name}")


class LineKind(enum.StrEnum):
    PLAN = "plan"
    SEATS = "seats"
    USAGE = "usage"
    PRORATION = "proration"
    MINIMUM_TRUE_UP = "minimum_true_up"

    @functools.cached_property
    def proto(self) -> orders_pb2.OrderLineKind.ValueType:
        return orders_pb2.OrderLineKind.Value(f"ORDER_LINE_KIND_{self.name}")


class AttemptStatus(enum.StrEnum):
    # Recorded; payments has not answered yet (not asked, or not reached).
    REQUESTED = "requested"
    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


SETTLED_ATTEMPTS = frozenset({AttemptStatus.SUCCEEDED, AttemptStatus.FAILED})
# Attempts payments may still turn into money: none is started beside them.
IN_FLIGHT_ATTEMPTS = frozenset(
    {
        AttemptStatus.REQUESTED,
        AttemptStatus.PENDING,
        AttemptStatus.PROCESSING,
        AttemptStatus.REQUIRES_ACTION,
    }
)


class ProrationBehavior(enum.StrEnum):
    INVOICE_NOW = "invoice_now"
    NEXT_INVOICE = "next_invoice"
    NONE = "none"
    AT_PERIOD_END = "at_period_end"

    @functools.cached_property
    def proto(self) -> subscriptions_pb2.ProrationBehavior.ValueType:
        return subscriptions_pb2.ProrationBehavior.Value(f"PRORATION_BEHAVIOR_{self.name}")

    @classmethod
    def from_proto(
        cls, value: subscriptions_pb2.ProrationBehavior.ValueType
    ) -> ProrationBehavior | None:
        """None for UNSPECIFIED; ValueError for a number no behaviour has."""
        if value == subscriptions_pb2.PRORATION_BEHAVIOR_UNSPECIFIED:
            return None
        if value not in subscriptions_pb2.ProrationBehavior.values():
            raise ValueError(f"{value} is not a proration behaviour")
        name = subscriptions_pb2.ProrationBehavior.Name(value)
        return cls[name.removeprefix("PRORATION_BEHAVIOR_")]


class DunningFinalAction(enum.StrEnum):
    CANCEL = "cancel"
    MARK_UNPAID = "mark_unpaid"

    @functools.cached_property
    def proto(self) -> subscriptions_pb2.DunningFinalAction.ValueType:
        return subscriptions_pb2.DunningFinalAction.Value(f"DUNNING_FINAL_ACTION_{self.name}")


class ClockStatus(enum.StrEnum):
    READY = "ready"
    ADVANCING = "advancing"

    @functools.cached_property
    def proto(self) -> test_clocks_pb2.TestClockStatus.ValueType:
        return test_clocks_pb2.TestClockStatus.Value(f"TEST_CLOCK_STATUS_{self.name}")


class CancellationReason(enum.StrEnum):
    REQUESTED = "requested"
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDED_WITHOUT_PAYMENT_METHOD = "trial_ended_without_payment_method"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TEST_CLOCK_DELETED = "test_clock_deleted"
    CUSTOMER_DELETED = "customer_deleted"


# Payments' failure codes for a customer with no card to charge: none saved,
# or payments has not even made the customer's Stripe customer (so no card
# can have been saved either).
NO_CARD_FAILURES = frozenset({"no_payment_method", "customer_not_found"})


class CheckoutSessionStatus(enum.StrEnum):
    """open → processing (confirmed: its subscription exists, the first
    payment is on its way) → completed; open → expired (its time passed, or
    the merchant expired it). Processing and completed come with the
    confirmation; expired and completed are final."""

    OPEN = "open"
    PROCESSING = "processing"
    COMPLETED = "completed"
    EXPIRED = "expired"

    @functools.cached_property
    def proto(self) -> checkout_pb2.CheckoutSessionStatus.ValueType:
        return checkout_pb2.CheckoutSessionStatus.Value(f"CHECKOUT_SESSION_STATUS_{self.name}")

    @classmethod
    def from_proto(
        cls, value: checkout_pb2.CheckoutSessionStatus.ValueType
    ) -> CheckoutSessionStatus | None:
        """None for UNSPECIFIED; ValueError for a number no status has."""
        if value == checkout_pb2.CHECKOUT_SESSION_STATUS_UNSPECIFIED:
            return None
        if value not in checkout_pb2.CheckoutSessionStatus.values():
            raise ValueError(f"{value} is not a checkout session status")
        name = checkout_pb2.CheckoutSessionStatus.Name(value)
        return cls[name.removeprefix("CHECKOUT_SESSION_STATUS_")]
