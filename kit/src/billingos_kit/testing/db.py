"""Reading the database from a test: SQLAlchemy Core statements run on the
service's own pool (what its repositories see), and the schema drift check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import ClauseElement

from billingos_kit.db import Database, async_url
from billingos_kit.migrations import schema_drift
from billingos_kit.sql import Query


async def scalar(database: Database, statement: ClauseElement) -> Any:
    """The first column of the first row (None without rows)."""
    async with database.connection() as connection:
        row = await Query.of(statement).fetch_one(connection)
    return None if row is None else row[0]


async def rows(database: Database, statement: ClauseElement) -> list[Any]:
    async with database.connection() as connection:
        return list(await Query.of(statement).fetch(connection))


async def execute(database: Database, statement: ClauseElement) -> None:
    async with database.transaction() as connection:
        await Query.of(statement).execute(connection)


async def drift(database: Database, metadata: MetaData) -> list[object]:
    """Differences between the migrated database and the models (empty when in step)."""
    engine = create_async_engine(async_url(database.url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return list(await connection.run_sync(schema_drift, metadata))
    finally:
        await engine.dispose()
