"""The `customers` schema: its tables (what migrations build and the drift test
checks) and, for each, the row a repository reads and writes (a dataclass
whose fields are the table's columns, checked when the repository is made)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "customers"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    # The secret itself is never stored, only its SHA-256.
    Column("secret_hash", LargeBinary, nullable=False, unique=True),
    # billingos_kit.scopes.Scope values, sorted; fixed at creation. The server
    # default serves the previous release during a rolling deploy only.
    Column(
        "scopes",
        ARRAY(Text),
        nullable=False,
        server_default=text("ARRAY['api_keys', 'read', 'write']"),
    ),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    Column("email", Text, nullable=False),
    Column("external_id", Text, nullable=True),
    Column("name", Text, nullable=False),
    # Values are str, int/float or bool (checked on the way in).
    Column("metadata", JSONB, nullable=False),
    Column("billing_address", JSONB(none_as_null=True), nullable=True),
    Column("stripe_customer_id", Text, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    # The subscriptions context's test clock the customer lives on; NULL for
    # the real clock. Fixed at creation; a reference only (no table here).
    Column("test_clock_id", Uuid, nullable=True),
    # Unique among live customers only: deleting frees the id for reuse.
    Index(
        "uq_customers_organization_id_external_id_live",
        "organization_id",
        "external_id",
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
    ),
    Index(
        "ix_customers_organization_id_email", "organization_id", text('lower(email COLLATE "C")')
    ),
    Index("ix_customers_organization_id_id", "organization_id", "id"),
)


customer_sessions = Table(
    "customer_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id"), nullable=False),
    # A customer of that organization (the domain checks it on create).
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False, index=True),
    # The token itself is never stored, only its SHA-256.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
)


@dataclass
class Organization:
    """A merchant; every other row names one."""

    id: uuid.UUID
    name: str
    slug: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class ApiKey:
    """A merchant's API key, as stored: a hash, a visible prefix, scopes."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    prefix: str
    secret_hash: bytes
    scopes: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass
class Customer:
    """A merchant's customer. Deleting sets `deleted_at`; the row stays for history."""

    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    external_id: str | None
    name: str
    metadata: dict[str, Any]
    billing_address: dict[str, str] | None
    stripe_customer_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    test_clock_id: uuid.UUID | None


@dataclass
class CustomerSession:
    """A customer portal credential, as stored: a hash, an expiry, a revocation."""

    id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    token_hash: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
