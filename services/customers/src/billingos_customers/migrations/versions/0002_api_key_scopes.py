"""API keys carry scopes; keys made before scopes existed keep full access.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "customers"


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("ARRAY['api_keys', 'read', 'write']"),
        ),
        schema=SCHEMA,
    )
    # The default stays for one release: during a rolling deploy, processes
    # still running the previous version insert keys without scopes (full
    # access, as every key had). New code always names the scopes.


def downgrade() -> None:
    op.drop_column("api_keys", "scopes", schema=SCHEMA)
