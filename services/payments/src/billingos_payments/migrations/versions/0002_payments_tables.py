"""The payments tables: the customers read copy with Stripe customers,
SetupIntents, payment methods, payments, refunds, Connect accounts, payment
settings and the Stripe events received.

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
        "connect_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_account_id", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        sa.Column("stripe_account", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_accounts")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_connect_accounts_organization_id")),
        sa.UniqueConstraint(
            "stripe_account_id", name=op.f("uq_connect_accounts_stripe_account_id")
        ),
        schema="payments",
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column("stripe_email", sa.Text(), nullable=True),
        sa.Column("stripe_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_customers_stripe_customer_id")),
        schema="payments",
    )
    op.create_index(
        "ix_customers_organization_id_id",
        "customers",
        ["organization_id", "id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_payment_method_id", sa.Text(), nullable=False),
        sa.Column("brand", sa.Text(), nullable=False),
        sa.Column("last4", sa.Text(), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint(
            "stripe_payment_method_id", name=op.f("uq_payment_methods_stripe_payment_method_id")
        ),
        schema="payments",
    )
    op.create_index(
        "ix_payment_methods_organization_id_customer_id",
        "payment_methods",
        ["organization_id", "customer_id"],
        unique=False,
        schema="payments",
    )
    op.create_index(
        "uq_payment_methods_one_default",
        "payment_methods",
        ["customer_id"],
        unique=True,
        schema="payments",
        postgresql_where=sa.text("is_default AND detached_at IS NULL"),
    )
    op.create_table(
        "payment_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("application_fee_basis_points", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "application_fee_basis_points BETWEEN 0 AND 10000",
            name=op.f("ck_payment_settings_fee_within_bounds"),
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_payment_settings")),
        schema="payments",
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("failure_code", sa.Text(), nullable=True),
        sa.Column("decline_code", sa.Text(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("application_fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("destination_account", sa.Text(), nullable=True),
        sa.Column("amount_refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_minor",
            name=op.f("ck_payments_refunds_within_amount"),
        ),
        sa.CheckConstraint("attempt_number > 0", name=op.f("ck_payments_attempt_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "organization_id",
            "order_id",
            "attempt_number",
            name=op.f("uq_payments_organization_id_order_id_attempt_number"),
        ),
        sa.UniqueConstraint(
            "stripe_payment_intent_id", name=op.f("uq_payments_stripe_payment_intent_id")
        ),
        schema="payments",
    )
    op.create_index(
        "ix_payments_organization_id_customer_id",
        "payments",
        ["organization_id", "customer_id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stripe_refund_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_digest", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_refunds_stripe_refund_id")),
        schema="payments",
    )
    op.create_index(
        "ix_refunds_organization_id_payment_id",
        "refunds",
        ["organization_id", "payment_id"],
        unique=False,
        schema="payments",
    )
    op.create_index(
        "uq_refunds_organization_id_idempotency_key",
        "refunds",
        ["organization_id", "idempotency_key"],
        unique=True,
        schema="payments",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "ix_refunds_unsent",
        "refunds",
        ["created_at"],
        unique=False,
        schema="payments",
        postgresql_where=sa.text("stripe_refund_id IS NULL AND status = 'pending'"),
    )
    op.create_table(
        "setup_intents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_setup_intent_id", sa.Text(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_intents")),
        sa.UniqueConstraint(
            "stripe_setup_intent_id", name=op.f("uq_setup_intents_stripe_setup_intent_id")
        ),
        schema="payments",
    )
    op.create_index(
        "ix_setup_intents_organization_id_id",
        "setup_intents",
        ["organization_id", "id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("stripe_created", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        schema="payments",
    )
    op.create_index(
        "ix_stripe_events_unprocessed",
        "stripe_events",
        ["received_at"],
        unique=False,
        schema="payments",
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_stripe_events_unprocessed",
        table_name="stripe_events",
        schema="payments",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_table("stripe_events", schema="payments")
    op.drop_index(
        "ix_setup_intents_organization_id_id", table_name="setup_intents", schema="payments"
    )
    op.drop_table("setup_intents", schema="payments")
    op.drop_index("ix_refunds_unsent", table_name="refunds", schema="payments")
    op.drop_index(
        "uq_refunds_organization_id_idempotency_key", table_name="refunds", schema="payments"
    )
    op.drop_index("ix_refunds_organization_id_payment_id", table_name="refunds", schema="payments")
    op.drop_table("refunds", schema="payments")
    op.drop_index(
        "ix_payments_organization_id_customer_id", table_name="payments", schema="payments"
    )
    op.drop_table("payments", schema="payments")
    op.drop_table("payment_settings", schema="payments")
    op.drop_index(
        "uq_payment_methods_one_default",
        table_name="payment_methods",
        schema="payments",
        postgresql_where=sa.text("is_default AND detached_at IS NULL"),
    )
    op.drop_index(
        "ix_payment_methods_organization_id_customer_id",
        table_name="payment_methods",
        schema="payments",
    )
    op.drop_table("payment_methods", schema="payments")
    op.drop_index("ix_customers_organization_id_id", table_name="customers", schema="payments")
    op.drop_table("customers", schema="payments")
    op.drop_table("connect_accounts", schema="payments")
