"""Organizations' branding (logo URL, brand colour, support email), shown on
the pages customers see; '' when unset.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCHEMA = "customers"
COLUMNS = ("logo_url", "brand_color", "support_email")


def upgrade() -> None:
    # A constant default: adding the columns rewrites nothing, and the
    # previous release (which does not name them) keeps inserting
    # organizations without branding.
    for name in COLUMNS:
        op.add_column(
            "organizations",
            sa.Column(name, sa.Text(), nullable=False, server_default=sa.text("''")),
            schema=SCHEMA,
        )


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("organizations", name, schema=SCHEMA)
