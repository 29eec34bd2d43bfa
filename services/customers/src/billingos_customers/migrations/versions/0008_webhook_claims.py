"""Webhook deliveries: a sender's lease on a delivery it is posting, apart
from its retry schedule (a manual redelivery reschedules a delivery without
freeing it from the sender posting it).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "customers"


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries",
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "claimed_until", schema=SCHEMA)
