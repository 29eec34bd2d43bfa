"""Webhook deliveries: an index of each endpoint's open deliveries by
sequence (the sender's "is an earlier one still open?" reads only these,
not the 30 days of finished ones beside them), and an endpoint's sequence
numbers unique in the database, not only by the dispatcher's row lock.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "customers"
OPEN = sa.text("status IN ('pending', 'retrying')")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_open_endpoint_id_sequence",
        "webhook_deliveries",
        ["endpoint_id", "sequence"],
        postgresql_where=OPEN,
        schema=SCHEMA,
    )
    op.drop_index("ix_webhook_deliveries_endpoint_id_sequence", "webhook_deliveries", schema=SCHEMA)
    op.create_index(
        "uq_webhook_deliveries_endpoint_id_sequence",
        "webhook_deliveries",
        ["endpoint_id", "sequence"],
        unique=True,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("uq_webhook_deliveries_endpoint_id_sequence", "webhook_deliveries", schema=SCHEMA)
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_sequence",
        "webhook_deliveries",
        ["endpoint_id", "sequence"],
        schema=SCHEMA,
    )
    op.drop_index(
        "ix_webhook_deliveries_open_endpoint_id_sequence", "webhook_deliveries", schema=SCHEMA
    )
