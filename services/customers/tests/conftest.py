from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from billingos.customers.v1 import (
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos_customers.app import MIGRATIONS_DIR, build_app
from billingos_customers.settings import CustomersSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service

# Where the service's links point (portal sign-in links).
PUBLIC_BASE_URL = "https://billing.example.test"


@pytest.fixture(scope="session")
async def customers_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    # The webhook sender is driven by the tests that need it, on a clock of
    # their own (test_webhook_delivery.py); the dispatchers run as in production.
    async with running_service(
        CustomersSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        webhook_sender_enabled=False,
        webhook_development_mode_allowed=True,
        public_base_url=PUBLIC_BASE_URL,
        portal_sign_in_log_links=True,
    ) as service:
        yield service


@dataclass(frozen=True)
class Tenant:
    organization_id: uuid.UUID
    slug: str
    api_key_secret: str

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id, idempotency_key=idempotency_key)


async def _new_tenant(
    service: RunningService, name: str, *, development_mode: bool = False
) -> Tenant:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(service.channel)
    created = await admin.CreateOrganization(
        organizations_pb2.CreateOrganizationRequest(
            organization=organizations_pb2.Organization(
                name=name, development_mode=development_mode
            )
        ),
        metadata=call_metadata(),
    )
    return Tenant(
        uuid.UUID(created.organization.id), created.organization.slug, created.api_key_secret
    )


@pytest.fixture
async def tenant(customers_service: RunningService) -> Tenant:
    """A fresh organization per test, so tests never see each other's data."""
    return await _new_tenant(customers_service, "Acme")


@pytest.fixture
async def dev_tenant(customers_service: RunningService) -> Tenant:
    """A fresh organization in development mode (webhooks to loopback allowed)."""
    return await _new_tenant(customers_service, "Devshop", development_mode=True)


@pytest.fixture
async def other_dev_tenant(customers_service: RunningService) -> Tenant:
    return await _new_tenant(customers_service, "Otherdev", development_mode=True)


@pytest.fixture
async def other_tenant(customers_service: RunningService) -> Tenant:
    return await _new_tenant(customers_service, "Globex")


@pytest.fixture
def customers(customers_service: RunningService) -> customers_pb2_grpc.CustomerServiceStub:
    return customers_pb2_grpc.CustomerServiceStub(customers_service.channel)


@dataclass(frozen=True)
class Received:
    """One request a receiver got, as it came."""

    headers: dict[str, str]
    body: bytes
    path: str = ""  # with the query


# A self-signed certificate for `localhost` (100 years), made for these tests
# only (`openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj
# /CN=localhost -addext subjectAltName=DNS:localhost`): its key guards nothing.
TLS_DIR = Path(__file__).parent / "tls"
TEST_CA = TLS_DIR / "localhost.crt"


@pytest.fixture
def test_ca() -> Path:
    """The certificate TLS receivers present, for a sender that trusts it."""
    return TEST_CA


# What a receiver answers a request: a status, "hang" (no answer for a
# minute), "slow" (200 after 0.3 s), "endless" (200, then a body that never
# ends), or ("redirect", location) for a 302.
Answer = int | str | tuple[str, str]


@dataclass
class Receiver:
    """A real HTTP server on loopback that records what it is sent and
    answers as scripted (then 200 once the script runs out)."""

    answers: list[Answer] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    # Serves https with the test certificate for `localhost` (TEST_CA) when set.
    tls: bool = False
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        server_context = None
        if self.tls:
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(TEST_CA, TLS_DIR / "localhost.key")
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=server_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = (
            f"https://localhost:{port}/hooks" if self.tls else f"http://127.0.0.1:{port}/hooks"
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(dict(request.headers), await request.read(), request.path_qs))
        answer: Answer = self.answers.pop(0) if self.answers else 200
        if answer == "hang":
            await asyncio.sleep(60)
            return web.Response(status=200)
        if answer == "slow":
            await asyncio.sleep(0.3)
            return web.Response(status=200, text="ok")
        if answer == "endless":
            streamed = web.StreamResponse(status=200)
            await streamed.prepare(request)
            await streamed.write(b"accepted")
            await asyncio.sleep(60)
            return streamed
        if isinstance(answer, tuple):
            return web.Response(status=302, headers={"Location": answer[1]})
        assert isinstance(answer, int)
        return web.Response(status=answer, text="ok")


Receivers = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    """Starts receivers (`await receivers(500, 200)`), stopped after the test."""
    started: list[Receiver] = []

    async def start(*answers: Answer, tls: bool = False) -> Receiver:
        receiver = Receiver(list(answers), tls=tls)
        await receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()
