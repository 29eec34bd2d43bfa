from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import insert

from billingos.catalog.v1 import (
    discounts_pb2_grpc,
    products_pb2_grpc,
    promotion_codes_pb2_grpc,
    public_pb2_grpc,
    purchases_pb2_grpc,
    taxes_pb2_grpc,
)
from billingos_catalog import models
from billingos_catalog.app import MIGRATIONS_DIR, build_app
from billingos_catalog.settings import CatalogSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import execute
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


@pytest.fixture
def promotion_codes(
    catalog_service: RunningService,
) -> promotion_codes_pb2_grpc.PromotionCodeServiceStub:
    return promotion_codes_pb2_grpc.PromotionCodeServiceStub(catalog_service.channel)


@pytest.fixture
def purchases(catalog_service: RunningService) -> purchases_pb2_grpc.PurchaseAdminServiceStub:
    return purchases_pb2_grpc.PurchaseAdminServiceStub(catalog_service.channel)


@pytest.fixture
def taxes(catalog_service: RunningService) -> taxes_pb2_grpc.TaxServiceStub:
    return taxes_pb2_grpc.TaxServiceStub(catalog_service.channel)


NewCustomer = Callable[[Tenant], Awaitable[str]]


@pytest.fixture
def new_customer(catalog_service: RunningService) -> NewCustomer:
    """Makes a live customer the catalog's read copy knows, as the customers
    events leave it (test_read_copies.py drives the events themselves)."""

    async def make(tenant: Tenant) -> str:
        customer_id = uuid.uuid4()
        await execute(
            catalog_service.app.database,
            insert(models.customers).values(id=customer_id, organization_id=tenant.organization_id),
        )
        return str(customer_id)

    return make
