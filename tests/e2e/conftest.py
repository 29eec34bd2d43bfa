from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite, SuiteOptions
from billingos_kit.testing.servers import SessionServers


@pytest.fixture(scope="session")
def suite(servers: SessionServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The whole suite as `./billingos up` runs it: service processes and Envoy."""
    running = Suite(
        SuiteOptions(
            state_dir=tmp_path_factory.mktemp("suite"),
            service_token=secrets.token_urlsafe(16),
            database_url=servers.database_url,
            nats_url=servers.nats_url,
        )
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


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


async def _merchant(suite: Suite, name: str) -> AsyncIterator[Merchant]:
    created = create_organization(
        suite.grpc_addresses["customers"], suite.options.service_token, name
    )
    headers = {"Authorization": f"Bearer {created.api_key}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as client:
        yield Merchant(created.organization_id, created.api_key, client)


@pytest.fixture
async def merchant(suite: Suite) -> AsyncIterator[Merchant]:
    """A fresh organization and a client authenticated with its API key."""
    async for found in _merchant(suite, "Acme"):
        yield found


@pytest.fixture
async def other_merchant(suite: Suite) -> AsyncIterator[Merchant]:
    async for found in _merchant(suite, "Globex"):
        yield found
