"""Customer sessions: short-lived tokens a merchant makes for one of its
customers, for the customer portal routes. Only the token's hash is stored.

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

SCHEMA = "customers"


def upgrade() -> None:
    op.create_table(
        "customer_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            [f"{SCHEMA}.organizations.id"],
            name="fk_customer_sessions_organization_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [f"{SCHEMA}.customers.id"],
            name="fk_customer_sessions_customer_id_customers",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_customer_sessions_token_hash"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_customer_sessions_customer_id", "customer_sessions", ["customer_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("ix_customer_sessions_customer_id", "customer_sessions", schema=SCHEMA)
    op.drop_table("customer_sessions", schema=SCHEMA)
