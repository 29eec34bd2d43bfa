"""Organizations, API keys, customers, and the kit tables.

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

SCHEMA = "customers"


def upgrade() -> None:
    create_kit_tables(SCHEMA)
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("slug", name="uq_organizations_slug"),
        schema=SCHEMA,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            [f"{SCHEMA}.organizations.id"],
            name="fk_api_keys_organization_id_organizations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_api_keys_organization_id", "api_keys", ["organization_id"], schema=SCHEMA)
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("billing_address", postgresql.JSONB(), nullable=True),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            [f"{SCHEMA}.organizations.id"],
            name="fk_customers_organization_id_organizations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_customers_organization_id_external_id_live",
        "customers",
        ["organization_id", "external_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL AND external_id IS NOT NULL"),
    )
    op.create_index(
        "ix_customers_organization_id_email",
        "customers",
        ["organization_id", sa.text("lower(email)")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_customers_organization_id_id", "customers", ["organization_id", "id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("customers", schema=SCHEMA)
    op.drop_table("api_keys", schema=SCHEMA)
    op.drop_table("organizations", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_table("idempotency_keys", schema=SCHEMA)
    op.drop_table("outbox_events", schema=SCHEMA)
