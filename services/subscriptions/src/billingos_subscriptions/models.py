"""The `subscriptions` schema: its tables (what migrations build and the
drift test checks) and, for each, the row a repository reads and writes (a
dataclass whose fields are the table's columns, in order). Status columns
hold the values of the StrEnums in vocabulary.py; amounts are integer minor
units; catalog entities are kept as the protobuf bytes the catalog announced,
so a subscription's snapshot is exactly the price it bought."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "subscriptions"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

# ---- read copies ------------------------------------------------------------

# The customers context's customers (its state stream): the test clock each
# lives on, and whether it still exists.
customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("test_clock_id", Uuid, nullable=True),
    Column("deleted_at", Timestamp, nullable=True),
    # The customer's update_time in the state applied: older states lose.
    Column("source_updated_at", Timestamp, nullable=False),
    # The billing address's place, for its tax rate: the upper-case country
    # code and region code ("" for none); NULL without an address.
    Column("country", Text, nullable=True),
    Column("region", Text, nullable=True),
)

# The catalog's tax rates (its state stream): the rate an order's customer
# gets by the place of its billing address.
tax_rates = Table(
    "tax_rates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("country", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("percentage", Text, nullable=False),
    Column("inclusive", Boolean, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Column("source_updated_at", Timestamp, nullable=False),
    Index("ix_tax_rates_organization_id_country", "organization_id", "country"),
)

# The catalog's products and prices (its state stream), as the catalog
# announced them (`payload`: the Product or Price message).
products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("source_updated_at", Timestamp, nullable=False),
)

prices = Table(
    "prices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("source_updated_at", Timestamp, nullable=False),
    Index("ix_prices_organization_id_product_id", "organization_id", "product_id"),
)

# ---- the engine's own -------------------------------------------------------

billing_settings = Table(
    "billing_settings",
    metadata,
    Column("organization_id", Uuid, primary_key=True),
    Column("billing_time_zone", Text, nullable=False),
    Column("proration_behavior", Text, nullable=False),
    # Hours after the first failure; NULL: the default schedule.
    Column("retry_hours", ARRAY(Integer), nullable=True),
    Column("dunning_final_action", Text, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

test_clocks = Table(
    "test_clocks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("frozen_time", Timestamp, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Index("ix_test_clocks_organization_id_id", "organization_id", "id"),
    Index("ix_test_clocks_advancing", "id", postgresql_where=text("status = 'advancing'")),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("price_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("interval_unit", Text, nullable=False),
    Column("interval_count", Integer, nullable=False),
    # The zone its periods follow (the organization's when it was created).
    Column("time_zone", Text, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("payment_method_id", Uuid, nullable=True),
    Column("discount_id", Uuid, nullable=True),
    Column("promotion_code_id", Uuid, nullable=True),
    # The catalog's Discount message as redeemed.
    Column("discount_snapshot", LargeBinary, nullable=True),
    Column("discount_end_at", Timestamp, nullable=True),
    # For a once-only discount: the orders it still applies to (1, then 0).
    Column("discount_remaining_orders", Integer, nullable=True),
    Column("billing_anchor_at", Timestamp, nullable=False),
    # Which period of the anchor the current one is (0 = the first).
    Column("period_number", Integer, nullable=False),
    Column("current_period_start", Timestamp, nullable=False),
    Column("current_period_end", Timestamp, nullable=False),
    Column("trial_start", Timestamp, nullable=True),
    Column("trial_end", Timestamp, nullable=True),
    Column("trial_will_end_sent", Boolean, nullable=False),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("canceled_at", Timestamp, nullable=True),
    Column("ended_at", Timestamp, nullable=True),
    Column("cancellation_reason", Text, nullable=True),
    Column("cancellation_comment", Text, nullable=True),
    Column("test_clock_id", Uuid, nullable=True),
    Column("scheduled_price_id", Uuid, nullable=True),
    Column("scheduled_seats", Integer, nullable=True),
    # When the scheduler next has something to do for it (renew, end the
    # trial, send the trial notice, expire an incomplete start); NULL: never.
    Column("next_action_at", Timestamp, nullable=True),
    Column("next_retry_at", Timestamp, nullable=True),
    Column("latest_order_id", Uuid, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # The checkout session whose confirmation made it (NULL: made by API).
    Column("checkout_session_id", Uuid, nullable=True),
    # What its purchase (and discount redemption) is recorded under with the
    # catalog: given back if it ends before its first payment (NULL: made
    # before this was kept).
    Column("purchase_reference", Text, nullable=True),
    Index("ix_subscriptions_organization_id_customer_id", "organization_id", "customer_id"),
    # One subscription per checkout session, whoever confirms it twice.
    Index(
        "ux_subscriptions_checkout_session",
        "organization_id",
        "checkout_session_id",
        unique=True,
        postgresql_where=text("checkout_session_id IS NOT NULL"),
    ),
    # What the scheduler claims: real-clock subscriptions with work due.
    Index(
        "ix_subscriptions_due",
        "next_action_at",
        postgresql_where=text("next_action_at IS NOT NULL AND test_clock_id IS NULL"),
    ),
    Index(
        "ix_subscriptions_test_clock_due",
        "test_clock_id",
        "next_action_at",
        postgresql_where=text("next_action_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    ),
    CheckConstraint("seats >= 0", name="seats_not_negative"),
    CheckConstraint("interval_count > 0", name="interval_positive"),
)

# The seats of seat-based subscriptions, each held by a member (a customer
# of the same organization). A member holds at most one live seat of a
# subscription; a freed seat stays (revoked_at set).
subscription_seats = Table(
    "subscription_seats",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("subscription_id", Uuid, nullable=False),
    Column("member_customer_id", Uuid, nullable=False),
    # What the seat was assigned by ("" for none): shown back on reads.
    Column("email", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("assigned_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(
        "ix_subscription_seats_organization_id_subscription_id_id",
        "organization_id",
        "subscription_id",
        "id",
    ),
    Index(
        "ix_subscription_seats_organization_id_member",
        "organization_id",
        "member_customer_id",
    ),
    Index(
        "ux_subscription_seats_live_member",
        "subscription_id",
        "member_customer_id",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

# Each price a subscription bought, with the snapshot and, for a metered one,
# how far its usage has been billed.
subscription_items = Table(
    "subscription_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("subscription_id", Uuid, nullable=False),
    Column("price_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    # The catalog's Price message as bought.
    Column("price_snapshot", LargeBinary, nullable=False),
    Column("meter_id", Uuid, nullable=True),
    # Usage: events at or after this time are billable (the item's start).
    Column("usage_start_at", Timestamp, nullable=False),
    # The end of the last period whose usage was billed.
    Column("usage_billed_to", Timestamp, nullable=False),
    # Metering's watermark at the last billing: later-stored events of
    # earlier periods are late, billed once in the next order.
    Column("usage_watermark", BigInteger, nullable=False),
    # Replaced by a change: its usage up to then is billed once more.
    Column("ended_at", Timestamp, nullable=True),
    Column("final_billed", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_subscription_items_subscription", "organization_id", "subscription_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("subscription_id", Uuid, nullable=True),
    # One order per (subscription, period, billing reason) — or per change
    # for updates: what makes a second renewal order impossible.
    Column("billing_key", Text, nullable=False),
    Column("billing_reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("period_start", Timestamp, nullable=True),
    Column("period_end", Timestamp, nullable=True),
    # The usage window to read from metering while a draft: [from, to).
    Column("usage_from", Timestamp, nullable=True),
    Column("usage_to", Timestamp, nullable=True),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("inclusive_tax_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("credit_applied_minor", BigInteger, nullable=False),
    Column("credit_carried_minor", BigInteger, nullable=False),
    Column("amount_due_minor", BigInteger, nullable=False),
    Column("amount_paid_minor", BigInteger, nullable=False),
    Column("amount_refunded_minor", BigInteger, nullable=False),
    Column("tax_rate_percent", Text, nullable=True),
    Column("test_clock_id", Uuid, nullable=True),
    # Dunning: failed attempts so far, the first failure, the next charge.
    Column("attempt_count", Integer, nullable=False),
    Column("first_failed_at", Timestamp, nullable=True),
    Column("next_charge_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("finalized_at", Timestamp, nullable=True),
    Column("paid_at", Timestamp, nullable=True),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("organization_id", "billing_key"),
    Index("ix_orders_organization_id_customer_id", "organization_id", "customer_id"),
    Index("ix_orders_organization_id_subscription_id", "organization_id", "subscription_id"),
    Index("ix_orders_drafts", "created_at", postgresql_where=text("status = 'draft'")),
    Index(
        "ix_orders_charge_due",
        "next_charge_at",
        postgresql_where=text("next_charge_at IS NOT NULL AND test_clock_id IS NULL"),
    ),
    Index(
        "ix_orders_test_clock_charge_due",
        "test_clock_id",
        "next_charge_at",
        postgresql_where=text("next_charge_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    ),
    CheckConstraint("total_minor >= 0", name="total_not_negative"),
    CheckConstraint("amount_due_minor >= 0", name="amount_due_not_negative"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("price_id", Uuid, nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("period_start", Timestamp, nullable=True),
    Column("period_end", Timestamp, nullable=True),
    Column("prorated_seconds", BigInteger, nullable=False),
    Column("period_seconds", BigInteger, nullable=False),
    Column("quantity", Text, nullable=False),
    Column("meter_id", Uuid, nullable=True),
    Column("event_count", BigInteger, nullable=False),
    Column("late_quantity", Text, nullable=False),
    # Unrounded for a usage line (a decimal string), whole otherwise: what
    # the invoice arithmetic is given.
    Column("amount_given", Text, nullable=False),
    Column("cap_minor", BigInteger, nullable=True),
    Column("tax_behavior", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("tax_inclusive", Boolean, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    UniqueConstraint("order_id", "position"),
    Index("ix_order_lines_organization_id_order_id", "organization_id", "order_id"),
)

# Proration lines waiting for the next cycle order (NEXT_INVOICE changes).
pending_lines = Table(
    "pending_lines",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("subscription_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("price_id", Uuid, nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("period_start", Timestamp, nullable=True),
    Column("period_end", Timestamp, nullable=True),
    Column("prorated_seconds", BigInteger, nullable=False),
    Column("period_seconds", BigInteger, nullable=False),
    Column("quantity", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("tax_behavior", Text, nullable=False),
    # The order that billed it; NULL while waiting.
    Column("order_id", Uuid, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Index(
        "ix_pending_lines_waiting",
        "organization_id",
        "subscription_id",
        postgresql_where=text("order_id IS NULL"),
    ),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("payment_method_id", Uuid, nullable=True),
    Column("test_clock_id", Uuid, nullable=True),
    # requested (payments not asked yet, or not reached), then what
    # payments answered.
    Column("status", Text, nullable=False),
    Column("payment_id", Uuid, nullable=True),
    Column("failure_code", Text, nullable=True),
    Column("decline_code", Text, nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("retryable", Boolean, nullable=False),
    # When payments is asked (again, after an outage): backoff.
    Column("send_at", Timestamp, nullable=True),
    Column("send_tries", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # One attempt per number: the charge payments makes for it is unique too.
    UniqueConstraint("order_id", "attempt_number"),
    Index("ix_payment_attempts_organization_id_order_id", "organization_id", "order_id"),
    Index("ix_payment_attempts_to_send", "send_at", postgresql_where=text("send_at IS NOT NULL")),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
)

# Refunds of orders' payments (payments' refund events): an order's refunded
# amount is the sum of its succeeded ones, whatever order the events came in.
order_refunds = Table(
    "order_refunds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("source_updated_at", Timestamp, nullable=False),
    Index("ix_order_refunds_organization_id_order_id", "organization_id", "order_id"),
)

# A customer's balance per currency: credit (positive) from downgrades, used
# on the next orders, or a debt (negative) from an order too small to charge
# (below Stripe's minimum), added to the next one.
customer_balances = Table(
    "customer_balances",
    metadata,
    Column("organization_id", Uuid, primary_key=True),
    Column("customer_id", Uuid, primary_key=True),
    Column("currency", Text, primary_key=True),
    Column("credit_minor", BigInteger, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)


# ---- checkout ---------------------------------------------------------------

# Shareable offers: the products a page shows, the discounts a customer may
# type a code of, where the customer goes after paying, a trial override.
checkout_links = Table(
    "checkout_links",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("product_ids", ARRAY(Uuid), nullable=False),
    Column("allowed_discount_ids", ARRAY(Uuid), nullable=False),
    Column("success_url", Text, nullable=False),
    # The trial instead of the products' (NULL: theirs); skip_trial: none.
    Column("trial_interval", Text, nullable=True),
    Column("trial_count", Integer, nullable=True),
    Column("skip_trial", Boolean, nullable=False),
    Column("archived_at", Timestamp, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_checkout_links_organization_id_id", "organization_id", "id"),
)

# One customer's checkout: open (collecting choices and details), then
# processing and completed (its confirmation: the subscription and first
# order it made), or expired. Found by the client secret's hash (unique
# across organizations: the public calls name no organization).
checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("checkout_link_id", Uuid, nullable=True),
    # sha256 of the client secret (the secret itself is never stored).
    Column("client_secret_hash", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),
    Column("product_ids", ARRAY(Uuid), nullable=False),
    Column("allowed_discount_ids", ARRAY(Uuid), nullable=False),
    Column("price_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    Column("seats", Integer, nullable=False),
    # The merchant's customer (NULL: found or made at confirmation).
    Column("customer_id", Uuid, nullable=True),
    Column("customer_email", Text, nullable=False),
    Column("customer_name", Text, nullable=False),
    # The Address message's fields (NULL: none given).
    Column("billing_address", JSONB, nullable=True),
    Column("discount_code", Text, nullable=False),
    Column("discount_id", Uuid, nullable=True),
    Column("promotion_code_id", Uuid, nullable=True),
    Column("trial_interval", Text, nullable=True),
    Column("trial_count", Integer, nullable=True),
    Column("skip_trial", Boolean, nullable=False),
    Column("success_url", Text, nullable=False),
    # The CheckoutTotals message of the current choices.
    Column("totals", LargeBinary, nullable=False),
    # What its confirmation made.
    Column("subscription_id", Uuid, nullable=True),
    Column("order_id", Uuid, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("expire_at", Timestamp, nullable=False),
    Column("completed_at", Timestamp, nullable=True),
    Column("expired_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # Whether `customer_id` is the customer this session made (from the
    # email, name and address typed) rather than the merchant's.
    Column("customer_made", Boolean, nullable=False, server_default=false()),
    # The payments service's SetupIntent the page confirms (NULL: none yet,
    # or a new one is due after a failed payment), and how many were asked
    # for (each request's idempotency key).
    Column("setup_intent_id", Uuid, nullable=True),
    Column("payment_starts", Integer, nullable=False, server_default="0"),
    # Why the last first payment failed: {code, decline_code, message}.
    Column("payment_error", JSONB, nullable=True),
    # How many first payments failed (past MAX_PAYMENT_FAILURES: expired).
    Column("payment_failures", Integer, nullable=False, server_default="0"),
    UniqueConstraint("client_secret_hash"),
    Index("ix_checkout_sessions_organization_id_id", "organization_id", "id"),
    Index(
        "ix_checkout_sessions_organization_id_link",
        "organization_id",
        "checkout_link_id",
    ),
    # The session of a one-time order (its payment's outcome finds it).
    Index(
        "ux_checkout_sessions_organization_id_order",
        "organization_id",
        "order_id",
        unique=True,
        postgresql_where=text("order_id IS NOT NULL"),
    ),
    # What the expiry sweep claims.
    Index(
        "ix_checkout_sessions_open_expiry", "expire_at", postgresql_where=text("status = 'open'")
    ),
    # One-time purchases still processing (their payment waiting for the
    # customer's authentication) that the sweep gives up past their time.
    Index(
        "ix_checkout_sessions_processing_purchases",
        "expire_at",
        postgresql_where=text("status = 'processing' AND subscription_id IS NULL"),
    ),
    # What the retention deletes: expired sessions that bought nothing.
    Index(
        "ix_checkout_sessions_expired_unbought",
        "expired_at",
        postgresql_where=text("status = 'expired' AND subscription_id IS NULL"),
    ),
    CheckConstraint(
        "status IN ('open', 'processing', 'completed', 'expired')", name="status_known"
    ),
    CheckConstraint("seats >= 0", name="seats_not_negative"),
)


# ---- rows -------------------------------------------------------------------


@dataclass
class CustomerCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    test_clock_id: uuid.UUID | None
    deleted_at: dt.datetime | None
    source_updated_at: dt.datetime
    country: str | None
    region: str | None


@dataclass
class TaxRateCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    country: str
    region: str
    percentage: str
    inclusive: bool
    deleted_at: dt.datetime | None
    source_updated_at: dt.datetime


@dataclass
class ProductCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    archived: bool
    payload: bytes
    source_updated_at: dt.datetime


@dataclass
class PriceCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    product_id: uuid.UUID
    archived: bool
    payload: bytes
    source_updated_at: dt.datetime


@dataclass
class BillingSettingsRow:
    organization_id: uuid.UUID
    billing_time_zone: str
    proration_behavior: str
    retry_hours: list[int] | None
    dunning_final_action: str
    updated_at: dt.datetime


@dataclass
class TestClock:
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    frozen_time: dt.datetime
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class Subscription:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    product_id: uuid.UUID
    price_id: uuid.UUID
    currency: str
    status: str
    interval_unit: str
    interval_count: int
    time_zone: str
    seats: int
    payment_method_id: uuid.UUID | None
    discount_id: uuid.UUID | None
    promotion_code_id: uuid.UUID | None
    discount_snapshot: bytes | None
    discount_end_at: dt.datetime | None
    discount_remaining_orders: int | None
    billing_anchor_at: dt.datetime
    period_number: int
    current_period_start: dt.datetime
    current_period_end: dt.datetime
    trial_start: dt.datetime | None
    trial_end: dt.datetime | None
    trial_will_end_sent: bool
    cancel_at_period_end: bool
    canceled_at: dt.datetime | None
    ended_at: dt.datetime | None
    cancellation_reason: str | None
    cancellation_comment: str | None
    test_clock_id: uuid.UUID | None
    scheduled_price_id: uuid.UUID | None
    scheduled_seats: int | None
    next_action_at: dt.datetime | None
    next_retry_at: dt.datetime | None
    latest_order_id: uuid.UUID | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    checkout_session_id: uuid.UUID | None = None
    purchase_reference: str | None = None


@dataclass
class SubscriptionSeat:
    id: uuid.UUID
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    member_customer_id: uuid.UUID
    email: str
    external_id: str
    assigned_at: dt.datetime
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class SubscriptionItem:
    id: uuid.UUID
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    price_id: uuid.UUID
    product_id: uuid.UUID
    position: int
    price_snapshot: bytes
    meter_id: uuid.UUID | None
    usage_start_at: dt.datetime
    usage_billed_to: dt.datetime
    usage_watermark: int
    ended_at: dt.datetime | None
    final_billed: bool
    created_at: dt.datetime


@dataclass
class Order:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    subscription_id: uuid.UUID | None
    billing_key: str
    billing_reason: str
    status: str
    currency: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    usage_from: dt.datetime | None
    usage_to: dt.datetime | None
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    inclusive_tax_minor: int
    total_minor: int
    credit_applied_minor: int
    credit_carried_minor: int
    amount_due_minor: int
    amount_paid_minor: int
    amount_refunded_minor: int
    tax_rate_percent: str | None
    test_clock_id: uuid.UUID | None
    attempt_count: int
    first_failed_at: dt.datetime | None
    next_charge_at: dt.datetime | None
    created_at: dt.datetime
    finalized_at: dt.datetime | None
    paid_at: dt.datetime | None
    updated_at: dt.datetime


@dataclass
class OrderLine:
    id: uuid.UUID
    organization_id: uuid.UUID
    order_id: uuid.UUID
    position: int
    kind: str
    description: str
    price_id: uuid.UUID | None
    product_id: uuid.UUID | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    prorated_seconds: int
    period_seconds: int
    quantity: str
    meter_id: uuid.UUID | None
    event_count: int
    late_quantity: str
    amount_given: str
    cap_minor: int | None
    tax_behavior: str
    amount_minor: int
    discount_minor: int
    tax_minor: int
    tax_inclusive: bool
    total_minor: int


@dataclass
class PendingLine:
    id: uuid.UUID
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    kind: str
    description: str
    price_id: uuid.UUID | None
    product_id: uuid.UUID | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    prorated_seconds: int
    period_seconds: int
    quantity: str
    amount_minor: int
    tax_behavior: str
    order_id: uuid.UUID | None
    created_at: dt.datetime


@dataclass
class PaymentAttempt:
    id: uuid.UUID
    organization_id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID
    attempt_number: int
    amount_minor: int
    currency: str
    payment_method_id: uuid.UUID | None
    test_clock_id: uuid.UUID | None
    status: str
    payment_id: uuid.UUID | None
    failure_code: str | None
    decline_code: str | None
    failure_message: str | None
    retryable: bool
    send_at: dt.datetime | None
    send_tries: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class OrderRefund:
    id: uuid.UUID
    organization_id: uuid.UUID
    order_id: uuid.UUID
    amount_minor: int
    status: str
    source_updated_at: dt.datetime


@dataclass
class CustomerBalance:
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    credit_minor: int
    updated_at: dt.datetime


@dataclass
class CheckoutLink:
    id: uuid.UUID
    organization_id: uuid.UUID
    product_ids: list[uuid.UUID]
    allowed_discount_ids: list[uuid.UUID]
    success_url: str
    trial_interval: str | None
    trial_count: int | None
    skip_trial: bool
    archived_at: dt.datetime | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class CheckoutSession:
    id: uuid.UUID
    organization_id: uuid.UUID
    checkout_link_id: uuid.UUID | None
    client_secret_hash: bytes
    status: str
    product_ids: list[uuid.UUID]
    allowed_discount_ids: list[uuid.UUID]
    price_id: uuid.UUID
    currency: str
    seats: int
    customer_id: uuid.UUID | None
    customer_email: str
    customer_name: str
    billing_address: dict[str, str] | None
    discount_code: str
    discount_id: uuid.UUID | None
    promotion_code_id: uuid.UUID | None
    trial_interval: str | None
    trial_count: int | None
    skip_trial: bool
    success_url: str
    totals: bytes
    subscription_id: uuid.UUID | None
    order_id: uuid.UUID | None
    metadata: dict[str, Any]
    expire_at: dt.datetime
    completed_at: dt.datetime | None
    expired_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    customer_made: bool = False
    setup_intent_id: uuid.UUID | None = None
    payment_starts: int = 0
    payment_error: dict[str, str] | None = None
    payment_failures: int = 0
