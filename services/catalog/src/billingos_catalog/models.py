"""Tables of the `catalog` schema."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from billingos_kit.db import service_metadata
from billingos_kit.tables import define_kit_tables

SCHEMA = "catalog"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


kit_tables = define_kit_tables(Base.metadata)

Timestamp = DateTime(timezone=True)


class KnownOrganization(Base):
    """Read copy of the customers context's organizations (from
    `organization.created`), so public pages can find one by slug."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)


class KnownCustomer(Base):
    """Read copy of the customers context's customers (from `customer.created`
    and `customer.deleted`), so a redemption can only name a live customer of
    its own organization."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    # NULL interval: a one-time product.
    recurring_interval: Mapped[str | None] = mapped_column(Text)
    recurring_count: Mapped[int | None] = mapped_column(Integer)
    trial_interval: Mapped[str | None] = mapped_column(Text)
    trial_count: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    public_metadata: Mapped[dict[str, Any]] = mapped_column(JSONB)
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_products_organization_id_id", "organization_id", "id"),
        CheckConstraint(
            "(recurring_interval IS NULL) = (recurring_count IS NULL)", name="recurring_complete"
        ),
        CheckConstraint(
            "trial_interval IS NULL OR recurring_interval IS NOT NULL", name="trial_needs_recurring"
        ),
    )


class Price(Base):
    """One row per price, polymorphic by `amount_type`; the columns of the other
    types stay NULL (checked by constraints)."""

    __tablename__ = "prices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    amount_type: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    recurring_interval: Mapped[str | None] = mapped_column(Text)
    recurring_count: Mapped[int | None] = mapped_column(Integer)
    # fixed
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    # custom
    minimum_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    maximum_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    preset_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    # metered_unit: minor units per unit, up to 12 decimal places
    unit_amount: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    meter_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cap_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    # seat_based: [{"from_seats", "to_seats", "amount_per_seat_minor"}]
    tier_mode: Mapped[str | None] = mapped_column(Text)
    seat_tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB(none_as_null=True))
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (
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


class Discount(Base):
    __tablename__ = "discounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)
    basis_points: Mapped[int | None] = mapped_column(Integer)
    # {"USD": 500, "EUR": 450}
    amounts_off: Mapped[dict[str, int] | None] = mapped_column(JSONB(none_as_null=True))
    duration: Mapped[str] = mapped_column(Text)
    duration_in_intervals: Mapped[int | None] = mapped_column(Integer)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redemption_count: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    ends_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    product_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_discounts_organization_id_id", "organization_id", "id"),
        # Codes are unique per organization, ignoring case, among live discounts.
        Index(
            "uq_discounts_organization_id_code_live",
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


class DiscountRedemption(Base):
    __tablename__ = "discount_redemptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    discount_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discounts.id"))
    reference: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    redeemed_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("discount_id", "reference"),)
