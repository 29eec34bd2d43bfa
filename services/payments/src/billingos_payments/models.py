"""The `payments` schema: its tables (what migrations build and the drift test
checks) and, for each, the row a repository reads and writes (a dataclass
whose fields are the table's columns, in order). Status columns hold the
values of the StrEnums in vocabulary.py; amounts are integer minor units of
OUR currency exponents (billingos_pricing), converted to Stripe's only at the
Stripe boundary."""

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
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "payments"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

# Read copy of the customers context's customers (from its state stream),
# with each one's Stripe customer once payments has made it.
customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    # The customer's update_time in the last state applied: an older state
    # arriving later is not applied.
    Column("source_updated_at", Timestamp, nullable=False),
    Column("stripe_customer_id", Text, nullable=True, unique=True),
    # What Stripe was last told (email, name), so a change is sent once.
    Column("stripe_email", Text, nullable=True),
    Column("stripe_name", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_customers_organization_id_id", "organization_id", "id"),
)

setup_intents = Table(
    "setup_intents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("stripe_setup_intent_id", Text, nullable=False, unique=True),
    Column("client_secret", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("payment_method_id", Uuid, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_setup_intents_organization_id_id", "organization_id", "id"),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    # Known once: a SetupIntent's success seen by its webhook and by a sync
    # call records the card one time only.
    Column("stripe_payment_method_id", Text, nullable=False, unique=True),
    Column("brand", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("detached_at", Timestamp, nullable=True),
    Index("ix_payment_methods_organization_id_customer_id", "organization_id", "customer_id"),
    # At most one default per customer.
    Index(
        "uq_payment_methods_one_default",
        "customer_id",
        unique=True,
        postgresql_where=text("is_default AND detached_at IS NULL"),
    ),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("payment_method_id", Uuid, nullable=True),
    Column("stripe_payment_intent_id", Text, nullable=True, unique=True),
    Column("status", Text, nullable=False),
    Column("failure_code", Text, nullable=True),
    Column("decline_code", Text, nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("retryable", Boolean, nullable=False),
    Column("client_secret", Text, nullable=True),
    Column("application_fee_minor", BigInteger, nullable=True),
    Column("destination_account", Text, nullable=True),
    Column("amount_refunded_minor", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # The attempt's deterministic key: one row, one PaymentIntent, per
    # (order, attempt number), however often and concurrently it is asked for.
    UniqueConstraint("organization_id", "order_id", "attempt_number"),
    Index("ix_payments_organization_id_customer_id", "organization_id", "customer_id"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("attempt_number > 0", name="attempt_positive"),
    CheckConstraint(
        "amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_minor",
        name="refunds_within_amount",
    ),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("payment_id", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("stripe_refund_id", Text, nullable=True, unique=True),
    Column("status", Text, nullable=False),
    # Why it failed or was canceled (Stripe's failure_reason, or ours).
    Column("failure_reason", Text, nullable=True),
    # The Idempotency-Key of the call that asked for it: a retry of that call
    # finds it and finishes it, never makes a second one.
    Column("idempotency_key", Text, nullable=True),
    # A digest of what that call asked for: the key's retry must ask the same.
    Column("request_digest", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_refunds_organization_id_payment_id", "organization_id", "payment_id"),
    Index(
        "uq_refunds_organization_id_idempotency_key",
        "organization_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # Refunds that never reached Stripe, for the sweep that settles them.
    Index(
        "ix_refunds_unsent",
        "created_at",
        postgresql_where=text("stripe_refund_id IS NULL AND status = 'pending'"),
    ),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
)

connect_accounts = Table(
    "connect_accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False, unique=True),
    Column("stripe_account_id", Text, nullable=False, unique=True),
    Column("country", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("charges_enabled", Boolean, nullable=False),
    Column("payouts_enabled", Boolean, nullable=False),
    Column("details_submitted", Boolean, nullable=False),
    # The whole Stripe account object, as last received.
    Column("stripe_account", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

payment_settings = Table(
    "payment_settings",
    metadata,
    Column("organization_id", Uuid, primary_key=True),
    Column("application_fee_basis_points", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("application_fee_basis_points BETWEEN 0 AND 10000", name="fee_within_bounds"),
)

# Every Stripe event received, once (by Stripe's event id), as Stripe sent it.
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("stripe_created", BigInteger, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("processed_at", Timestamp, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    # After a failed attempt: not tried again before this (backoff).
    Column("next_attempt_at", Timestamp, nullable=True),
    Index(
        "ix_stripe_events_unprocessed",
        "received_at",
        postgresql_where=text("processed_at IS NULL"),
    ),
)


@dataclass
class Customer:
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    name: str
    deleted_at: dt.datetime | None
    source_updated_at: dt.datetime
    stripe_customer_id: str | None
    stripe_email: str | None
    stripe_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class SetupIntent:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    stripe_setup_intent_id: str
    client_secret: str
    status: str
    payment_method_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class PaymentMethod:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    stripe_payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    detached_at: dt.datetime | None


@dataclass
class Payment:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    order_id: uuid.UUID
    attempt_number: int
    amount_minor: int
    currency: str
    payment_method_id: uuid.UUID | None
    stripe_payment_intent_id: str | None
    status: str
    failure_code: str | None
    decline_code: str | None
    failure_message: str | None
    retryable: bool
    client_secret: str | None
    application_fee_minor: int | None
    destination_account: str | None
    amount_refunded_minor: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Refund:
    id: uuid.UUID
    organization_id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    currency: str
    reason: str
    stripe_refund_id: str | None
    status: str
    failure_reason: str | None
    idempotency_key: str | None
    request_digest: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class ConnectAccount:
    id: uuid.UUID
    organization_id: uuid.UUID
    stripe_account_id: str
    country: str
    email: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    stripe_account: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class PaymentSettings:
    organization_id: uuid.UUID
    application_fee_basis_points: int
    updated_at: dt.datetime


@dataclass
class StripeEvent:
    id: str
    type: str
    payload: dict[str, Any]
    stripe_created: int
    received_at: dt.datetime
    processed_at: dt.datetime | None
    outcome: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None = None
