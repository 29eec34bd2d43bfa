from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from billingos.common.v1 import options_pb2
from billingos_cli.admin import create_organization, issue_api_key
from billingos_cli.suite import STRIPE_WEBHOOK_PATH, Suite, SuiteOptions
from billingos_kit.testing.servers import SessionServers


@pytest.fixture(scope="session")
def suite(servers: SessionServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The whole suite as `./billingos up` runs it: service processes and Envoy."""
    # Smaller pools than production's: this session's in-process services
    # hold theirs too, on one server (100 connections).
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("BILLINGOS_DB_POOL_SIZE", "5")
    # Every browser of these tests is 127.0.0.1: checkout payments get room
    # for the whole run (the per-address open limit keeps its default and
    # its own test).
    monkeypatch.setenv(
        "BILLINGOS_SUBSCRIPTIONS_CHECKOUT_PAYMENT_CALLS_PER_MINUTE_PER_ADDRESS", "600"
    )
    # Sessions a test moves past their time are swept within a second.
    monkeypatch.setenv("BILLINGOS_SUBSCRIPTIONS_CHECKOUT_EXPIRY_POLL_SECONDS", "0.5")
    running = Suite(
        SuiteOptions(
            state_dir=tmp_path_factory.mktemp("suite"),
            service_token=secrets.token_urlsafe(16),
            gateway_token=secrets.token_urlsafe(16),
            database_url=servers.suite_database_url,
            nats_url=servers.suite_nats_url,
            stripe_api_base=servers.stripe_api_base,
            stripe_secret_key=servers.stripe_secret_key,
            stripe_webhook_secret=servers.stripe_webhook_secret,
        )
    )
    running.start()
    try:
        # The session's stand-in sends its events to this suite's gateway too.
        servers.register_stripe_webhook(running.rest_url + STRIPE_WEBHOOK_PATH, "e2e-suite")
        yield running
    finally:
        running.stop()
        monkeypatch.undo()


@dataclass(frozen=True)
class Merchant:
    organization_id: str
    api_key: str
    client: httpx.AsyncClient


@pytest.fixture
async def http(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials."""
    async with httpx.AsyncClient(base_url=suite.rest_url, timeout=10) as client:
        yield client


ClientFrom = Callable[..., httpx.AsyncClient]


@pytest.fixture
def client_from(suite: Suite) -> ClientFrom:
    """Makes clients whose requests come from another loopback address, so
    their failed key checks are counted apart (the gateway limits them per
    address)."""

    def make(local_address: str, **options: Any) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=local_address)
        return httpx.AsyncClient(
            base_url=suite.rest_url, transport=transport, timeout=10, **options
        )

    return make


async def _merchant(
    suite: Suite, name: str, *, scopes: list[int] | None = None
) -> AsyncIterator[Merchant]:
    created = create_organization(
        suite.grpc_addresses["customers"], suite.options.service_token, name
    )
    api_key = created.api_key
    if scopes is not None:
        api_key = issue_api_key(
            suite.grpc_addresses["customers"],
            suite.options.service_token,
            created.organization_id,
            f"{name} limited",
            scopes=scopes,
        ).api_key
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as client:
        yield Merchant(created.organization_id, api_key, client)


@pytest.fixture
async def merchant(suite: Suite) -> AsyncIterator[Merchant]:
    """A fresh organization and a client authenticated with its API key."""
    async for found in _merchant(suite, "Acme"):
        yield found


@pytest.fixture
async def other_merchant(suite: Suite) -> AsyncIterator[Merchant]:
    async for found in _merchant(suite, "Globex"):
        yield found


@pytest.fixture
async def read_only_merchant(suite: Suite) -> AsyncIterator[Merchant]:
    """An organization whose client's key has only the read scope."""
    async for found in _merchant(suite, "Initech", scopes=[options_pb2.SCOPE_READ]):
        yield found
