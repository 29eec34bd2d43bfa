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
