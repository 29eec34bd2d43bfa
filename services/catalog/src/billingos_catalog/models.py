"""The `catalog` schema: its tables (what migrations build and the drift test
checks) and, for each, the row a repository reads and writes (a dataclass
whose fields are the table's columns, in order, checked when the repository
class is made). Vocabulary columns (intervals, amount types, durations) hold
the values of the StrEnums in vocabulary.py."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "catalog"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

# Read copy of the customers context's organizations, so public pages can find
# one by slug without calling the customers service.
organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
)

# Read copy of the customers context's customers (who exists, in which
# organization, whether deleted), so a redemption only names a live customer.
customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    # NULL interval: a one-time product.
    Column("recurring_interval", Text, nullable=True),
    Column("recurring_count", Integer, nullable=True),
    Column("trial_interval", Text, nullable=True),
    Column("trial_count", Integer, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("public_metadata", JSONB, nullable=False),
    Column("archived_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_products_organization_id_id", "organization_id", "id"),
    CheckConstraint(
        "(recurring_interval IS NULL) = (recurring_count IS NULL)", name="recurring_complete"
    ),
    CheckConstraint(
        "trial_interval IS NULL OR recurring_interval IS NOT NULL", name="trial_needs_recurring"
    ),
)

# One row per price, polymorphic by `amount_type`; the columns of the other
# types stay NULL (checked by constraints).
prices = Table(
    "prices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("amount_type", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("recurring_interval", Text, nullable=True),
    Column("recurring_count", Integer, nullable=True),
    # fixed
    Column("amount_minor", BigInteger, nullable=True),
    # custom
    Column("minimum_amount_minor", BigInteger, nullable=True),
    Column("maximum_amount_minor", BigInteger, nullable=True),
    Column("preset_amount_minor", BigInteger, nullable=True),
    # metered_unit: minor units per unit, up to 12 decimal places
    Column("unit_amount", Numeric(24, 12), nullable=True),
    Column("meter_id", Uuid, nullable=True),
    Column("cap_amount_minor", BigInteger, nullable=True),
    # seat_based: [{"from_seats", "to_seats", "amount_per_seat_minor"}]
    Column("tier_mode", Text, nullable=True),
    Column("seat_tiers", JSONB(none_as_null=True), nullable=True),
    Column("archived_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_prices_product_id_id", "product_id", "id"),
    CheckConstraint(
        "amount_type IN ('fixed', 'free', 'custom', 'metered_unit', 'seat_based')",
        name="known_amount_type",
    ),
    CheckConstraint(
        "(amount_type = 'fixed') = (amount_minor IS NOT NULL)", name="fixed_has_amount"
    ),
    CheckConstraint(
        "(amount_type = 'custom') = (minimum_amount_minor IS NOT NULL)",
        name="custom_has_minimum",
    ),
    CheckConstraint(
        "(amount_type = 'metered_unit') = (unit_amount IS NOT NULL AND meter_id IS NOT NULL)",
        name="metered_has_unit_amount",
    ),
    CheckConstraint(
        "(amount_type = 'seat_based') = (seat_tiers IS NOT NULL AND tier_mode IS NOT NULL)",
        name="seat_based_has_tiers",
    ),
)

# The unique index that keeps codes unique per organization, ignoring case,
# among live discounts (the repository maps its violation to the code field).
DISCOUNT_CODE_INDEX = "uq_discounts_organization_id_code_live"

discounts = Table(
    "discounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("code", Text, nullable=True),
    Column("basis_points", Integer, nullable=True),
    # {"USD": 500, "EUR": 450}
    Column("amounts_off", JSONB(none_as_null=True), nullable=True),
    Column("duration", Text, nullable=False),
    Column("duration_in_intervals", Integer, nullable=True),
    Column("max_redemptions", Integer, nullable=True),
    Column("redemption_count", Integer, nullable=False),
    Column("starts_at", Timestamp, nullable=True),
    Column("ends_at", Timestamp, nullable=True),
    Column("product_ids", ARRAY(Uuid), nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Index("ix_discounts_organization_id_id", "organization_id", "id"),
    Index(
        DISCOUNT_CODE_INDEX,
        "organization_id",
        text("lower(code)"),
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND code IS NOT NULL"),
    ),
    CheckConstraint("(basis_points IS NULL) <> (amounts_off IS NULL)", name="one_effect"),
    CheckConstraint(
        "max_redemptions IS NULL OR redemption_count <= max_redemptions",
        name="never_over_redeemed",
    ),
)

discount_redemptions = Table(
    "discount_redemptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("discount_id", Uuid, ForeignKey("discounts.id"), nullable=False),
    Column("reference", Text, nullable=False),
    Column("customer_id", Uuid, nullable=True),
    Column("redeemed_at", Timestamp, nullable=False),
    UniqueConstraint("discount_id", "reference"),
)


@dataclass
class KnownOrganization:
    """An organization as the customers context announced it."""

    id: uuid.UUID
    slug: str
    name: str


@dataclass
class KnownCustomer:
    """A customer as the customers context announced it; `deleted_at` set
    once it is deleted (and never cleared: a deletion is final)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    deleted_at: dt.datetime | None


@dataclass
class Product:
    """What a merchant sells; `recurring_interval` None for a one-time product."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    recurring_interval: str | None
    recurring_count: int | None
    trial_interval: str | None
    trial_count: int | None
    metadata: dict[str, Any]
    public_metadata: dict[str, Any]
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Price:
    """What a product costs in one currency; never edited, only archived."""

    id: uuid.UUID
    organization_id: uuid.UUID
    product_id: uuid.UUID
    amount_type: str
    currency: str
    recurring_interval: str | None
    recurring_count: int | None
    amount_minor: int | None
    minimum_amount_minor: int | None
    maximum_amount_minor: int | None
    preset_amount_minor: int | None
    unit_amount: Decimal | None
    meter_id: uuid.UUID | None
    cap_amount_minor: int | None
    tier_mode: str | None
    seat_tiers: list[dict[str, Any]] | None
    archived_at: dt.datetime | None
    created_at: dt.datetime


@dataclass
class Discount:
    """A percentage (`basis_points`) or per-currency amounts off. Deleting
    sets `deleted_at`; the row stays for its redemptions."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    code: str | None
    basis_points: int | None
    amounts_off: dict[str, int] | None
    duration: str
    duration_in_intervals: int | None
    max_redemptions: int | None
    redemption_count: int
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    product_ids: list[uuid.UUID]
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class DiscountRedemption:
    """One use of a discount, once per discount and reference."""

    id: uuid.UUID
    organization_id: uuid.UUID
    discount_id: uuid.UUID
    reference: str
    customer_id: uuid.UUID | None
    redeemed_at: dt.datetime
