"""API keys and the gateway's key check (Envoy ext_authz), against the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from sqlalchemy import select

from billingos.customers.v1 import api_keys_pb2, api_keys_pb2_grpc
from billingos_customers.models import api_keys, kit_tables
from billingos_kit.headers import (
    API_KEY_SCOPES_HEADER,
    ERROR_REASON_HEADER,
    ORGANIZATION_HEADER,
)
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService, call_metadata


@pytest.fixture
def keys(customers_service: RunningService) -> api_keys_pb2_grpc.ApiKeyServiceStub:
    return api_keys_pb2_grpc.ApiKeyServiceStub(customers_service.channel)


@pytest.fixture
def authorizer(customers_service: RunningService) -> external_auth_pb2_grpc.AuthorizationStub:
    return external_auth_pb2_grpc.AuthorizationStub(customers_service.channel)


def check_request(authorization: str | None) -> external_auth_pb2.CheckRequest:
    headers = {":path": "/v1/customers", ":method": "GET"}
    if authorization is not None:
        headers["authorization"] = authorization
    return external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(
                http=attribute_context_pb2.AttributeContext.HttpRequest(headers=headers)
            )
        )
    )


def header_values(response: external_auth_pb2.CheckResponse) -> dict[str, str]:
    return {h.header.key: h.header.value for h in response.ok_response.headers}


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


async def test_valid_key_is_allowed_and_names_its_organization(authorizer, tenant) -> None:
    response = await authorizer.Check(
        check_request(f"Bearer {tenant.api_key_secret}"), metadata=call_metadata()
    )
    assert response.status.code == 0
    assert header_values(response)["x-billingos-organization-id"] == str(tenant.organization_id)


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
async def test_missing_or_malformed_key_is_denied_with_a_401_and_a_reason(
    authorizer, authorization: str | None, reason: str
) -> None:
    response = await authorizer.Check(check_request(authorization), metadata=call_metadata())
    assert response.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert response.denied_response.status.code == 401
    headers = {h.header.key: h.header.value for h in response.denied_response.headers}
    assert headers[ERROR_REASON_HEADER] == reason
    assert ORGANIZATION_HEADER not in headers
    assert API_KEY_SCOPES_HEADER not in headers


async def test_revoked_key_stops_working_within_the_cache_time(
    keys, authorizer, tenant, session_clock
) -> None:
    created = await keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(api_key=api_keys_pb2.ApiKey(name="short-lived")),
        metadata=tenant.metadata(),
    )
    bearer = f"Bearer {created.secret}"
    assert (
        await authorizer.Check(check_request(bearer), metadata=call_metadata())
    ).status.code == 0

    revoked = await keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=tenant.metadata()
    )
    assert revoked.HasField("revoke_time")
    session_clock.advance(dt.timedelta(seconds=5))
    denied = await authorizer.Check(check_request(bearer), metadata=call_metadata())
    assert denied.denied_response.status.code == 401


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


async def test_key_check_requires_the_service_credential(authorizer, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await authorizer.Check(check_request(f"Bearer {tenant.api_key_secret}"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


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
