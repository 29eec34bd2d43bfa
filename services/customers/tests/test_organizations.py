"""Organizations: creation (platform admin) and a tenant's view of its own."""

from __future__ import annotations

import grpc
import pytest

from billingos.customers.v1 import events_pb2, organizations_pb2, organizations_pb2_grpc
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata


@pytest.fixture
def admin(customers_service: RunningService) -> organizations_pb2_grpc.OrganizationAdminServiceStub:
    return organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)


@pytest.fixture
def organizations(
    customers_service: RunningService,
) -> organizations_pb2_grpc.OrganizationServiceStub:
    return organizations_pb2_grpc.OrganizationServiceStub(customers_service.channel)


def create(name: str, slug: str = "") -> organizations_pb2.CreateOrganizationRequest:
    return organizations_pb2.CreateOrganizationRequest(
        organization=organizations_pb2.Organization(name=name, slug=slug)
    )


async def test_new_organization_gets_a_slug_a_first_key_and_an_event(
    admin, servers: SessionServers
) -> None:
    created = await admin.CreateOrganization(create("Café Über"), metadata=call_metadata())
    assert created.organization.slug.startswith("cafe-uber")
    assert created.api_key_secret.startswith(created.api_key.prefix)
    assert created.api_key.organization_id == created.organization.id

    events = await published_events(
        servers.nats_url, "billingos.customers.organization.created", created.organization.id
    )
    payload = events_pb2.OrganizationCreatedEvent()
    assert events[0].data.Unpack(payload)
    assert payload.organization == created.organization


async def test_explicit_slug_must_be_unique_and_well_formed(admin) -> None:
    await admin.CreateOrganization(create("Initech", "initech-test"), metadata=call_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await admin.CreateOrganization(create("Other", "initech-test"), metadata=call_metadata())
    assert call_error(taken.value).code == grpc.StatusCode.ALREADY_EXISTS
    assert call_error(taken.value).fields == ["organization.slug"]
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await admin.CreateOrganization(create("Other", "Not A Slug"), metadata=call_metadata())
    assert call_error(malformed.value).fields == ["organization.slug"]


async def test_name_is_required(admin) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.CreateOrganization(create("  "), metadata=call_metadata())
    assert call_error(refused.value).fields == ["organization.name"]


async def test_tenant_reads_only_its_own_organization(organizations, tenant, other_tenant) -> None:
    own = await organizations.GetOrganization(
        organizations_pb2.GetOrganizationRequest(id=str(tenant.organization_id)),
        metadata=tenant.metadata(),
    )
    assert own.slug == tenant.slug
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.GetOrganization(
            organizations_pb2.GetOrganizationRequest(id=str(other_tenant.organization_id)),
            metadata=tenant.metadata(),
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_organization_without_keys_can_be_issued_a_new_one(
    admin, customers_service: RunningService
) -> None:
    from billingos.customers.v1 import api_keys_pb2, api_keys_pb2_grpc

    created = await admin.CreateOrganization(create("Locked Out"), metadata=call_metadata())
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(customers_service.channel)
    await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=created.api_key.id),
        metadata=call_metadata(created.organization.id),
    )
    issued = await admin.IssueApiKey(
        organizations_pb2.IssueApiKeyRequest(
            organization_id=created.organization.id, name="recovery"
        ),
        metadata=call_metadata(),
    )
    assert issued.secret.startswith("bos_")
    assert issued.api_key.organization_id == created.organization.id
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await admin.IssueApiKey(
            organizations_pb2.IssueApiKeyRequest(
                organization_id="019b0000-0000-7000-8000-000000000000"
            ),
            metadata=call_metadata(),
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
