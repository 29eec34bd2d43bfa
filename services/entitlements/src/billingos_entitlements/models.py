"""The `entitlements` schema: its tables (what migrations build and the drift
test checks) and, for each, the row a repository reads and writes (a
dataclass whose fields are the table's columns, in order). Vocabulary
columns hold the values of the StrEnums in vocabulary.py.

Its own tables are benefits and benefit grants; the rest are read copies of
what other contexts announce (products' benefit lists, customers,
subscriptions and one-time orders, customer meter balances), each keeping
the newest state it has heard (`source_updated_at`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "entitlements"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

# A benefit's key is unique among the organization's live benefits.
BENEFIT_KEY_INDEX = "ux_benefits_organization_id_key"

benefits = Table(
    "benefits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("type", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("description", Text, nullable=False),
    # The type's properties, as benefit_rules.py reads and writes them.
    Column("properties", JSONB, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Index("ix_benefits_organization_id_id", "organization_id", "id"),
    Index(
        BENEFIT_KEY_INDEX,
        "organization_id",
        "key",
        unique=True,
        postgresql_where=text("deleted_at IS NULL"),
    ),
    CheckConstraint(
        "type IN ('feature_flag', 'meter_credits', 'license_keys', 'custom')",
        name="known_benefit_type",
    ),
)

# One row per (source, member, benefit): granted, or revoked and kept. The
# source is a subscription or a one-time order; "no member" is the nil UUID
# so the unique index needs no NULL handling.
NO_MEMBER = uuid.UUID(int=0)
GRANT_INDEX = "ux_benefit_grants_source_member_benefit"

benefit_grants = Table(
    "benefit_grants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("member_id", Uuid, nullable=False),
    Column("benefit_id", Uuid, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    # When it was last granted; revoked while `revoked_at` is set.
    Column("granted_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
    # What the grant carries by its benefit's type (a license key's id, the
    # last period credited, a custom benefit's properties).
    Column("properties", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(GRANT_INDEX, "source_id", "member_id", "benefit_id", unique=True),
    Index("ix_benefit_grants_organization_id_id", "organization_id", "id"),
    Index("ix_benefit_grants_customer", "organization_id", "customer_id"),
    Index("ix_benefit_grants_benefit", "organization_id", "benefit_id"),
    CheckConstraint("source IN ('subscription', 'order')", name="known_grant_source"),
)

# Read copy of the catalog's products: which benefits each one grants.
products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("benefit_ids", ARRAY(Uuid), nullable=False),
    Column("source_updated_at", Timestamp, nullable=False),
)

# Read copy of the customers context's customers (the external id a check
# may name, whether deleted).
customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("external_id", Text, nullable=True),
    Column("deleted_at", Timestamp, nullable=True),
    Column("source_updated_at", Timestamp, nullable=False),
    Index(
        "ux_customers_organization_id_external_id",
        "organization_id",
        "external_id",
        unique=True,
        postgresql_where=text("external_id IS NOT NULL AND deleted_at IS NULL"),
    ),
)

# Read copy of the billing engine's subscriptions and one-time orders: what
# grants. `live` is the engine's word turned into ours: whether the source
# grants its product's benefits now; `ended` is final (a later event naming
# an earlier state never brings it back).
grant_sources = Table(
    "grant_sources",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("status", Text, nullable=False),
    Column("live", Boolean, nullable=False),
    Column("ended", Boolean, nullable=False),
    Column("price_id", Uuid, nullable=True),
    Column("seats", Integer, nullable=False),
    Column("current_period_start", Timestamp, nullable=True),
    Column("current_period_end", Timestamp, nullable=True),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("source_updated_at", Timestamp, nullable=False),
    # The event that carried the state: of two states of one time (a test
    # clock's frozen time stamps them all alike) the later event wins (ids
    # are UUIDv7s, in the order the engine made them).
    Column("source_event_id", Uuid, nullable=False),
    Index("ix_grant_sources_product", "organization_id", "product_id"),
    Index("ix_grant_sources_customer", "organization_id", "customer_id"),
    CheckConstraint("kind IN ('subscription', 'order')", name="known_source_kind"),
)


# The engine's subscription seats (its state stream): who holds a seat of
# which subscription. A seat is assigned, then freed for good (assigning
# the member again makes another seat), so a freed copy never goes back.
seat_copies = Table(
    "seat_copies",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("subscription_id", Uuid, nullable=False),
    Column("member_customer_id", Uuid, nullable=False),
    Column("live", Boolean, nullable=False),
    # When it was assigned, or freed: when the member's grants change.
    Column("source_updated_at", Timestamp, nullable=False),
    Index("ix_seat_copies_subscription", "organization_id", "subscription_id"),
)

# The credits each meter-credits grant asks metering for: one row per
# (grant, period), sent by the crediter (credits.py) with the row's id as the
# idempotency key, so a retry after a lost answer credits once.
CREDIT_INDEX = "ux_meter_credits_grant_period"

meter_credits = Table(
    "meter_credits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("grant_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("meter_id", Uuid, nullable=False),
    Column("units", Text, nullable=False),
    Column("renewal", Text, nullable=False),
    Column("period_start", Timestamp, nullable=False),
    Column("sent_at", Timestamp, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", Timestamp, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Index(CREDIT_INDEX, "grant_id", "period_start", unique=True),
    Index("ix_meter_credits_due", "next_try_at", postgresql_where=text("sent_at IS NULL")),
    CheckConstraint("renewal IN ('reset', 'rollover')", name="known_renewal"),
)


# A license key per grant of a license-keys benefit; its key unique in the
# organization (what the merchant's app looks it up by).
LICENSE_KEY_INDEX = "ux_license_keys_organization_id_key"

license_keys = Table(
    "license_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("grant_id", Uuid, nullable=False, unique=True),
    Column("customer_id", Uuid, nullable=False),
    Column("benefit_id", Uuid, nullable=False),
    Column("key", Text, nullable=False),
    Column("activation_limit", Integer, nullable=False),
    Column("expires_at", Timestamp, nullable=True),
    Column("revoked_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(LICENSE_KEY_INDEX, "organization_id", "key", unique=True),
    Index("ix_license_keys_organization_id_id", "organization_id", "id"),
)

license_key_activations = Table(
    "license_key_activations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("license_key_id", Uuid, nullable=False),
    Column("label", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("deactivated_at", Timestamp, nullable=True),
    Index("ix_license_key_activations_key", "organization_id", "license_key_id"),
)


@dataclass
class Benefit:
    """A benefit; deleting sets `deleted_at` (its grants are revoked, the row
    stays for them)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    type: str
    key: str
    description: str
    properties: dict[str, Any]
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class BenefitGrant:
    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    member_id: uuid.UUID
    benefit_id: uuid.UUID
    source: str
    source_id: uuid.UUID
    product_id: uuid.UUID
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    properties: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def is_granted(self) -> bool:
        return self.revoked_at is None


@dataclass
class ProductCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    benefit_ids: list[uuid.UUID]
    source_updated_at: dt.datetime


@dataclass
class CustomerCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    external_id: str | None
    deleted_at: dt.datetime | None
    source_updated_at: dt.datetime


@dataclass
class SeatCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    member_customer_id: uuid.UUID
    live: bool
    source_updated_at: dt.datetime


@dataclass
class GrantSourceCopy:
    id: uuid.UUID
    organization_id: uuid.UUID
    kind: str
    customer_id: uuid.UUID
    product_id: uuid.UUID
    status: str
    live: bool
    ended: bool
    price_id: uuid.UUID | None
    seats: int
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    source_updated_at: dt.datetime
    source_event_id: uuid.UUID


@dataclass
class MeterCredit:
    id: uuid.UUID
    organization_id: uuid.UUID
    grant_id: uuid.UUID
    customer_id: uuid.UUID
    meter_id: uuid.UUID
    units: str
    renewal: str
    period_start: dt.datetime
    sent_at: dt.datetime | None
    attempts: int
    next_try_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime


@dataclass
class LicenseKey:
    id: uuid.UUID
    organization_id: uuid.UUID
    grant_id: uuid.UUID
    customer_id: uuid.UUID
    benefit_id: uuid.UUID
    key: str
    activation_limit: int
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class LicenseKeyActivation:
    id: uuid.UUID
    organization_id: uuid.UUID
    license_key_id: uuid.UUID
    label: str
    created_at: dt.datetime
    deactivated_at: dt.datetime | None
