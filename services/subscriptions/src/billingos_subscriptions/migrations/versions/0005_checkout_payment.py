"""Checkout payment: the customer a session made, the SetupIntent its page
confirms (and how many it has asked for), and why its last first payment
failed; an index for the retention of expired sessions that bought nothing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "subscriptions"


def upgrade() -> None:
    op.add_column(
        "checkout_sessions",
        sa.Column("customer_made", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )
    op.add_column(
        "checkout_sessions", sa.Column("setup_intent_id", sa.Uuid(), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "checkout_sessions",
        sa.Column("payment_starts", sa.Integer(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.add_column(
        "checkout_sessions",
        sa.Column("payment_error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_checkout_sessions_expired_unbought",
        "checkout_sessions",
        ["expired_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'expired' AND subscription_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_checkout_sessions_expired_unbought", "checkout_sessions", schema=SCHEMA)
    for column in ("payment_error", "payment_starts", "setup_intent_id", "customer_made"):
        op.drop_column("checkout_sessions", column, schema=SCHEMA)
