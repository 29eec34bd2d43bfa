"""Benefits and benefit grants, and the read copies grants are decided from:
products' benefit lists, customers, and the engine's subscriptions and
one-time orders.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "entitlements"


def _timestamp(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "benefits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", False),
        _timestamp("updated_at", False),
        _timestamp("deleted_at", True),
        sa.CheckConstraint(
            "type IN ('feature_flag', 'meter_credits', 'license_keys', 'custom')",
            name="known_benefit_type",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_benefits_organization_id_id", "benefits", ["organization_id", "id"], schema=SCHEMA
    )
    op.create_index(
        "ux_benefits_organization_id_key",
        "benefits",
        ["organization_id", "key"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        schema=SCHEMA,
    )
    op.create_table(
        "benefit_grants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        _timestamp("granted_at", False),
        _timestamp("revoked_at", True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", False),
        _timestamp("updated_at", False),
        sa.CheckConstraint("source IN ('subscription', 'order')", name="known_grant_source"),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_benefit_grants_source_member_benefit",
        "benefit_grants",
        ["source_id", "member_id", "benefit_id"],
        unique=True,
        schema=SCHEMA,
    )
    for name, columns in (
        ("ix_benefit_grants_organization_id_id", ["organization_id", "id"]),
        ("ix_benefit_grants_customer", ["organization_id", "customer_id"]),
        ("ix_benefit_grants_benefit", ["organization_id", "benefit_id"]),
    ):
        op.create_index(name, "benefit_grants", columns, schema=SCHEMA)
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        _timestamp("source_updated_at", False),
        schema=SCHEMA,
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        _timestamp("deleted_at", True),
        _timestamp("source_updated_at", False),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_customers_organization_id_external_id",
        "customers",
        ["organization_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL AND deleted_at IS NULL"),
        schema=SCHEMA,
    )
    op.create_table(
        "grant_sources",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=False),
        _timestamp("current_period_start", True),
        _timestamp("current_period_end", True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        _timestamp("source_updated_at", False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('subscription', 'order')", name="known_source_kind"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_grant_sources_product",
        "grant_sources",
        ["organization_id", "product_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_grant_sources_customer",
        "grant_sources",
        ["organization_id", "customer_id"],
        schema=SCHEMA,
    )

    op.create_table(
        "meter_credits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("units", sa.Text(), nullable=False),
        sa.Column("renewal", sa.Text(), nullable=False),
        _timestamp("period_start", False),
        _timestamp("sent_at", True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("next_try_at", False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at", False),
        sa.CheckConstraint("renewal IN ('reset', 'rollover')", name="known_renewal"),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_meter_credits_grant_period",
        "meter_credits",
        ["grant_id", "period_start"],
        unique=True,
        schema=SCHEMA,
    )
    op.create_index(
        "ix_meter_credits_due",
        "meter_credits",
        ["next_try_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
        schema=SCHEMA,
    )
    op.create_table(
        "license_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("activation_limit", sa.Integer(), nullable=False),
        _timestamp("expires_at", True),
        _timestamp("revoked_at", True),
        _timestamp("created_at", False),
        _timestamp("updated_at", False),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_license_keys_organization_id_key",
        "license_keys",
        ["organization_id", "key"],
        unique=True,
        schema=SCHEMA,
    )
    op.create_index(
        "ix_license_keys_organization_id_id",
        "license_keys",
        ["organization_id", "id"],
        schema=SCHEMA,
    )
    op.create_table(
        "license_key_activations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("license_key_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _timestamp("created_at", False),
        _timestamp("deactivated_at", True),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_license_key_activations_key",
        "license_key_activations",
        ["organization_id", "license_key_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "license_key_activations",
        "license_keys",
        "meter_credits",
        "grant_sources",
        "customers",
        "products",
        "benefit_grants",
        "benefits",
    ):
        op.drop_table(table, schema=SCHEMA)
