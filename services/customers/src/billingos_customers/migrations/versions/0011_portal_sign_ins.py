"""One-time sign-in links to the customer portal: only the token's hash, an
expiry, when it was used and the session it opened.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SCHEMA = "customers"


def upgrade() -> None:
    op.create_table(
        "portal_sign_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_session_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            [f"{SCHEMA}.organizations.id"],
            name="fk_portal_sign_ins_organization_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            [f"{SCHEMA}.customers.id"],
            name="fk_portal_sign_ins_customer_id_customers",
        ),
        sa.ForeignKeyConstraint(
            ["customer_session_id"],
            [f"{SCHEMA}.customer_sessions.id"],
            name="fk_portal_sign_ins_customer_session_id_customer_sessions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portal_sign_ins"),
        sa.UniqueConstraint("token_hash", name="uq_portal_sign_ins_token_hash"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_portal_sign_ins_expires_at", "portal_sign_ins", ["expires_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("ix_portal_sign_ins_expires_at", "portal_sign_ins", schema=SCHEMA)
    op.drop_table("portal_sign_ins", schema=SCHEMA)
