"""API-key scopes: what a key may do through the gateway. The pipeline checks
the presented key and compares its scopes with each method's scope (proto
options). These calls carry what the gateway forwards, as Envoy would
(tests/e2e drive the real gateway)."""

from __future__ import annotations

import grpc
import pytest

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    customers_pb2,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService, gateway_metadata

READ, WRITE, API_KEYS = options_pb2.SCOPE_READ, options_pb2.SCOPE_WRITE, options_pb2.SCOPE_API_KEYS


SCOPE_NAMES = {"read": READ, "write": WRITE, "api_keys": API_KEYS}


@pytest.fixture
def through_gateway(customers_service: RunningService):  # type: ignore[no-untyped-def]
    """Metadata as the gateway forwards a call made with a new key of the
    tenant's with exactly `scopes` ("api_keys read")."""
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)

    async def forward(tenant, scopes: str) -> tuple[tuple[str, str], ...]:
        issued = await admin.IssueApiKey(
            organizations_pb2.IssueApiKeyRequest(
                organization_id=str(tenant.organization_id),
                scopes=[SCOPE_NAMES[name] for name in scopes.split()],
            ),
            metadata=tenant.metadata(),
        )
        assert sorted(issued.api_key.scopes) == sorted(SCOPE_NAMES[n] for n in scopes.split())
        return gateway_metadata(issued.secret)

    return forward


@pytest.fixture
def keys(customers_service: RunningService) -> api_keys_pb2_grpc.ApiKeyServiceStub:
    return api_keys_pb2_grpc.ApiKeyServiceStub(customers_service.channel)


async def create_key(keys, metadata, *scopes: int) -> api_keys_pb2.CreateApiKeyResponse:
    return await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="k", scopes=scopes)),
        metadata=metadata,
    )


async def test_keys_carry_their_scopes_write_including_read(keys, tenant) -> None:
    default = await create_key(keys, tenant.metadata())
    read_only = await create_key(keys, tenant.metadata(), READ)
    writer = await create_key(keys, tenant.metadata(), WRITE)
    manager = await create_key(keys, tenant.metadata(), API_KEYS)
    assert list(default.api_key.scopes) == [READ, WRITE]
    assert list(read_only.api_key.scopes) == [READ]
    assert list(writer.api_key.scopes) == [READ, WRITE]
    assert list(manager.api_key.scopes) == [API_KEYS]
    listed = await keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=tenant.metadata())
    shown = {k.id: list(k.scopes) for k in listed.api_keys}
    assert shown[read_only.api_key.id] == [READ]
    assert shown[manager.api_key.id] == [API_KEYS]


async def test_an_organizations_first_key_has_every_scope(
    customers_service: RunningService, tenant, keys
) -> None:
    listed = await keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=tenant.metadata())
    (first,) = listed.api_keys
    assert list(first.scopes) == [API_KEYS, READ, WRITE]


async def test_an_unknown_scope_is_refused_naming_it(keys, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create_key(keys, tenant.metadata(), READ, 0)
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["api_key.scopes[1]"]


async def test_a_read_only_key_reads_but_cannot_write(customers, tenant, through_gateway) -> None:
    read_only = await through_gateway(tenant, "read")
    listed = await customers.ListCustomers(customers_pb2.ListCustomersRequest(), metadata=read_only)
    assert list(listed.customers) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.CreateCustomer(
            customers_pb2.CreateCustomerRequest(
                customer=customers_pb2.Customer(email="ada@example.com")
            ),
            metadata=read_only,
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "API_KEY_SCOPE_MISSING",
    )
    listed = await customers.ListCustomers(customers_pb2.ListCustomersRequest(), metadata=read_only)
    assert list(listed.customers) == []


async def test_only_a_key_with_the_api_keys_scope_manages_keys(
    keys, tenant, through_gateway
) -> None:
    for scopes in ("read", "read write"):
        for call in (
            create_key(keys, await through_gateway(tenant, scopes), READ),
            keys.ListApiKeys(
                api_keys_pb2.ListApiKeysRequest(), metadata=await through_gateway(tenant, scopes)
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert call_error(refused.value).reason == "API_KEY_SCOPE_MISSING"
    created = await create_key(keys, await through_gateway(tenant, "api_keys read write"), READ)
    assert list(created.api_key.scopes) == [READ]


async def test_a_key_never_creates_a_key_stronger_than_itself(
    keys, tenant, through_gateway
) -> None:
    manager = await through_gateway(tenant, "api_keys read")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create_key(keys, manager, WRITE)
    error = call_error(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "API_KEY_SCOPE_EXCEEDS_CALLER",
    )
    # The default (read and write) is beyond it too; it may hand out what it has.
    with pytest.raises(grpc.aio.AioRpcError):
        await create_key(keys, manager)
    assert list((await create_key(keys, manager, READ, API_KEYS)).api_key.scopes) == [
        API_KEYS,
        READ,
    ]


async def test_a_gateway_call_without_a_key_is_refused(customers) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(), metadata=gateway_metadata(None)
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")


async def test_issued_keys_default_to_every_scope_or_take_the_ones_named(
    customers_service: RunningService, tenant
) -> None:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    full = await admin.IssueApiKey(
        organizations_pb2.IssueApiKeyRequest(organization_id=str(tenant.organization_id)),
        metadata=tenant.metadata(),
    )
    limited = await admin.IssueApiKey(
        organizations_pb2.IssueApiKeyRequest(
            organization_id=str(tenant.organization_id), scopes=[READ]
        ),
        metadata=tenant.metadata(),
    )
    assert list(full.api_key.scopes) == [API_KEYS, READ, WRITE]
    assert list(limited.api_key.scopes) == [READ]


async def test_a_weaker_key_replaying_a_stronger_keys_request_is_not_a_replay(
    keys, tenant, through_gateway
) -> None:
    """A replay skips the handler, so the stored answer of a full key's create
    must not reach a key that could not have made it."""
    full = await through_gateway(tenant, "api_keys read write")
    idempotency = (("idempotency-key", "create-writer-1"),)
    first = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="w", scopes=[WRITE])),
        metadata=full + idempotency,
    )
    assert list(first.api_key.scopes) == [READ, WRITE]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.CreateApiKey(
            api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="w", scopes=[WRITE])),
            metadata=await through_gateway(tenant, "api_keys") + idempotency,
        )
    assert call_error(refused.value).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_a_key_cannot_revoke_a_key_stronger_than_itself(
    keys, tenant, through_gateway
) -> None:
    full = await create_key(keys, tenant.metadata(), READ, WRITE, API_KEYS)
    manager = await through_gateway(tenant, "api_keys read")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.RevokeApiKey(
            api_keys_pb2.RevokeApiKeyRequest(id=full.api_key.id), metadata=manager
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "API_KEY_SCOPE_EXCEEDS_CALLER",
    )
    assert error.fields == ["api_key.scopes"]
    weaker = await create_key(keys, tenant.metadata(), READ)
    revoked = await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=weaker.api_key.id), metadata=manager
    )
    assert revoked.HasField("revoke_time")
