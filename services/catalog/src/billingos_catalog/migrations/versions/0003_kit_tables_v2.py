"""Kit tables v2: the outbox's state subject, and the NOTIFY trigger.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from billingos_kit.migrations import downgrade_kit_tables_from_v2, upgrade_kit_tables_to_v2

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "catalog"


def upgrade() -> None:
    upgrade_kit_tables_to_v2(SCHEMA)


def downgrade() -> None:
    downgrade_kit_tables_from_v2(SCHEMA)
