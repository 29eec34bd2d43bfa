"""API keys, and the key check behind every call from outside: what a
service's pipeline does with a presented key (here the customers service's
own, which reads the table) and what `VerifyApiKey` answers the others."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import grpc
import pytest
from sqlalchemy import select

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
)
from billingos_customers.models import api_keys, kit_tables
from billingos_kit.headers import ORGANIZATION_HEADER
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import (
    RunningService,
    call_metadata,
    gateway_metadata,
)

READ, WRITE, API_KEYS = options_pb2.SCOPE_READ, options_pb2.SCOPE_WRITE, options_pb2.SCOPE_API_KEYS


@pytest.fixture
def keys(customers_service: RunningService) -> api_keys_pb2_grpc.ApiKeyServiceStub:
    return api_keys_pb2_grpc.ApiKeyServiceStub(customers_service.channel)


@pytest.fixture
def key_check(customers_service: RunningService) -> api_keys_pb2_grpc.ApiKeyAdminServiceStub:
    return api_keys_pb2_grpc.ApiKeyAdminServiceStub(customers_service.channel)


@pytest.fixture
def customers(customers_service: RunningService) -> customers_pb2_grpc.CustomerServiceStub:
    return customers_pb2_grpc.CustomerServiceStub(customers_service.channel)


def trailers(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}


async def test_new_key_is_shown_once_and_stored_only_as_a_hash(
    keys, customers_service: RunningService, tenant
) -> None:
    created = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="backend")),
        metadata=tenant.metadata(),
    )
    assert created.secret.startswith("bos_")
    assert created.api_key.prefix == created.secret[:12]
    assert created.api_key.name == "backend"

    listed = await keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=tenant.metadata())
    assert created.api_key.id in [k.id for k in listed.api_keys]
    assert created.secret not in str(listed)

    (row,) = await rows(
        customers_service.app.database,
        select(api_keys).where(api_keys.c.id == uuid.UUID(created.api_key.id)),
    )
    assert row["secret_hash"] == hashlib.sha256(created.secret.encode()).digest()
    assert created.secret.encode() not in repr(dict(row)).encode()


async def test_a_call_from_outside_acts_for_its_keys_organization_only(
    customers, tenant, other_tenant
) -> None:
    theirs = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="theirs@example.com")
        ),
        metadata=other_tenant.metadata(),
    )
    # Even an organization header (the gateway drops any a client sends)
    # names nothing: the key does.
    forged = (*gateway_metadata(tenant.api_key_secret), (ORGANIZATION_HEADER, str(theirs.id)))
    listed = await customers.ListCustomers(customers_pb2.ListCustomersRequest(), metadata=forged)
    assert theirs.id not in [c.id for c in listed.customers]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=theirs.id),
            metadata=gateway_metadata(tenant.api_key_secret),
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "API_KEY_MISSING"),
        ("", "API_KEY_MISSING"),
        ("Basic dXNlcjpwYXNz", "API_KEY_MISSING"),
        ("Bearer ", "API_KEY_MISSING"),
        ("Bearer bos_not-a-real-key", "API_KEY_INVALID"),
        ("Bearer sk_live_123", "API_KEY_INVALID"),
    ],
)
async def test_missing_or_malformed_key_is_refused_with_a_reason_and_a_challenge(
    customers, authorization: str | None, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(
            customers_pb2.ListCustomersRequest(),
            metadata=gateway_metadata(None, authorization=authorization),
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
    assert trailers(refused.value)["www-authenticate"] == "Bearer"


async def test_revoked_key_stops_working_within_the_cache_time(
    keys, customers, tenant, session_clock
) -> None:
    created = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="short-lived")),
        metadata=tenant.metadata(),
    )
    request = customers_pb2.ListCustomersRequest()
    await customers.ListCustomers(request, metadata=gateway_metadata(created.secret))

    revoked = await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=tenant.metadata()
    )
    assert revoked.HasField("revoke_time")
    # Trusted from the cache a little longer (5 s, `api_key_cache_seconds`)…
    await customers.ListCustomers(request, metadata=gateway_metadata(created.secret))
    session_clock.advance(dt.timedelta(seconds=5))
    # …and no longer.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customers.ListCustomers(request, metadata=gateway_metadata(created.secret))
    assert call_error(refused.value).reason == "API_KEY_INVALID"


async def test_verify_names_the_keys_organization_and_scopes(key_check, keys, tenant) -> None:
    reader = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="r", scopes=[READ])),
        metadata=tenant.metadata(),
    )
    verified = await key_check.VerifyApiKey(
        api_keys_pb2.VerifyApiKeyRequest(secret=reader.secret), metadata=call_metadata()
    )
    assert verified.api_key_id == reader.api_key.id
    assert verified.organization_id == str(tenant.organization_id)
    assert list(verified.scopes) == [READ]
    first = await key_check.VerifyApiKey(
        api_keys_pb2.VerifyApiKeyRequest(secret=tenant.api_key_secret), metadata=call_metadata()
    )
    assert list(first.scopes) == [API_KEYS, READ, WRITE]


async def test_verify_finds_no_revoked_unknown_or_foreign_secret(key_check, keys, tenant) -> None:
    created = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="gone")),
        metadata=tenant.metadata(),
    )
    await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=tenant.metadata()
    )
    for secret in (created.secret, "bos_not-a-real-key", "sk_live_123", created.secret + "x"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await key_check.VerifyApiKey(
                api_keys_pb2.VerifyApiKeyRequest(secret=secret), metadata=call_metadata()
            )
        error = call_error(refused.value)
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND")
        assert secret not in str(refused.value.details())


async def test_verify_is_internal_whatever_key_a_caller_from_outside_has(key_check, tenant) -> None:
    request = api_keys_pb2.VerifyApiKeyRequest(secret=tenant.api_key_secret)
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await key_check.VerifyApiKey(request, metadata=gateway_metadata(tenant.api_key_secret))
    assert call_error(outside.value).reason == "METHOD_INTERNAL"
    for metadata in ((), (("x-billingos-service-token", "not-the-token-at-all"),)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await key_check.VerifyApiKey(request, metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_revoking_twice_keeps_the_first_revocation_time(keys, tenant, session_clock) -> None:
    created = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="k")),
        metadata=tenant.metadata(),
    )
    request = api_keys_pb2.RevokeApiKeyRequest(id=created.api_key.id)
    first = await keys.RevokeApiKey(request, metadata=tenant.metadata())
    session_clock.advance(dt.timedelta(seconds=1))
    second = await keys.RevokeApiKey(request, metadata=tenant.metadata())
    assert second.revoke_time == first.revoke_time


async def test_another_organizations_key_cannot_be_revoked(keys, tenant, other_tenant) -> None:
    theirs = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="theirs")),
        metadata=other_tenant.metadata(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.RevokeApiKey(
            api_keys_pb2.RevokeApiKeyRequest(id=theirs.api_key.id), metadata=tenant.metadata()
        )
    assert call_error(refused.value).code == grpc.StatusCode.NOT_FOUND


async def test_a_replayed_create_never_returns_or_stores_the_secret(
    keys, customers_service: RunningService, tenant
) -> None:
    request = api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="retried"))
    first = await keys.CreateApiKey(request, metadata=tenant.metadata("create-key-1"))
    replay = await keys.CreateApiKey(request, metadata=tenant.metadata("create-key-1"))
    assert first.secret.startswith("bos_")
    assert replay.api_key == first.api_key
    assert replay.secret == ""
    stored = await scalar(
        customers_service.app.database,
        select(kit_tables.idempotency_keys.c.response).where(
            kit_tables.idempotency_keys.c.key == "create-key-1"
        ),
    )
    assert stored is not None
    assert first.secret.encode() not in stored


async def test_a_revoked_key_cannot_manage_keys_even_while_still_cached(keys, tenant) -> None:
    """The key check trusts a key for a few seconds after its revocation;
    creating or revoking keys asks the table itself, so a stolen key that was
    revoked cannot mint its successor in that window."""
    manager = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(
            api_key=api_keys_pb2.ApiKey(name="manager", scopes=[API_KEYS, READ])
        ),
        metadata=tenant.metadata(),
    )
    other = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="other", scopes=[READ])),
        metadata=tenant.metadata(),
    )
    address = "198.51.100.77"
    as_manager = gateway_metadata(manager.secret, client_address=address)
    await keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=as_manager)  # cached now
    await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=manager.api_key.id), metadata=tenant.metadata()
    )

    for call in (
        keys.CreateApiKey(
            api_keys_pb2.CreateApiKeyRequest(
                api_key=api_keys_pb2.ApiKey(name="successor", scopes=[READ])
            ),
            metadata=as_manager,
        ),
        keys.RevokeApiKey(
            api_keys_pb2.RevokeApiKeyRequest(id=other.api_key.id), metadata=as_manager
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert call_error(refused.value).reason == "API_KEY_INVALID"
    listed = await keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=tenant.metadata())
    assert "successor" not in [k.name for k in listed.api_keys]
    assert not [
        k for k in listed.api_keys if k.id == other.api_key.id and k.HasField("revoke_time")
    ]
