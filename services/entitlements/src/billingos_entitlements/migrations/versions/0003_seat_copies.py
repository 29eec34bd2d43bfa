"""The read copy of the engine's subscription seats, which member grants
are decided from.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "entitlements"


def upgrade() -> None:
    op.create_table(
        "seat_copies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("member_customer_id", sa.Uuid(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_seat_copies_subscription",
        "seat_copies",
        ["organization_id", "subscription_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("seat_copies", schema=SCHEMA)
