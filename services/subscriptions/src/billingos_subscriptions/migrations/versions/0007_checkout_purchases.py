"""One-time purchases through checkout. A checkout session is found by the
one-time order its confirmation made (the engine completes or reopens the
session as the order's payment settles; unique: one session per order). A
subscription keeps the reference its purchase was recorded under with the
catalog, given back if it ends before its first payment.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "subscriptions"


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing, and the previous
    # release (which does not name it) keeps inserting during a rolling deploy.
    op.add_column(
        "subscriptions",
        sa.Column("purchase_reference", sa.Text(), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "ux_checkout_sessions_organization_id_order",
        "checkout_sessions",
        ["organization_id", "order_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )
    op.create_index(
        "ix_checkout_sessions_processing_purchases",
        "checkout_sessions",
        ["expire_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'processing' AND subscription_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_checkout_sessions_processing_purchases", "checkout_sessions", schema=SCHEMA)
    op.drop_index("ux_checkout_sessions_organization_id_order", "checkout_sessions", schema=SCHEMA)
    op.drop_column("subscriptions", "purchase_reference", schema=SCHEMA)
