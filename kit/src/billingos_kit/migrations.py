"""Alembic, the same way for every service: migrations live in the service's
package, the version table sits in the service's own schema, and concurrent
starts (several replicas, a migrations Job) serialize on an advisory lock.

A service's `migrations/env.py` is one call: `run_migrations(metadata)`.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from billingos_kit.db import async_url

VERSION_TABLE = "alembic_version"
# The NOTIFY channel the outbox trigger signals and the relay listens on.
OUTBOX_CHANNEL = "billingos_outbox"


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    """An Alembic config for one service, without any .ini file."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # Alembic's config is ConfigParser-based: '%' must be doubled.
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(migrations_dir: Path, database_url: str) -> None:
    """Applies every migration of one service (blocking; run it before serving)."""
    command.upgrade(alembic_config(migrations_dir, database_url), "head")


async def upgrade_to_head_async(migrations_dir: Path, database_url: str) -> None:
    """`upgrade_to_head` from inside an event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade_to_head, migrations_dir, database_url)


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every service's `env.py`."""
    schema = target_metadata.schema
    if schema is None:
        raise RuntimeError("service metadata must name its schema")
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not configured")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata, schema))


async def _run_online(url: str, target_metadata: MetaData, schema: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_locked, target_metadata, schema)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_locked(connection: Connection, target_metadata: MetaData, schema: str) -> None:
    # A transaction-level lock: released by the commit or by the rollback of a
    # failed migration, so an error never leaves the schema locked.
    lock_id = zlib.crc32(f"billingos-migrations:{schema}".encode())
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, kind, _parent: kind != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def schema_drift(connection: Connection, target_metadata: MetaData) -> list[object]:
    """Differences between the migrated database and the models (empty when in step)."""
    from alembic.autogenerate import compare_metadata

    schema = target_metadata.schema
    # Partitions of a partitioned table are made at run time (by month, say),
    # not declared in the models: the partitioned table itself is compared.
    partitions = {
        row[0]
        for row in connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema"
            ),
            {"schema": schema},
        )
    }

    def include_name(name: str | None, kind: str, _parent: object) -> bool:
        if kind == "schema":
            return name == schema
        return not (kind == "table" and name in partitions)

    migration_context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_type": True,
            "version_table": VERSION_TABLE,
            "version_table_schema": schema,
        },
    )
    return list(compare_metadata(migration_context, target_metadata))


def create_kit_tables(schema: str) -> None:
    """The kit tables as of kit schema v1; call from a service's first migration.

    Written out (not `create_all`) so the migration stays what it was when the
    kit tables change later: a change then gets its own helper and migration.
    """
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_events"),
        sa.UniqueConstraint("sequence", name="uq_outbox_events_sequence"),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_events_unpublished",
        "outbox_events",
        ["sequence"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_events_published_at", "outbox_events", ["published_at"], schema=schema
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
        schema=schema,
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], schema=schema
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
        schema=schema,
    )
    op.create_index(
        "ix_processed_events_processed_at", "processed_events", ["processed_at"], schema=schema
    )


def outbox_trigger_statements(schema: str) -> list[str]:
    """The statement trigger that sends the relay's NOTIFY when outbox rows are
    inserted (delivered at commit, never for a rollback)."""
    return [
        f"""
        CREATE FUNCTION "{schema}".notify_outbox() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('{OUTBOX_CHANNEL}', TG_TABLE_SCHEMA);
          RETURN NULL;
        END $$
        """,
        f'CREATE TRIGGER outbox_events_notify AFTER INSERT ON "{schema}".outbox_events '
        f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".notify_outbox()',
    ]


def upgrade_kit_tables_to_v2(schema: str) -> None:
    """Kit schema v2, for a service whose first migration made v1:

    - `outbox_events.state_subject`: where the latest state an event carries
      is kept (`billingos_kit.streams`), published beside the event;
    - the NOTIFY trigger (`outbox_trigger_statements`), instead of every
      writing call spending a round trip on the NOTIFY.
    """
    op.add_column(
        "outbox_events", sa.Column("state_subject", sa.Text(), nullable=True), schema=schema
    )
    for statement in outbox_trigger_statements(schema):
        op.execute(statement)


def downgrade_kit_tables_from_v2(schema: str) -> None:
    op.execute(f'DROP TRIGGER IF EXISTS outbox_events_notify ON "{schema}".outbox_events')
    op.execute(f'DROP FUNCTION IF EXISTS "{schema}".notify_outbox()')
    op.drop_column("outbox_events", "state_subject", schema=schema)
