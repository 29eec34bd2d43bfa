"""Meter rollups: each meter's counted events per customer and UTC
quarter-hour, so one customer's quantities read a few thousand rows rather
than every event (rollups.py). Existing meters are recounted once so that
their rollups hold everything counted so far.

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
    # A meter counted before rollups existed has none of its past in them,
    # so each is recounted, as after a filter change: its customer meters
    # start again from zero (credits and windows stay) and count the same
    # events again; quantities read the events until the recount is done.
    op.execute(
        f"UPDATE {SCHEMA}.customer_meters SET event_count = 0, value_sum = 0,"  # noqa: S608
        " value_extreme = NULL WHERE meter_id IN"
        f" (SELECT id FROM {SCHEMA}.meters WHERE aggregation_function <> 'unique')"
    )
    op.execute(
        f"UPDATE {SCHEMA}.meters SET counted_watermark = 0"  # noqa: S608
        " WHERE aggregation_function <> 'unique'"
    )


def downgrade() -> None:
    op.drop_table("meter_rollups", schema=SCHEMA)
