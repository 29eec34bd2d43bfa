"""A purchase abandoned unpaid (the subscriptions context's
`purchase.abandoned`): it no longer counts as the customer's purchase, and
the discount use redeemed under its reference is given back.

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

SCHEMA = "catalog"


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing, and the previous
    # release (which names neither) keeps inserting during a rolling deploy.
    op.add_column(
        "purchases",
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "discount_redemptions",
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("discount_redemptions", "released_at", schema=SCHEMA)
    op.drop_column("purchases", "abandoned_at", schema=SCHEMA)
