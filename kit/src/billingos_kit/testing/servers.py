"""The Postgres, NATS and Stripe a test session runs against.

`BILLINGOS_TEST_DATABASE_URL` / `BILLINGOS_TEST_NATS_URL` point the tests at
existing servers (the session creates, then drops, its own database there);
without them, embedded servers start in a scratch folder. Never the plain
`DATABASE_URL`: a developer's own database is not for tests.

Stripe likewise: `BILLINGOS_TEST_STRIPE_API_BASE` with
`BILLINGOS_TEST_STRIPE_SECRET_KEY` and `BILLINGOS_TEST_STRIPE_WEBHOOK_SECRET`
name one that runs already; without them, the session starts the local
stand-in (localstripe behind `billingos_kit.stripe_standin`). Never the plain
`STRIPE_SECRET_KEY`: a developer's own Stripe account is not for tests.
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

from billingos_kit.local import LocalNats, LocalPostgres, LocalStripe

STRIPE_ENVIRONMENT = (
    "BILLINGOS_TEST_STRIPE_API_BASE",
    "BILLINGOS_TEST_STRIPE_SECRET_KEY",
    "BILLINGOS_TEST_STRIPE_WEBHOOK_SECRET",
)


@dataclass(frozen=True)
class SessionServers:
    database_url: str  # a database of this session's own
    nats_url: str
    # A second database and broker, for a whole suite started by the tests
    # (the end-to-end tests' `Suite`): its background workers (the
    # scheduler, the webhook sender) act on every row they find, and its
    # durable consumers share names with the service tests' own; apart, the
    # suite neither acts on the service tests' rows nor takes their events.
    # With an external NATS (BILLINGOS_TEST_NATS_URL) both are shared.
    suite_database_url: str = ""
    suite_nats_url: str = ""
    stripe_api_base: str = ""  # where the payments service calls Stripe
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""  # what signs the webhooks Stripe sends
    # The session's own stand-in; None when the Stripe is an external one.
    local_stripe: LocalStripe | None = None

    def register_stripe_webhook(self, url: str, webhook_id: str = "billingos") -> bool:
        """Has the session's stand-in send its events to `url` (a later call
        with the same `webhook_id` replaces the URL). False, doing nothing,
        for an external Stripe: its webhooks are set up where it runs."""
        if self.local_stripe is None:
            return False
        self.local_stripe.register_webhook(url, webhook_id)
        return True


@contextmanager
def test_servers(scratch: Path) -> Iterator[SessionServers]:
    """Servers for one test session, cleaned up afterwards."""
    started: list[LocalPostgres | LocalNats | LocalStripe] = []
    server_url = os.environ.get("BILLINGOS_TEST_DATABASE_URL")
    if not server_url:
        postgres = LocalPostgres(scratch / "postgres" / "data", durable=False)
        server_url = postgres.start()
        started.append(postgres)
    nats_url = os.environ.get("BILLINGOS_TEST_NATS_URL")
    suite_nats_url = nats_url
    if not nats_url:
        nats_server = LocalNats(scratch / "nats" / "store")
        nats_url = nats_server.start()
        started.append(nats_server)
    local_stripe: LocalStripe | None = None
    try:
        api_base, secret_key, webhook_secret = _external_stripe()
        if not api_base:
            local_stripe = LocalStripe(scratch / "stripe")
            started.append(local_stripe)
            api_base = local_stripe.start()
            secret_key, webhook_secret = local_stripe.secret_key, local_stripe.webhook_secret
        database = f"billingos_test_{secrets.token_hex(4)}"
        suite_database = database
        asyncio.run(_admin(server_url, f'CREATE DATABASE "{database}"'))
        if not suite_nats_url:
            suite_nats = LocalNats(scratch / "nats-suite" / "store")
            suite_nats_url = suite_nats.start()
            started.append(suite_nats)
            suite_database = f"{database}_suite"
            asyncio.run(_admin(server_url, f'CREATE DATABASE "{suite_database}"'))
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    try:
        yield SessionServers(
            _with_database(server_url, database),
            nats_url,
            suite_database_url=_with_database(server_url, suite_database),
            suite_nats_url=suite_nats_url,
            stripe_api_base=api_base,
            stripe_secret_key=secret_key,
            stripe_webhook_secret=webhook_secret,
            local_stripe=local_stripe,
        )
    finally:
        for name in sorted({database, suite_database}):
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            try:
                asyncio.run(_admin(server_url, drop))
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                # The server closed the admin connection mid-drop (seen on a
                # loaded shared machine); dropping again is harmless.
                asyncio.run(_admin(server_url, drop))
        for server in reversed(started):
            server.stop()


def _external_stripe() -> tuple[str, str, str]:
    """The Stripe the environment names, all three settings or none."""
    values = [os.environ.get(name, "") for name in STRIPE_ENVIRONMENT]
    if any(values) and not all(values):
        missing = ", ".join(n for n, v in zip(STRIPE_ENVIRONMENT, values, strict=True) if not v)
        raise RuntimeError(f"an external Stripe for the tests needs {missing} too")
    api_base, secret_key, webhook_secret = values
    return api_base, secret_key, webhook_secret


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
