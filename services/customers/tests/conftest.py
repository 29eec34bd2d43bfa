from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

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


@pytest.fixture(scope="session")
async def customers_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        CustomersSettings, build_app, MIGRATIONS_DIR, servers, session_clock
    ) as service:
        yield service


@dataclass(frozen=True)
class Tenant:
    organization_id: uuid.UUID
    slug: str
    api_key_secret: str

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id, idempotency_key=idempotency_key)


async def _new_tenant(service: RunningService, name: str) -> Tenant:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(service.channel)
    created = await admin.CreateOrganization(
        organizations_pb2.CreateOrganizationRequest(
            organization=organizations_pb2.Organization(name=name)
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
async def other_tenant(customers_service: RunningService) -> Tenant:
    return await _new_tenant(customers_service, "Globex")


@pytest.fixture
def customers(customers_service: RunningService) -> customers_pb2_grpc.CustomerServiceStub:
    return customers_pb2_grpc.CustomerServiceStub(customers_service.channel)
