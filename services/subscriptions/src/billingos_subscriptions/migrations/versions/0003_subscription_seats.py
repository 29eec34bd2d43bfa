"""The seats of seat-based subscriptions, each held by a member customer.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "subscriptions"


def upgrade() -> None:
    op.create_table(
        "subscription_seats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("member_customer_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_seats")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_subscription_seats_organization_id_subscription_id_id",
        "subscription_seats",
        ["organization_id", "subscription_id", "id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_subscription_seats_organization_id_member",
        "subscription_seats",
        ["organization_id", "member_customer_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ux_subscription_seats_live_member",
        "subscription_seats",
        ["subscription_id", "member_customer_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("subscription_seats", schema=SCHEMA)
