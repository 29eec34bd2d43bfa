"""Products, prices, discounts and their redemptions, the organizations read
copy, and the kit tables.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from billingos_kit.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "catalog"


def upgrade() -> None:
    create_kit_tables(SCHEMA)
    op.create_table(
        "discounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("basis_points", sa.Integer(), nullable=True),
        sa.Column("amounts_off", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("duration", sa.Text(), nullable=False),
        sa.Column("duration_in_intervals", sa.Integer(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemption_count", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("product_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(basis_points IS NULL) <> (amounts_off IS NULL)", name=op.f("ck_discounts_one_effect")
        ),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR redemption_count <= max_redemptions",
            name=op.f("ck_discounts_never_over_redeemed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discounts")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_discounts_organization_id_id",
        "discounts",
        ["organization_id", "id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        "uq_discounts_organization_id_code_live",
        "discounts",
        ["organization_id", sa.literal_column("lower(code)")],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL AND code IS NOT NULL"),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
        schema=SCHEMA,
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recurring_interval", sa.Text(), nullable=True),
        sa.Column("recurring_count", sa.Integer(), nullable=True),
        sa.Column("trial_interval", sa.Text(), nullable=True),
        sa.Column("trial_count", sa.Integer(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("public_metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(recurring_interval IS NULL) = (recurring_count IS NULL)",
            name=op.f("ck_products_recurring_complete"),
        ),
        sa.CheckConstraint(
            "trial_interval IS NULL OR recurring_interval IS NOT NULL",
            name=op.f("ck_products_trial_needs_recurring"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_products_organization_id_id",
        "products",
        ["organization_id", "id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "discount_redemptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("discount_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["discount_id"],
            [f"{SCHEMA}.discounts.id"],
            name=op.f("fk_discount_redemptions_discount_id_discounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_redemptions")),
        sa.UniqueConstraint(
            "discount_id", "reference", name=op.f("uq_discount_redemptions_discount_id_reference")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("amount_type", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("recurring_interval", sa.Text(), nullable=True),
        sa.Column("recurring_count", sa.Integer(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("minimum_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("maximum_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("preset_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("unit_amount", sa.Numeric(precision=24, scale=12), nullable=True),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("cap_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("tier_mode", sa.Text(), nullable=True),
        sa.Column("seat_tiers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(amount_type = 'custom') = (minimum_amount_minor IS NOT NULL)",
            name=op.f("ck_prices_custom_has_minimum"),
        ),
        sa.CheckConstraint(
            "(amount_type = 'fixed') = (amount_minor IS NOT NULL)",
            name=op.f("ck_prices_fixed_has_amount"),
        ),
        sa.CheckConstraint(
            "(amount_type = 'metered_unit') = (unit_amount IS NOT NULL AND meter_id IS NOT NULL)",
            name=op.f("ck_prices_metered_has_unit_amount"),
        ),
        sa.CheckConstraint(
            "(amount_type = 'seat_based') = (seat_tiers IS NOT NULL AND tier_mode IS NOT NULL)",
            name=op.f("ck_prices_seat_based_has_tiers"),
        ),
        sa.CheckConstraint(
            "amount_type IN ('fixed', 'free', 'custom', 'metered_unit', 'seat_based')",
            name=op.f("ck_prices_known_amount_type"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], [f"{SCHEMA}.products.id"], name=op.f("fk_prices_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_prices_product_id_id", "prices", ["product_id", "id"], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    for table in (
        "discount_redemptions",
        "discounts",
        "prices",
        "products",
        "organizations",
        "processed_events",
        "idempotency_keys",
        "outbox_events",
    ):
        op.drop_table(table, schema=SCHEMA)
