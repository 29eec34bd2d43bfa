"""Tables of the `customers` schema."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from billingos_kit.db import service_metadata
from billingos_kit.tables import define_kit_tables

SCHEMA = "customers"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


kit_tables = define_kit_tables(Base.metadata)

Timestamp = DateTime(timezone=True)


class Organization(Base):
    """A merchant; every other row names one."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class ApiKey(Base):
    """A merchant's API key; the secret itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # billingos_kit.scopes.Scope values, sorted; fixed at creation. The server
    # default serves the previous release during a rolling deploy only.
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("ARRAY['api_keys', 'read', 'write']")
    )
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Customer(Base):
    """A merchant's customer. Deleting sets `deleted_at`; the row stays for history."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    # Values are str, int/float or bool (checked on the way in).
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    billing_address: Mapped[dict[str, str] | None] = mapped_column(JSONB(none_as_null=True))
    stripe_customer_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # Unique among live customers only: deleting frees the id for reuse.
        Index(
            "uq_customers_organization_id_external_id_live",
            "organization_id",
            "external_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
        ),
        Index(
            "ix_customers_organization_id_email",
            "organization_id",
            text('lower(email COLLATE "C")'),
        ),
        Index("ix_customers_organization_id_id", "organization_id", "id"),
    )
