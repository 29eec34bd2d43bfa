"""Fixtures for the kit's integration tests: a scratch schema and a JetStream
stream of the test's own on the session's real Postgres and NATS.

Each test that asks for `kit_tables` gets a fresh schema `kit_test_<hex>` holding
the kit tables (and the outbox's NOTIFY trigger), dropped afterwards; each test
that asks for `source` gets a context name of its own, so its streams (and the
event types `billingos_kit.testing.eventtypes` makes for it) belong to that
test alone. Unit tests ask for none of these and never start a server.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from billingos_kit.db import Database, async_url, service_metadata
from billingos_kit.migrations import outbox_trigger_statements
from billingos_kit.streams import events_stream, state_stream
from billingos_kit.tables import KitTables, define_kit_tables
from billingos_kit.testing.servers import SessionServers


@pytest.fixture(scope="module")
async def kit_database(servers: SessionServers) -> AsyncIterator[Database]:
    """One engine per test module on the session's database."""
    database = Database(servers.database_url, pool_size=5)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
async def nats_client(servers: SessionServers) -> AsyncIterator[NatsClient]:
    client = await nats.connect(servers.nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def jetstream(nats_client: NatsClient) -> JetStreamContext:
    return nats_client.jetstream()


@pytest.fixture
async def kit_tables(kit_database: Database) -> AsyncIterator[KitTables]:
    """The kit tables in a fresh schema; further tables may join its metadata."""
    schema = f"kit_test_{secrets.token_hex(6)}"
    metadata = service_metadata(schema)
    tables = define_kit_tables(metadata)
    engine = create_async_engine(async_url(kit_database.url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            await connection.run_sync(metadata.create_all)
            for statement in outbox_trigger_statements(schema):
                await connection.execute(text(statement))
        yield tables
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def source(jetstream: JetStreamContext) -> AsyncIterator[str]:
    """A context name of this test's own; its stream is deleted afterwards."""
    name = f"kittest{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        for stream in (events_stream(name), state_stream(name)):
            with contextlib.suppress(NotFoundError):
                await jetstream.delete_stream(stream)
