"""The kit's own tables, created in every service's schema by that service's
migrations (`billingos_kit.migrations.create_kit_tables`, then
`upgrade_kit_tables_to_v2`): the outbox, idempotency keys, and the ids of
events a consumer has processed.

They live beside the service's data so each sits in the same transaction as
the change it records.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)


@dataclass(frozen=True)
class KitTables:
    """Table objects bound to one service's metadata."""

    outbox: Table
    idempotency_keys: Table
    processed_events: Table

    @property
    def schema(self) -> str:
        schema = self.outbox.schema
        assert schema is not None
        return schema


# Every timestamp column: an instant (timestamptz), never a local time.
Timestamp = DateTime(timezone=True)


def define_kit_tables(metadata: MetaData) -> KitTables:
    """Adds the kit tables to a service's metadata (call once, in models.py)."""
    outbox = Table(
        "outbox_events",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("sequence", BigInteger, Identity(always=True), nullable=False, unique=True),
        Column("subject", Text, nullable=False),
        # Where the latest state the event carries is kept (kit schema v2).
        Column("state_subject", Text, nullable=True),
        Column("event_type", Text, nullable=False),
        Column("organization_id", Uuid, nullable=True),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", Timestamp, nullable=False),
        Column("published_at", Timestamp, nullable=True),
    )
    Index(
        "ix_outbox_events_unpublished",
        outbox.c.sequence,
        postgresql_where=text("published_at IS NULL"),
    )
    Index("ix_outbox_events_published_at", outbox.c.published_at)

    idempotency_keys = Table(
        "idempotency_keys",
        metadata,
        # The organization id, or "platform" for calls outside any organization.
        Column("scope", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("method", Text, nullable=False),
        Column("request_hash", LargeBinary, nullable=False),
        Column("response", LargeBinary, nullable=False),
        Column("created_at", Timestamp, nullable=False),
        Column("expires_at", Timestamp, nullable=False),
        PrimaryKeyConstraint("scope", "key"),
    )
    Index("ix_idempotency_keys_expires_at", idempotency_keys.c.expires_at)

    processed_events = Table(
        "processed_events",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", Timestamp, nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    Index("ix_processed_events_processed_at", processed_events.c.processed_at)
    return KitTables(outbox, idempotency_keys, processed_events)
