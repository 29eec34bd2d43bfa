"""Checkout: links (shareable offers) and sessions (one customer's checkout,
found by its client secret's hash), and the checkout session a subscription
was made by (one subscription per session).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "subscriptions"


def upgrade() -> None:
    op.create_table(
        "checkout_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("allowed_discount_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("success_url", sa.Text(), nullable=False),
        sa.Column("trial_interval", sa.Text(), nullable=True),
        sa.Column("trial_count", sa.Integer(), nullable=True),
        sa.Column("skip_trial", sa.Boolean(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_links")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_checkout_links_organization_id_id",
        "checkout_links",
        ["organization_id", "id"],
        schema=SCHEMA,
    )
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("checkout_link_id", sa.Uuid(), nullable=True),
        sa.Column("client_secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("product_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("allowed_discount_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("customer_email", sa.Text(), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=False),
        sa.Column("billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("discount_code", sa.Text(), nullable=False),
        sa.Column("discount_id", sa.Uuid(), nullable=True),
        sa.Column("promotion_code_id", sa.Uuid(), nullable=True),
        sa.Column("trial_interval", sa.Text(), nullable=True),
        sa.Column("trial_count", sa.Integer(), nullable=True),
        sa.Column("skip_trial", sa.Boolean(), nullable=False),
        sa.Column("success_url", sa.Text(), nullable=False),
        sa.Column("totals", sa.LargeBinary(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'processing', 'completed', 'expired')",
            name=op.f("ck_checkout_sessions_status_known"),
        ),
        sa.CheckConstraint("seats >= 0", name=op.f("ck_checkout_sessions_seats_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_sessions")),
        sa.UniqueConstraint(
            "client_secret_hash", name=op.f("uq_checkout_sessions_client_secret_hash")
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_checkout_sessions_organization_id_id",
        "checkout_sessions",
        ["organization_id", "id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_checkout_sessions_organization_id_link",
        "checkout_sessions",
        ["organization_id", "checkout_link_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_checkout_sessions_open_expiry",
        "checkout_sessions",
        ["expire_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.add_column(
        "subscriptions",
        sa.Column("checkout_session_id", sa.Uuid(), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_subscriptions_checkout_session",
        "subscriptions",
        ["organization_id", "checkout_session_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("checkout_session_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_subscriptions_checkout_session", "subscriptions", schema=SCHEMA)
    op.drop_column("subscriptions", "checkout_session_id", schema=SCHEMA)
    op.drop_table("checkout_sessions", schema=SCHEMA)
    op.drop_table("checkout_links", schema=SCHEMA)
