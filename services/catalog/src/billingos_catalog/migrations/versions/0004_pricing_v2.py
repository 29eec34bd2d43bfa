"""Pricing v2: usage models on metered prices, seat counts, lookup keys,
nicknames, metadata and tax behaviour on prices; promotion codes, repeating
discounts in months, purchases (what makes a price used), tax rates and tax
settings.

Existing prices keep what they were: updated when created, no lookup key or
nickname, empty metadata, tax behaviour unspecified, unused.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "catalog"

_METERED = (
    "'metered_unit', 'metered_tiers', 'metered_package', 'metered_percentage', "
    "'metered_graduated_percentage'"
)
_PRICE_CHECKS = {
    "known_amount_type_v2": (
        "amount_type IN ('fixed', 'free', 'custom', 'seat_based', " + _METERED + ")"
    ),
    "metered_has_meter": f"(amount_type IN ({_METERED})) = (meter_id IS NOT NULL)",
    "minimum_spend_is_metered": "minimum_spend_minor IS NULL OR meter_id IS NOT NULL",
    "tier_mode_where_tiered": (
        "(tier_mode IS NOT NULL) = (amount_type IN ('seat_based', 'metered_tiers'))"
    ),
    "usage_tiers_where_tiered": (
        "(amount_type IN ('metered_tiers', 'metered_graduated_percentage')) = "
        "(usage_tiers IS NOT NULL)"
    ),
    "package_complete": (
        "(amount_type = 'metered_package') = (package_size IS NOT NULL AND "
        "amount_per_package IS NOT NULL AND package_rounding IS NOT NULL AND "
        "free_units IS NOT NULL)"
    ),
    "percentage_has_rate": (
        "(amount_type = 'metered_percentage') = (percentage_rate IS NOT NULL AND "
        "fixed_fee_per_event IS NOT NULL)"
    ),
    "seat_counts_on_seats": (
        "amount_type = 'seat_based' OR (minimum_seats IS NULL AND maximum_seats IS NULL)"
    ),
    "known_tax_behavior": "tax_behavior IN ('unspecified', 'inclusive', 'exclusive')",
}


def _timestamp(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _upgrade_prices()
    op.add_column("discounts", sa.Column("duration_in_months", sa.Integer()), schema=SCHEMA)
    _create_promotion_codes()
    _create_purchases()
    _create_tax_tables()


def _upgrade_prices() -> None:
    nullable = [
        _timestamp("first_used_at", True),
        sa.Column("lookup_key", sa.Text()),
        sa.Column("minimum_spend_minor", sa.BigInteger()),
        sa.Column("minimum_seats", sa.Integer()),
        sa.Column("maximum_seats", sa.Integer()),
        sa.Column("usage_tiers", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("package_size", sa.BigInteger()),
        sa.Column("amount_per_package", sa.Numeric(precision=24, scale=12)),
        sa.Column("package_rounding", sa.Text()),
        sa.Column("free_units", sa.Numeric(precision=54, scale=30)),
        sa.Column("percentage_rate", sa.Numeric(precision=13, scale=10)),
        sa.Column("fixed_fee_per_event", sa.Numeric(precision=24, scale=12)),
        sa.Column("per_event_minimum", sa.Numeric(precision=24, scale=12)),
        sa.Column("per_event_maximum", sa.Numeric(precision=24, scale=12)),
    ]
    # NOT NULL columns are filled for the rows there are, then lose the
    # default: every insert names them.
    filled = {
        "updated_at": (sa.DateTime(timezone=True), sa.text("now()")),
        "nickname": (sa.Text(), sa.text("''")),
        "metadata": (postgresql.JSONB(astext_type=sa.Text()), sa.text("'{}'::jsonb")),
        "tax_behavior": (sa.Text(), sa.text("'unspecified'")),
    }
    for name, (kind, default) in filled.items():
        op.add_column(
            "prices", sa.Column(name, kind, nullable=False, server_default=default), schema=SCHEMA
        )
    op.execute("UPDATE catalog.prices SET updated_at = created_at")
    for name in filled:
        op.alter_column("prices", name, server_default=None, schema=SCHEMA)
    for column in nullable:
        op.add_column("prices", column, schema=SCHEMA)
    op.drop_constraint(op.f("ck_prices_known_amount_type"), "prices", type_="check", schema=SCHEMA)
    for name, condition in _PRICE_CHECKS.items():
        op.create_check_constraint(op.f(f"ck_prices_{name}"), "prices", condition, schema=SCHEMA)
    op.create_index(
        "uq_prices_organization_id_lookup_key",
        "prices",
        ["organization_id", "lookup_key"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("lookup_key IS NOT NULL"),
    )


def _create_promotion_codes() -> None:
    op.create_table(
        "promotion_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("discount_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        _timestamp("archived_at", True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemption_count", sa.Integer(), nullable=False),
        _timestamp("expires_at", True),
        sa.Column("first_purchase_only", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("minimum_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("minimum_amount_currency", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", False),
        _timestamp("updated_at", False),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR redemption_count <= max_redemptions",
            name=op.f("ck_promotion_codes_never_over_redeemed"),
        ),
        sa.CheckConstraint(
            "(minimum_amount_minor IS NULL) = (minimum_amount_currency IS NULL)",
            name=op.f("ck_promotion_codes_minimum_amount_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["discount_id"],
            [f"{SCHEMA}.discounts.id"],
            name=op.f("fk_promotion_codes_discount_id_discounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_codes")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_promotion_codes_discount_id_id",
        "promotion_codes",
        ["discount_id", "id"],
        schema=SCHEMA,
    )
    op.create_index(
        "uq_promotion_codes_organization_id_code_live",
        "promotion_codes",
        ["organization_id", sa.literal_column("lower(code)")],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.add_column(
        "discount_redemptions",
        sa.Column("promotion_code_id", sa.Uuid(), nullable=True),
        schema=SCHEMA,
    )
    op.create_foreign_key(
        op.f("fk_discount_redemptions_promotion_code_id_promotion_codes"),
        "discount_redemptions",
        "promotion_codes",
        ["promotion_code_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
    )
    # A customer's earlier first-purchase redemptions (discounts.py).
    op.create_index(
        "ix_discount_redemptions_organization_id_customer_id",
        "discount_redemptions",
        ["organization_id", "customer_id"],
        schema=SCHEMA,
    )


def _create_purchases() -> None:
    op.create_table(
        "purchases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("price_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        _timestamp("purchased_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint(
            "organization_id", "reference", name=op.f("uq_purchases_organization_id_reference")
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_purchases_organization_id_customer_id",
        "purchases",
        ["organization_id", "customer_id"],
        schema=SCHEMA,
    )


def _create_tax_tables() -> None:
    op.create_table(
        "tax_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("percentage", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", False),
        _timestamp("updated_at", False),
        _timestamp("deleted_at", True),
        sa.CheckConstraint(
            "percentage >= 0 AND percentage <= 100",
            name=op.f("ck_tax_rates_percentage_in_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_tax_rates_organization_id_id", "tax_rates", ["organization_id", "id"], schema=SCHEMA
    )
    op.create_index(
        "uq_tax_rates_organization_id_country_region_live",
        "tax_rates",
        ["organization_id", "country", "region"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "tax_settings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("default_tax_behavior", sa.Text(), nullable=False),
        _timestamp("updated_at", False),
        sa.CheckConstraint(
            "id = organization_id", name=op.f("ck_tax_settings_one_per_organization")
        ),
        sa.CheckConstraint(
            "default_tax_behavior IN ('unspecified', 'inclusive', 'exclusive')",
            name=op.f("ck_tax_settings_known_default_tax_behavior"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_settings")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    # Prices of the new types cannot be written down in the old schema, and
    # deleting them would take them from the subscriptions that bought them.
    newer = op.get_bind().execute(
        sa.text(
            "SELECT count(*) FROM catalog.prices WHERE amount_type NOT IN "
            "('fixed', 'free', 'custom', 'metered_unit', 'seat_based')"
        )
    )
    if newer.scalar_one():
        raise RuntimeError("prices of the v2 usage models exist; the old schema cannot hold them")
    op.drop_table("tax_settings", schema=SCHEMA)
    op.drop_table("tax_rates", schema=SCHEMA)
    op.drop_table("purchases", schema=SCHEMA)
    op.drop_index(
        "ix_discount_redemptions_organization_id_customer_id",
        table_name="discount_redemptions",
        schema=SCHEMA,
    )
    op.drop_constraint(
        op.f("fk_discount_redemptions_promotion_code_id_promotion_codes"),
        "discount_redemptions",
        type_="foreignkey",
        schema=SCHEMA,
    )
    op.drop_column("discount_redemptions", "promotion_code_id", schema=SCHEMA)
    op.drop_table("promotion_codes", schema=SCHEMA)
    op.drop_column("discounts", "duration_in_months", schema=SCHEMA)
    op.drop_index("uq_prices_organization_id_lookup_key", "prices", schema=SCHEMA)
    for name in _PRICE_CHECKS:
        op.drop_constraint(op.f(f"ck_prices_{name}"), "prices", type_="check", schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_prices_known_amount_type"),
        "prices",
        "amount_type IN ('fixed', 'free', 'custom', 'metered_unit', 'seat_based')",
        schema=SCHEMA,
    )
    for name in (
        "updated_at",
        "lookup_key",
        "nickname",
        "metadata",
        "tax_behavior",
        "first_used_at",
        "minimum_spend_minor",
        "minimum_seats",
        "maximum_seats",
        "usage_tiers",
        "package_size",
        "amount_per_package",
        "package_rounding",
        "free_units",
        "percentage_rate",
        "fixed_fee_per_event",
        "per_event_minimum",
        "per_event_maximum",
    ):
        op.drop_column("prices", name, schema=SCHEMA)
