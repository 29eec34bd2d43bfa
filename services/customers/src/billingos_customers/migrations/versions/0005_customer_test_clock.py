"""Customers can live on a test clock (the subscriptions context's); NULL is
the real clock, which every existing customer keeps.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "customers"


def upgrade() -> None:
    # Nullable without a default: adding it rewrites nothing, and the previous
    # release (which does not name it) keeps inserting real-clock customers.
    op.add_column("customers", sa.Column("test_clock_id", sa.Uuid(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("customers", "test_clock_id", schema=SCHEMA)
