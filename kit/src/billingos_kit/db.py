"""The database of one service: an asyncpg pool, and the unit of work of a call.

SQLAlchemy describes the schema (tables, migrations, the drift check) and
builds statements (`billingos_kit.sql` compiles each once); asyncpg runs them.
Measured on a get (bench/README.md): an ORM session around one SELECT costs
about 1.5 ms here, the same SELECT on a pooled asyncpg connection 0.25 ms.

A call's connection is taken from the pool on first use, so a call that never
touches the database (a cached key check) costs no round trip. A call that
changes nothing runs its statements outside a transaction (one round trip
each, no BEGIN/COMMIT); a mutating call runs in one transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# What the pool lends: every connection of a call, a consumer or the relay.
if TYPE_CHECKING:
    Connection = PoolConnectionProxy[asyncpg.Record]
else:
    Connection = PoolConnectionProxy


def service_metadata(schema: str) -> MetaData:
    """The MetaData every table of one service hangs off: its schema, our names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """SQLAlchemy's URL for asyncpg (Alembic's engine), from a plain one."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def plain_url(url: str) -> str:
    """asyncpg's URL, from SQLAlchemy's or a plain one."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _prepare(connection: asyncpg.Connection[asyncpg.Record]) -> None:
    # JSON columns (metadata, tiers) as Python values, the way they are written.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(_connection: asyncpg.Connection[asyncpg.Record]) -> None:
    return None


class Database:
    """The pool of one service. Created on first use, inside the event loop."""

    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "") -> None:
        self.url = plain_url(url)
        self._pool_size = pool_size
        # Names the service's connections in pg_stat_activity (operators see
        # who holds what; metering finds its own transactions by it).
        self._server_settings = {"application_name": application_name} if application_name else {}
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._creating = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            async with self._creating:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url,
                        min_size=1,
                        max_size=self._pool_size,
                        init=_prepare,
                        server_settings=self._server_settings,
                        # asyncpg resets a connection's session state when it
                        # returns to the pool: one more round trip per call.
                        # Calls leave no session state (no SET or LISTEN;
                        # the one session lock, a call's idempotency key held
                        # across a mid-call commit, is released by
                        # `UnitOfWork.finish` or the connection is closed),
                        # so there is nothing to reset.
                        reset=_keep_session,
                        # A connection idle for 30 min is closed (pool_recycle's role).
                        max_inactive_connection_lifetime=1800,
                    )
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        pool = await self.pool()
        async with pool.acquire() as connection, connection.transaction():
            yield connection

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection whose statements each commit on their own."""
        pool = await self.pool()
        async with pool.acquire() as connection:
            yield connection

    async def dispose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_Release = Callable[[Connection], Awaitable[None]]


class UnitOfWork:
    """One call's connection: taken on first use, in a transaction if the call
    mutates, given back by `finish`."""

    def __init__(self, database: Database, *, transactional: bool) -> None:
        self._database = database
        self._transactional = transactional
        self._connection: Connection | None = None
        self._transaction: Any = None
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._held: list[tuple[Callable[[Connection], Awaitable[None]], _Release]] = []
        self._holding: list[_Release] = []

    async def connection(self) -> Connection:
        if self._connection is None:
            pool = self._pool = await self._database.pool()
            connection: Connection = await pool.acquire()
            if self._transactional:
                try:
                    self._transaction = connection.transaction()
                    await self._transaction.start()
                except BaseException:
                    await pool.release(connection)
                    raise
            self._connection = connection
            return connection
        return self._connection

    async def commit_and_continue(self) -> None:
        """Commits what the call did so far and goes on in a new transaction
        on the same connection. For the few calls that must make a fact
        durable before they act outside the database (payments records a
        charge attempt before Stripe is asked to charge): whatever happens
        next, even a crash, the committed part stays. Work that follows runs
        in the new transaction, which `finish` commits or rolls back as
        usual. What `keep_across_commits` was given is taken before the first
        such commit and released only by `finish`."""
        if not self._transactional:
            raise RuntimeError("commit_and_continue needs a mutating call's transaction")
        if self._connection is None or self._transaction is None:
            return  # nothing done yet, nothing to commit
        for take, release in self._held:
            # Counted as held before it is asked for: a call cancelled while
            # the server grants it must still release it (releasing a lock
            # not held is harmless).
            self._holding.append(release)
            await take(self._connection)
        self._held.clear()
        await self._transaction.commit()
        self._transaction = self._connection.transaction()
        await self._transaction.start()

    def keep_across_commits(
        self, take: Callable[[Connection], Awaitable[None]], release: _Release
    ) -> None:
        """A session-level hold (an advisory lock) that the call needs for as
        long as it runs, not only for its current transaction: `take` runs
        before the first `commit_and_continue`, `release` after `finish`
        ends the last transaction. A call that never commits midway costs
        nothing: its transaction-level lock already lasts the whole call."""
        self._held.append((take, release))

    async def finish(self, *, succeeded: bool) -> None:
        """Commits (or rolls back) and gives the connection back."""
        connection, self._connection = self._connection, None
        if connection is None or self._pool is None:
            return
        holding, self._holding = self._holding, []
        self._held.clear()
        try:
            if self._transaction is not None:
                if succeeded:
                    await self._transaction.commit()
                else:
                    await self._transaction.rollback()
        finally:
            self._transaction = None
            try:
                for release in holding:
                    await release(connection)
            except BaseException:
                # A session lock must never go back to the pool with the
                # connection: closing the connection is what releases it.
                connection.terminate()
                raise
            finally:
                await self._pool.release(connection)


def _error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps."""
    current: BaseException | None = error
    while current is not None:
        yield current
        current = getattr(current, "orig", None) or current.__cause__


def sqlstate_of(error: BaseException) -> str | None:
    """The Postgres SQLSTATE behind a database error, if there is one."""
    for link in _error_chain(error):
        for attribute in ("sqlstate", "pgcode"):
            value = getattr(link, attribute, None)
            if isinstance(value, str):
                return value
    return None


def violated_constraint(error: BaseException) -> str | None:
    """The name of the unique constraint/index an insert or update broke, if any,
    so a repository maps exactly its own uniqueness rule to a field error and
    lets any other integrity error surface as the bug it is."""
    for link in _error_chain(error):
        name = getattr(link, "constraint_name", None)
        if getattr(link, "sqlstate", None) == "23505" and isinstance(name, str):
            return name
    return None
