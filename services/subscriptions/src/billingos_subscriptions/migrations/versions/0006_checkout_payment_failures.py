"""How many first payments of a checkout session failed: past a few the
session is expired (a page that takes card after card is a card tester's).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "subscriptions"


def upgrade() -> None:
    op.add_column(
        "checkout_sessions",
        sa.Column("payment_failures", sa.Integer(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("checkout_sessions", "payment_failures", schema=SCHEMA)
