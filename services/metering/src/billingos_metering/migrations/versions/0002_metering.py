"""The metering tables: the customers read copy, usage events (partitioned
by month, with their default partition) and their external ids, meters,
customer meters and the distinct values of unique meters.

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

SCHEMA = "metering"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_customers_organization_id_external_id",
        "customers",
        ["organization_id", "external_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "event_keys",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "external_id", name="pk_event_keys"),
        schema=SCHEMA,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("external_customer_id", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        schema=SCHEMA,
        postgresql_partition_by="RANGE (timestamp)",
    )
    op.create_index(
        "ix_events_organization_id_customer_id_timestamp",
        "events",
        ["organization_id", "customer_id", "timestamp"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_events_organization_id_timestamp",
        "events",
        ["organization_id", "timestamp"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_events_unresolved",
        "events",
        ["organization_id", "external_customer_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("customer_id IS NULL"),
    )
    op.create_index("ix_events_xid", "events", ["xid"], schema=SCHEMA)
    op.create_index(
        "ix_events_organization_id_xid", "events", ["organization_id", "xid"], schema=SCHEMA
    )
    op.execute(f"CREATE TABLE {SCHEMA}.events_default PARTITION OF {SCHEMA}.events DEFAULT")
    op.create_table(
        "meters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("aggregation_function", sa.Text(), nullable=False),
        sa.Column("aggregation_property", sa.Text(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted_watermark", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_meters_organization_id_id", "meters", ["organization_id", "id"], schema=SCHEMA
    )
    op.create_table(
        "customer_meters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("value_sum", sa.Numeric(), nullable=False),
        sa.Column("value_extreme", sa.Numeric(), nullable=True),
        sa.Column("credited_units", sa.Numeric(), nullable=False),
        sa.Column("window_start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_watermark", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_meters")),
        sa.UniqueConstraint(
            "meter_id", "customer_id", name="uq_customer_meters_meter_id_customer_id"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_customer_meters_organization_id_customer_id",
        "customer_meters",
        ["organization_id", "customer_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "balance_progress",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_balance_progress_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_progress")),
        schema=SCHEMA,
    )
    op.execute(f"INSERT INTO {SCHEMA}.balance_progress (id, watermark) VALUES (1, 0)")  # noqa: S608
    op.create_table(
        "customer_meter_values",
        sa.Column("customer_meter_id", sa.Uuid(), nullable=False),
        sa.Column("value_digest", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_meter_id", "value_digest", name="pk_customer_meter_values"
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in (
        "customer_meter_values",
        "balance_progress",
        "customer_meters",
        "meters",
        "events",
        "event_keys",
        "customers",
    ):
        op.drop_table(table, schema=SCHEMA)
