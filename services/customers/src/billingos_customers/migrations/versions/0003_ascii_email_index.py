"""Email look-ups fold case for A-Z only, whatever the database's collation.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "customers"


def upgrade() -> None:
    op.execute(f'DROP INDEX "{SCHEMA}".ix_customers_organization_id_email')
    op.execute(
        f'CREATE INDEX ix_customers_organization_id_email ON "{SCHEMA}".customers '
        '(organization_id, lower((email COLLATE "C")))'
    )


def downgrade() -> None:
    op.execute(f'DROP INDEX "{SCHEMA}".ix_customers_organization_id_email')
    op.execute(
        f'CREATE INDEX ix_customers_organization_id_email ON "{SCHEMA}".customers '
        "(organization_id, lower(email))"
    )
