"""The organizations read copy keeps its source's update time, so it follows
`organization.updated` (a rename) and a newer state wins.

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

SCHEMA = "catalog"


def upgrade() -> None:
    # A constant default (the epoch: a state of no known time, which any
    # announced state is newer than): adding the column rewrites nothing,
    # copied rows take the next state announced, and the previous release
    # (which does not name the column) keeps inserting during a rolling deploy.
    op.add_column(
        "organizations",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("'1970-01-01 00:00:00+00'"),
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("organizations", "updated_at", schema=SCHEMA)
