"""A service running in the test's event loop, on a real database and NATS."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from billingos_kit.clock import Clock
from billingos_kit.headers import (
    AUTHORIZATION_HEADER,
    CLIENT_ADDRESS_HEADER,
    IDEMPOTENCY_HEADER,
    ORGANIZATION_HEADER,
    SERVICE_TOKEN_HEADER,
)
from billingos_kit.migrations import upgrade_to_head_async
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_kit.testing.servers import SessionServers

TEST_SERVICE_TOKEN = "test-service-token"
TEST_GATEWAY_TOKEN = "test-gateway-token"


@dataclass(frozen=True)
class RunningService:
    app: ServiceApp
    channel: grpc.aio.Channel
    address: str


def call_metadata(
    organization_id: object | None = None,
    *,
    idempotency_key: str | None = None,
    service_token: str = TEST_SERVICE_TOKEN,
) -> tuple[tuple[str, str], ...]:
    """Metadata as an internal caller sends it (`gateway_metadata` for a call
    as the gateway forwards it)."""
    entries = [(SERVICE_TOKEN_HEADER, service_token)]
    if organization_id is not None:
        entries.append((ORGANIZATION_HEADER, str(organization_id)))
    if idempotency_key is not None:
        entries.append((IDEMPOTENCY_HEADER, idempotency_key))
    return tuple(entries)


# Each gateway call of a test comes from an address of its own unless the test
# names one, so one test's failed key checks never throttle another's calls.
_ADDRESSES = (f"198.18.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def gateway_metadata(
    api_key: str | None,
    *,
    authorization: str | None = None,
    client_address: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """Metadata as the gateway forwards a client's call made with `api_key`
    (`Authorization: Bearer <api_key>`; or `authorization` as given; neither:
    no such header)."""
    entries = [
        (SERVICE_TOKEN_HEADER, TEST_GATEWAY_TOKEN),
        (CLIENT_ADDRESS_HEADER, client_address or next(_ADDRESSES)),
    ]
    if authorization is None and api_key is not None:
        authorization = f"Bearer {api_key}"
    if authorization is not None:
        entries.append((AUTHORIZATION_HEADER, authorization))
    if idempotency_key is not None:
        entries.append((IDEMPOTENCY_HEADER, idempotency_key))
    return tuple(entries)


@asynccontextmanager
async def running_service(
    settings_type: type[ServiceSettings],
    build_app: Callable[[ServiceSettings, Clock | None], ServiceApp],
    migrations_dir: Path,
    servers: SessionServers,
    clock: Clock,
    **settings_overrides: object,
) -> AsyncIterator[RunningService]:
    """Migrates, starts the service on a free port, yields a channel to it."""
    await upgrade_to_head_async(migrations_dir, servers.database_url)
    values: dict[str, Any] = {
        "database_url": servers.database_url,
        "nats_url": servers.nats_url,
        "grpc_listen": "127.0.0.1:0",
        "service_token": TEST_SERVICE_TOKEN,
        "gateway_token": TEST_GATEWAY_TOKEN,
        "outbox_poll_seconds": 0.2,
        # A session holds every service's pool at once (and the end-to-end
        # suite's), on a server allowing 100 connections.
        "db_pool_size": 4,
        **settings_overrides,
    }
    settings = settings_type(**values)
    app = build_app(settings, clock)
    port = await app.start()
    address = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(address)
    try:
        yield RunningService(app, channel, address)
    finally:
        await channel.close()
        await app.stop(grace=2)
