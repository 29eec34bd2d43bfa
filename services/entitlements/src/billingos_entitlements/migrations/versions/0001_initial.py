"""The kit tables (outbox,
idempotency keys, processed events).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from billingos_kit.migrations import (
    create_kit_tables,
    downgrade_kit_tables_from_v2,
    upgrade_kit_tables_to_v2,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "entitlements"


def upgrade() -> None:
    create_kit_tables(SCHEMA)
    upgrade_kit_tables_to_v2(SCHEMA)


def downgrade() -> None:
    downgrade_kit_tables_from_v2(SCHEMA)
    for table in ("processed_events", "idempotency_keys", "outbox_events"):
        op.drop_table(table, schema=SCHEMA)
