"""The billing engine's tables: read copies of customers (with their
billing address's place), products, prices and tax rates; billing
settings, test clocks, subscriptions and their items, orders and their
lines and refunds, pending proration lines, payment attempts and customer
balances.

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


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("billing_time_zone", sa.Text(), nullable=False),
        sa.Column("proration_behavior", sa.Text(), nullable=False),
        sa.Column("retry_hours", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("dunning_final_action", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_billing_settings")),
        schema="subscriptions",
    )
    op.create_table(
        "customer_balances",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "customer_id", "currency", name=op.f("pk_customer_balances")
        ),
        schema="subscriptions",
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("test_clock_id", sa.Uuid(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        schema="subscriptions",
    )
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prorated_seconds", sa.BigInteger(), nullable=False),
        sa.Column("period_seconds", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("late_quantity", sa.Text(), nullable=False),
        sa.Column("amount_given", sa.Text(), nullable=False),
        sa.Column("cap_minor", sa.BigInteger(), nullable=True),
        sa.Column("tax_behavior", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_inclusive", sa.Boolean(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_order_lines_order_id_position")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_order_lines_organization_id_order_id",
        "order_lines",
        ["organization_id", "order_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("billing_key", sa.Text(), nullable=False),
        sa.Column("billing_reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("inclusive_tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_applied_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_carried_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_due_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate_percent", sa.Text(), nullable=True),
        sa.Column("test_clock_id", sa.Uuid(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_charge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_due_minor >= 0", name=op.f("ck_orders_amount_due_not_negative")),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_orders_total_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "organization_id", "billing_key", name=op.f("uq_orders_organization_id_billing_key")
        ),
        schema="subscriptions",
    )
    op.create_index(
        "ix_orders_charge_due",
        "orders",
        ["next_charge_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("next_charge_at IS NOT NULL AND test_clock_id IS NULL"),
    )
    op.create_index(
        "ix_orders_drafts",
        "orders",
        ["created_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.create_index(
        "ix_orders_organization_id_customer_id",
        "orders",
        ["organization_id", "customer_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_index(
        "ix_orders_organization_id_subscription_id",
        "orders",
        ["organization_id", "subscription_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_index(
        "ix_orders_test_clock_charge_due",
        "orders",
        ["test_clock_id", "next_charge_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("next_charge_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("test_clock_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("failure_code", sa.Text(), nullable=True),
        sa.Column("decline_code", sa.Text(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_tries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payment_attempts_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint(
            "order_id", "attempt_number", name=op.f("uq_payment_attempts_order_id_attempt_number")
        ),
        schema="subscriptions",
    )
    op.create_index(
        "ix_payment_attempts_organization_id_order_id",
        "payment_attempts",
        ["organization_id", "order_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_index(
        "ix_payment_attempts_to_send",
        "payment_attempts",
        ["send_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("send_at IS NOT NULL"),
    )
    op.create_table(
        "pending_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prorated_seconds", sa.BigInteger(), nullable=False),
        sa.Column("period_seconds", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_behavior", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_lines")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_pending_lines_waiting",
        "pending_lines",
        ["organization_id", "subscription_id"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("order_id IS NULL"),
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_prices_organization_id_product_id",
        "prices",
        ["organization_id", "product_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        schema="subscriptions",
    )
    op.create_table(
        "subscription_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_snapshot", sa.LargeBinary(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("usage_start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_billed_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_watermark", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_billed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_items")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_subscription_items_subscription",
        "subscription_items",
        ["organization_id", "subscription_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("interval_unit", sa.Text(), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("discount_id", sa.Uuid(), nullable=True),
        sa.Column("promotion_code_id", sa.Uuid(), nullable=True),
        sa.Column("discount_snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("discount_end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discount_remaining_orders", sa.Integer(), nullable=True),
        sa.Column("billing_anchor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_number", sa.Integer(), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trial_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_will_end_sent", sa.Boolean(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("cancellation_comment", sa.Text(), nullable=True),
        sa.Column("test_clock_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_price_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_seats", sa.Integer(), nullable=True),
        sa.Column("next_action_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_order_id", sa.Uuid(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("interval_count > 0", name=op.f("ck_subscriptions_interval_positive")),
        sa.CheckConstraint("seats >= 0", name=op.f("ck_subscriptions_seats_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_subscriptions_due",
        "subscriptions",
        ["next_action_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("next_action_at IS NOT NULL AND test_clock_id IS NULL"),
    )
    op.create_index(
        "ix_subscriptions_organization_id_customer_id",
        "subscriptions",
        ["organization_id", "customer_id"],
        unique=False,
        schema="subscriptions",
    )
    op.create_index(
        "ix_subscriptions_test_clock_due",
        "subscriptions",
        ["test_clock_id", "next_action_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("next_action_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    )
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_test_clocks_advancing",
        "test_clocks",
        ["id"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("status = 'advancing'"),
    )
    op.create_index(
        "ix_test_clocks_organization_id_id",
        "test_clocks",
        ["organization_id", "id"],
        unique=False,
        schema="subscriptions",
    )

    op.create_table(
        "tax_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("percentage", sa.Text(), nullable=False),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_tax_rates_organization_id_country",
        "tax_rates",
        ["organization_id", "country"],
        unique=False,
        schema="subscriptions",
    )
    op.add_column(
        "customers", sa.Column("country", sa.Text(), nullable=True), schema="subscriptions"
    )
    op.add_column(
        "customers", sa.Column("region", sa.Text(), nullable=True), schema="subscriptions"
    )

    op.create_table(
        "order_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refunds")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_order_refunds_organization_id_order_id",
        "order_refunds",
        ["organization_id", "order_id"],
        unique=False,
        schema="subscriptions",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_order_refunds_organization_id_order_id",
        table_name="order_refunds",
        schema="subscriptions",
    )
    op.drop_table("order_refunds", schema="subscriptions")
    op.drop_column("customers", "region", schema="subscriptions")
    op.drop_column("customers", "country", schema="subscriptions")
    op.drop_index(
        "ix_tax_rates_organization_id_country", table_name="tax_rates", schema="subscriptions"
    )
    op.drop_table("tax_rates", schema="subscriptions")
    op.drop_index(
        "ix_test_clocks_organization_id_id", table_name="test_clocks", schema="subscriptions"
    )
    op.drop_index(
        "ix_test_clocks_advancing",
        table_name="test_clocks",
        schema="subscriptions",
        postgresql_where=sa.text("status = 'advancing'"),
    )
    op.drop_table("test_clocks", schema="subscriptions")
    op.drop_index(
        "ix_subscriptions_test_clock_due",
        table_name="subscriptions",
        schema="subscriptions",
        postgresql_where=sa.text("next_action_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_subscriptions_organization_id_customer_id",
        table_name="subscriptions",
        schema="subscriptions",
    )
    op.drop_index(
        "ix_subscriptions_due",
        table_name="subscriptions",
        schema="subscriptions",
        postgresql_where=sa.text("next_action_at IS NOT NULL AND test_clock_id IS NULL"),
    )
    op.drop_table("subscriptions", schema="subscriptions")
    op.drop_index(
        "ix_subscription_items_subscription",
        table_name="subscription_items",
        schema="subscriptions",
    )
    op.drop_table("subscription_items", schema="subscriptions")
    op.drop_table("products", schema="subscriptions")
    op.drop_index(
        "ix_prices_organization_id_product_id", table_name="prices", schema="subscriptions"
    )
    op.drop_table("prices", schema="subscriptions")
    op.drop_index(
        "ix_pending_lines_waiting",
        table_name="pending_lines",
        schema="subscriptions",
        postgresql_where=sa.text("order_id IS NULL"),
    )
    op.drop_table("pending_lines", schema="subscriptions")
    op.drop_index(
        "ix_payment_attempts_to_send",
        table_name="payment_attempts",
        schema="subscriptions",
        postgresql_where=sa.text("send_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_payment_attempts_organization_id_order_id",
        table_name="payment_attempts",
        schema="subscriptions",
    )
    op.drop_table("payment_attempts", schema="subscriptions")
    op.drop_index(
        "ix_orders_test_clock_charge_due",
        table_name="orders",
        schema="subscriptions",
        postgresql_where=sa.text("next_charge_at IS NOT NULL AND test_clock_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_orders_organization_id_subscription_id", table_name="orders", schema="subscriptions"
    )
    op.drop_index(
        "ix_orders_organization_id_customer_id", table_name="orders", schema="subscriptions"
    )
    op.drop_index(
        "ix_orders_drafts",
        table_name="orders",
        schema="subscriptions",
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.drop_index(
        "ix_orders_charge_due",
        table_name="orders",
        schema="subscriptions",
        postgresql_where=sa.text("next_charge_at IS NOT NULL AND test_clock_id IS NULL"),
    )
    op.drop_table("orders", schema="subscriptions")
    op.drop_index(
        "ix_order_lines_organization_id_order_id", table_name="order_lines", schema="subscriptions"
    )
    op.drop_table("order_lines", schema="subscriptions")
    op.drop_table("customers", schema="subscriptions")
    op.drop_table("customer_balances", schema="subscriptions")
    op.drop_table("billing_settings", schema="subscriptions")
