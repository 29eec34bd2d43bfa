"""The Postgres and NATS a test session runs against.

`BILLINGOS_TEST_DATABASE_URL` / `BILLINGOS_TEST_NATS_URL` point the tests at
existing servers (the session creates, then drops, its own database there);
without them, embedded servers start in a scratch folder. Never the plain
`DATABASE_URL`: a developer's own database is not for tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from billingos_kit.local import LocalNats, LocalPostgres


@dataclass(frozen=True)
class SessionServers:
    database_url: str  # a database of this session's own
    nats_url: str


@contextmanager
def test_servers(scratch: Path) -> Iterator[SessionServers]:
    """Servers for one test session, cleaned up afterwards."""
    started: list[LocalPostgres | LocalNats] = []
    server_url = os.environ.get("BILLINGOS_TEST_DATABASE_URL")
    if not server_url:
        postgres = LocalPostgres(scratch / "postgres" / "data", durable=False)
        server_url = postgres.start()
        started.append(postgres)
    nats_url = os.environ.get("BILLINGOS_TEST_NATS_URL")
    if not nats_url:
        nats_server = LocalNats(scratch / "nats" / "store")
        nats_url = nats_server.start()
        started.append(nats_server)
    database = f"billingos_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{database}"'))
    try:
        yield SessionServers(_with_database(server_url, database), nats_url)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for server in reversed(started):
            server.stop()


def _with_database(server_url: str, database: str) -> str:
    base, _, query = server_url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{database}" + (f"?{query}" if query else "")


async def _admin(server_url: str, statement: str) -> None:
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
