"""Products list benefits: `products.benefit_ids` (attach order; existing
products list none), and the read copy of the entitlements context's
benefits that attaching checks against.

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

SCHEMA = "catalog"


def upgrade() -> None:
    op.create_table(
        "benefits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_benefits"),
        schema=SCHEMA,
    )
    # The default fills existing rows only: new products are written whole.
    op.add_column(
        "products",
        sa.Column(
            "benefit_ids",
            postgresql.ARRAY(sa.Uuid()),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        schema=SCHEMA,
    )
    op.alter_column("products", "benefit_ids", server_default=None, schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("products", "benefit_ids", schema=SCHEMA)
    op.drop_table("benefits", schema=SCHEMA)
