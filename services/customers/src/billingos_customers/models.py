"""The `customers` schema: its tables (what migrations build and the drift test
checks) and, for each, the row a repository reads and writes (a dataclass
whose fields are the table's columns, checked when the repository is made)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "customers"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # Webhook endpoints may use http and private addresses (webhook_urls.py).
    # Set at creation by platform administration only.
    Column("development_mode", Boolean, nullable=False, server_default=text("false")),
    # Branding (OrganizationBranding), each '' when unset: shown on the pages
    # customers see, never fetched by BillingOS (organizations.py checks them).
    Column("logo_url", Text, nullable=False, server_default=text("''")),
    Column("brand_color", Text, nullable=False, server_default=text("''")),
    Column("support_email", Text, nullable=False, server_default=text("''")),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    # The secret itself is never stored, only its SHA-256.
    Column("secret_hash", LargeBinary, nullable=False, unique=True),
    # billingos_kit.scopes.Scope values, sorted; fixed at creation. The server
    # default serves the previous release during a rolling deploy only.
    Column(
        "scopes",
        ARRAY(Text),
        nullable=False,
        server_default=text("ARRAY['api_keys', 'read', 'write']"),
    ),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("email", Text, nullable=False),
    Column("external_id", Text, nullable=True),
    Column("name", Text, nullable=False),
    # Values are str, int/float or bool (checked on the way in).
    Column("metadata", JSONB, nullable=False),
    Column("billing_address", JSONB(none_as_null=True), nullable=True),
    Column("stripe_customer_id", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    # The subscriptions context's test clock the customer lives on; NULL for
    # the real clock. Fixed at creation; a reference only (no table here).
    Column("test_clock_id", Uuid, nullable=True),
    # Unique among live customers only: deleting frees the id for reuse.
    Index(
        "uq_customers_organization_id_external_id_live",
        "organization_id",
        "external_id",
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
    ),
    Index(
        "ix_customers_organization_id_email", "organization_id", text('lower(email COLLATE "C")')
    ),
    Index("ix_customers_organization_id_id", "organization_id", "id"),
)


customer_sessions = Table(
    "customer_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    # A customer of that organization (the domain checks it on create).
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False, index=True),
    # The token itself is never stored, only its SHA-256.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
)


# One-time sign-in links to the customer portal (portal_sign_in.py): only the
# token's hash, a quarter of an hour of life, used at most once. A request
# that matched no customer writes one row for nobody (`customer_id` NULL,
# its token thrown away), so a miss costs the database what a hit does.
portal_sign_ins = Table(
    "portal_sign_ins",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=True),
    # The token itself is never stored, only its SHA-256.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp, nullable=True),
    # The session the exchange opened (for the record: which sign-in made it).
    Column("customer_session_id", Uuid, ForeignKey("customer_sessions.id"), nullable=True),
    # What the retention job purges: long expired rows.
    Index("ix_portal_sign_ins_expires_at", "expires_at"),
)


webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    # Empty: every type webhook_dispatch.py posts.
    Column("event_types", ARRAY(Text), nullable=False),
    # Stored as given: an HMAC key must be at hand to sign with (unlike an
    # API key, which is only ever compared).
    Column("secret", Text, nullable=False),
    # The secret a rotation replaced, signing beside `secret` until then.
    Column("previous_secret", Text, nullable=True),
    Column("previous_secret_expires_at", Timestamp, nullable=True),
    # The last `sequence` given to a delivery (webhook_dispatch.py takes the
    # next under this row's lock).
    Column("last_sequence", BigInteger, nullable=False),
    # The first failed attempt since the endpoint last succeeded; NULL while
    # it answers (webhook_sender.py disables it after 3 days of failing).
    Column("failing_since", Timestamp, nullable=True),
    Column("disabled_at", Timestamp, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Index("ix_webhook_endpoints_organization_id_id", "organization_id", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("endpoint_id", Uuid, ForeignKey("webhook_endpoints.id"), nullable=False),
    # The event's id: the `webhook-id` of every attempt.
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    # The JSON envelope exactly as posted and signed (webhook_envelope.py).
    Column("body", Text, nullable=False),
    # webhook_sender.DeliveryStatus values.
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    # The current series (a manual redelivery starts a new one): its
    # attempts and the time of its first, for the retry schedule.
    Column("series_attempts", Integer, nullable=False),
    Column("series_started_at", Timestamp, nullable=True),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("last_response_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # Set while a sender posts it (its lease): no other sender takes it, nor
    # another delivery of its endpoint, until it is recorded or this passes.
    # Apart from `next_attempt_at`, so a redelivery never frees it mid-POST.
    Column("claimed_until", Timestamp, nullable=True),
    # A redelivered event (or one read again after processed_events was
    # purged) enqueues once.
    Index("uq_webhook_deliveries_endpoint_id_event_id", "endpoint_id", "event_id", unique=True),
    # An endpoint's numbers have no repeats.
    Index("uq_webhook_deliveries_endpoint_id_sequence", "endpoint_id", "sequence", unique=True),
    # Is an earlier delivery of the endpoint still open? (the sender's claim)
    Index(
        "ix_webhook_deliveries_open_endpoint_id_sequence",
        "endpoint_id",
        "sequence",
        postgresql_where=text("status IN ('pending', 'retrying')"),
    ),
    Index(
        "ix_webhook_deliveries_organization_id_endpoint_id_id",
        "organization_id",
        "endpoint_id",
        "id",
    ),
    # What the sender polls: only the deliveries still to be made.
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status IN ('pending', 'retrying')"),
    ),
)

webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("delivery_id", Uuid, ForeignKey("webhook_deliveries.id"), nullable=False, index=True),
    Column("attempted_at", Timestamp, nullable=False),
    # NULL when no answer came (timeout, refused connection or address).
    Column("response_status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
)


@dataclass
class Organization:
    """A merchant; every other row names one."""

    id: uuid.UUID
    name: str
    slug: str
    created_at: dt.datetime
    updated_at: dt.datetime
    development_mode: bool
    logo_url: str = ""
    brand_color: str = ""  # "#rrggbb", lower case
    support_email: str = ""


@dataclass
class ApiKey:
    """A merchant's API key, as stored: a hash, a visible prefix, scopes."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    prefix: str
    secret_hash: bytes
    scopes: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass
class Customer:
    """A merchant's customer. Deleting sets `deleted_at`; the row stays for history."""

    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    external_id: str | None
    name: str
    metadata: dict[str, Any]
    billing_address: dict[str, str] | None
    stripe_customer_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    test_clock_id: uuid.UUID | None


@dataclass
class CustomerSession:
    """A customer portal credential, as stored: a hash, an expiry, a revocation."""

    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    token_hash: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass
class PortalSignIn:
    """A sign-in link as stored: a hash, an expiry, when it was used and the
    session it opened; `customer_id` None for a request that matched no one."""

    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID | None
    token_hash: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    customer_session_id: uuid.UUID | None


@dataclass
class WebhookEndpoint:
    """Where the organization's events are posted, and how they are signed."""

    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: dt.datetime | None
    last_sequence: int
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class WebhookDelivery:
    """One event for one endpoint: its body as signed, and where it stands."""

    id: uuid.UUID
    organization_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    sequence: int
    body: str
    status: str
    attempts: int
    series_attempts: int
    series_started_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_response_status: int | None
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    claimed_until: dt.datetime | None = None


@dataclass
class WebhookDeliveryAttempt:
    """One POST of a delivery and what came of it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    delivery_id: uuid.UUID
    attempted_at: dt.datetime
    response_status: int | None
    error: str | None
    duration_ms: int
