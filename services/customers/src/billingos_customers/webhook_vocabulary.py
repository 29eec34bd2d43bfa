"""The words of outbound webhooks: which events are posted (what an
endpoint's `event_types` may name), a delivery's statuses and why an
endpoint was disabled."""

from __future__ import annotations

from enum import StrEnum

from google.protobuf.message import Message

from billingos.customers.v1 import events_pb2 as customer_events
from billingos.customers.v1 import webhook_endpoints_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos.metering.v1 import events_pb2 as metering_events
from billingos.payments.v1 import events_pb2 as payment_events
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos_kit.streams import event_kind
from billingos_kit.vocabulary import EnumCodec

# What merchants are told about, per context. Left out: what only moves
# state between our services (stripe_customer.created, customer_meter.updated,
# test_clock.ready, account.updated), what carries a credential or is too
# short-lived to matter outside (customer sessions), payment methods and
# seats (not in this first slice), and endpoints' own events but one:
# `webhook_endpoint.disabled` is posted to the organization's other enabled
# endpoints, the merchant's notice that one stopped receiving. One credential
# is posted on purpose: `customer.portal_sign_in_requested` carries a
# one-time sign-in link for the merchant to email (it is how the link
# reaches the customer; it opens nothing once used or 15 minutes old), and
# only to endpoints that name it (NAMED_ONLY_TYPES).
POSTED_EVENTS: dict[str, tuple[type[Message], ...]] = {
    "customers": (
        customer_events.CustomerCreatedEvent,
        customer_events.CustomerUpdatedEvent,
        customer_events.CustomerDeletedEvent,
        customer_events.CustomerPortalSignInRequestedEvent,
        customer_events.WebhookEndpointDisabledEvent,
    ),
    "subscriptions": (
        subscription_events.SubscriptionCreatedEvent,
        subscription_events.SubscriptionActivatedEvent,
        subscription_events.SubscriptionRenewedEvent,
        subscription_events.SubscriptionUpdatedEvent,
        subscription_events.SubscriptionCanceledEvent,
        subscription_events.SubscriptionUncanceledEvent,
        subscription_events.SubscriptionPastDueEvent,
        subscription_events.SubscriptionRevokedEvent,
        subscription_events.SubscriptionTrialWillEndEvent,
        subscription_events.OrderCreatedEvent,
        subscription_events.OrderPaidEvent,
        subscription_events.OrderUpdatedEvent,
        subscription_events.CheckoutCreatedEvent,
        subscription_events.CheckoutCompletedEvent,
        subscription_events.CheckoutExpiredEvent,
    ),
    "payments": (
        payment_events.PaymentSucceededEvent,
        payment_events.PaymentFailedEvent,
        payment_events.PaymentRequiresActionEvent,
        payment_events.RefundCreatedEvent,
        payment_events.RefundUpdatedEvent,
    ),
    "entitlements": (
        entitlement_events.BenefitGrantGrantedEvent,
        entitlement_events.BenefitGrantRevokedEvent,
        entitlement_events.BenefitGrantUpdatedEvent,
    ),
    "metering": (
        metering_events.MeterCreatedEvent,
        metering_events.MeterUpdatedEvent,
        metering_events.MeterArchivedEvent,
    ),
}

POSTED_TYPES: frozenset[str] = frozenset(
    event_kind(message.DESCRIPTOR).type
    for messages in POSTED_EVENTS.values()
    for message in messages
)

# Posted only to an endpoint whose `event_types` names them, never to one
# that takes every type: a catch-all endpoint (a log, a chat relay, an
# integration platform) never receives a credential it did not ask for.
NAMED_ONLY_TYPES: frozenset[str] = frozenset(
    {event_kind(customer_events.CustomerPortalSignInRequestedEvent.DESCRIPTOR).type}
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"


DELIVERY_STATUS_CODEC = EnumCodec(
    DeliveryStatus, webhook_endpoints_pb2.WebhookDeliveryStatus, "WEBHOOK_DELIVERY_STATUS_"
)


class DisabledReason(StrEnum):
    GONE = "gone"  # the endpoint answered 410 Gone
    FAILING = "failing"  # every attempt failed for 3 days (webhook_sender.py)
    BY_REQUEST = "by_request"  # the merchant set `disabled`
