"""Meter rollups: each meter's events per customer and UTC quarter-hour, so
one customer's quantities read a few thousand rows rather than every event
(rollups.py), with their own state: `rollup_progress`, and on each meter
`rolled_to` and `rolled_spec`. Nothing else changes: balances stay as they are, and until a
meter's rollups are built its quantities are read from the events, as
before. So the migration is safe beside pods of the previous release, which
neither read nor write rollups.

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

SCHEMA = "metering"


def upgrade() -> None:
    op.create_table(
        "meter_rollups",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("quarter_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("value_sum", sa.Numeric(), nullable=False),
        sa.Column("value_extreme", sa.Numeric(), nullable=True),
        sa.PrimaryKeyConstraint(
            "meter_id", "customer_id", "quarter_start", name=op.f("pk_meter_rollups")
        ),
        schema=SCHEMA,
    )
    # Every meter starts behind (0), and so does one an older pod creates.
    op.add_column(
        "meters",
        sa.Column("rolled_to", sa.BigInteger(), server_default=sa.text("0"), nullable=True),
        schema=SCHEMA,
    )
    op.add_column("meters", sa.Column("rolled_spec", sa.Text(), nullable=True), schema=SCHEMA)
    op.create_table(
        "rollup_progress",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_rollup_progress_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_progress")),
        schema=SCHEMA,
    )
    op.execute(f"INSERT INTO {SCHEMA}.rollup_progress (id, watermark) VALUES (1, 0)")  # noqa: S608


def downgrade() -> None:
    op.drop_table("rollup_progress", schema=SCHEMA)
    op.drop_column("meters", "rolled_spec", schema=SCHEMA)
    op.drop_column("meters", "rolled_to", schema=SCHEMA)
    op.drop_table("meter_rollups", schema=SCHEMA)
