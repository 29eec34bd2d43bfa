"""The database handle of one service: an async engine on asyncpg, bound to the
service's own Postgres schema, and the single transaction per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """The MetaData every table of one service hangs off: its schema, our names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accepts plain `postgresql://` URLs (as people write them) for asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Database:
    """One engine and session factory; `transaction()` is the unit of work."""

    def __init__(self, url: str, *, pool_size: int = 10, pooled: bool = True) -> None:
        # No pre-ping: it costs a round trip on every call. A connection that
        # died is invalidated by the error it raises (the call fails as
        # UNAVAILABLE, safe to retry) and the pool replaces it.
        options: dict[str, object] = {"pool_recycle": 1800}
        if pooled:
            options.update(pool_size=pool_size, max_overflow=pool_size)
        else:
            options["poolclass"] = NullPool
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: SQLAlchemy's wrapper, then the driver's."""
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
    """The name of the unique constraint/index an IntegrityError broke, if any,
    so a service maps exactly its own uniqueness rule to a field error and
    lets any other integrity error surface as the bug it is."""
    for link in _error_chain(error):
        # SQLAlchemy's wrapper carries the sqlstate; asyncpg's own error, further
        # down the chain, also carries the constraint name.
        name = getattr(link, "constraint_name", None)
        if getattr(link, "sqlstate", None) == "23505" and isinstance(name, str):
            return name
    return None
