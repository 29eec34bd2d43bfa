"""A checkout session found by the one-time order its confirmation made: the
engine completes or reopens the session as the order's payment settles.
Unique: one session per order.

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
    op.create_index(
        "ux_checkout_sessions_organization_id_order",
        "checkout_sessions",
        ["organization_id", "order_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_checkout_sessions_organization_id_order", "checkout_sessions", schema=SCHEMA)
