from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from billingos.catalog.v1 import (
    discounts_pb2_grpc,
    products_pb2_grpc,
    public_pb2_grpc,
)
from billingos_catalog.app import MIGRATIONS_DIR, build_app
from billingos_catalog.settings import CatalogSettings
from billingos_customers.app import MIGRATIONS_DIR as CUSTOMERS_MIGRATIONS_DIR
from billingos_customers.app import build_app as build_customers_app
from billingos_customers.settings import CustomersSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service


@pytest.fixture(scope="session")
async def catalog_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        CatalogSettings, build_app, MIGRATIONS_DIR, servers, session_clock
    ) as service:
        yield service


@pytest.fixture(scope="session")
async def customers_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    """The customers service, whose `organization.created` events teach the
    catalog organizations' slugs (the public catalog is found by slug). When
    the customers tests run in the same session, a second in-process customers
    service on the same database is harmless."""
    async with running_service(
        CustomersSettings,
        build_customers_app,
        CUSTOMERS_MIGRATIONS_DIR,
        servers,
        session_clock,
    ) as service:
        yield service


@dataclass(frozen=True)
class Tenant:
    organization_id: uuid.UUID

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id, idempotency_key=idempotency_key)


@pytest.fixture
def tenant() -> Tenant:
    """An organization of its own per test. The catalog trusts the verified
    organization header; it needs no organization row for tenant calls."""
    return Tenant(uuid.uuid4())


@pytest.fixture
def other_tenant() -> Tenant:
    return Tenant(uuid.uuid4())


@pytest.fixture
def products(catalog_service: RunningService) -> products_pb2_grpc.ProductServiceStub:
    return products_pb2_grpc.ProductServiceStub(catalog_service.channel)


@pytest.fixture
def prices(catalog_service: RunningService) -> products_pb2_grpc.PriceServiceStub:
    return products_pb2_grpc.PriceServiceStub(catalog_service.channel)


@pytest.fixture
def discounts(catalog_service: RunningService) -> discounts_pb2_grpc.DiscountServiceStub:
    return discounts_pb2_grpc.DiscountServiceStub(catalog_service.channel)


@pytest.fixture
def public(catalog_service: RunningService) -> public_pb2_grpc.PublicCatalogServiceStub:
    return public_pb2_grpc.PublicCatalogServiceStub(catalog_service.channel)
