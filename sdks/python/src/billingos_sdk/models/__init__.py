"""Typed results of the API.

Frozen dataclasses rather than TypedDicts: the JSON is converted on the way
in (RFC 3339 strings to aware datetimes, int64 strings to ints, decimal
strings to `Decimal`) and a missing field reads as its proto default, so
callers get attributes with real types and never a KeyError; TypedDicts
would only describe the raw dicts. Unknown fields are ignored when parsing
(a newer server does not break an older SDK) and kept, with everything
else, in each object's ``raw``.
"""

from .catalog import CustomAmount, FixedAmount, Period, Price, Product
from .customers import Address, Customer, CustomerSession
from .entitlements import (
    BenefitGrant,
    CustomGrant,
    Entitlement,
    LicenseKeyGrant,
    MeterCreditsGrant,
)
from .metering import IngestResult
from .subscriptions import SUBSCRIPTION_STATUSES, ScheduledChange, Subscription, SubscriptionItem
from .webhooks import WEBHOOK_DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint

__all__ = [
    "SUBSCRIPTION_STATUSES",
    "WEBHOOK_DELIVERY_STATUSES",
    "Address",
    "BenefitGrant",
    "CustomAmount",
    "CustomGrant",
    "Customer",
    "CustomerSession",
    "Entitlement",
    "FixedAmount",
    "IngestResult",
    "LicenseKeyGrant",
    "MeterCreditsGrant",
    "Period",
    "Price",
    "Product",
    "ScheduledChange",
    "Subscription",
    "SubscriptionItem",
    "WebhookDelivery",
    "WebhookEndpoint",
]
