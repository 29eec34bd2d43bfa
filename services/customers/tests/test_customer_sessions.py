"""Customer sessions: made by a merchant for one of its live customers, the
token shown once and stored only as a hash (not in the idempotency record,
not in events), revoked idempotently, and what `VerifyCustomerSession`
answers the other services' session checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import grpc
import pytest
from sqlalchemy import select

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import (
    customer_sessions_pb2,
    customer_sessions_pb2_grpc,
    customers_pb2,
    events_pb2,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos_customers.models import customer_sessions, kit_tables
from billingos_kit.testing.db import rows
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata

Request = customer_sessions_pb2.CreateCustomerSessionRequest


@pytest.fixture
def sessions(
    customers_service: RunningService,
) -> customer_sessions_pb2_grpc.CustomerSessionServiceStub:
    return customer_sessions_pb2_grpc.CustomerSessionServiceStub(customers_service.channel)


@pytest.fixture
def session_check(
    customers_service: RunningService,
) -> customer_sessions_pb2_grpc.CustomerSessionAdminServiceStub:
    return customer_sessions_pb2_grpc.CustomerSessionAdminServiceStub(customers_service.channel)


async def new_customer(customers, tenant, **fields: str) -> customers_pb2.Customer:
    return await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="portal@example.com", **fields)
        ),
        metadata=tenant.metadata(),
    )


async def refusal(call) -> CallError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


def verify(token: str) -> customer_sessions_pb2.VerifyCustomerSessionRequest:
    return customer_sessions_pb2.VerifyCustomerSessionRequest(token=token)


async def test_a_session_is_shown_once_and_stored_only_as_a_hash(
    sessions, customers, customers_service: RunningService, tenant, session_clock
) -> None:
    customer = await new_customer(customers, tenant)
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=tenant.metadata()
    )
    assert created.token.startswith("bcs_")
    assert len(created.token) == len("bcs_") + 40
    assert created.customer_id == customer.id
    assert created.organization_id == str(tenant.organization_id)
    assert created.create_time.ToDatetime(dt.UTC) == session_clock.now()
    assert created.expire_time.ToDatetime(dt.UTC) == session_clock.now() + dt.timedelta(hours=1)
    assert not created.HasField("revoke_time")

    (row,) = await rows(
        customers_service.app.database,
        select(customer_sessions).where(customer_sessions.c.id == uuid.UUID(created.id)),
    )
    assert row["token_hash"] == hashlib.sha256(created.token.encode()).digest()
    assert created.token.encode() not in repr(dict(row)).encode()


async def test_a_session_for_a_customer_by_external_id(sessions, customers, tenant) -> None:
    customer = await new_customer(customers, tenant, external_id="user_7")
    created = await sessions.CreateCustomerSession(
        Request(external_customer_id="user_7", ttl_seconds=60), metadata=tenant.metadata()
    )
    assert created.customer_id == customer.id
    lifetime = created.expire_time.ToDatetime() - created.create_time.ToDatetime()
    assert lifetime == dt.timedelta(seconds=60)


@pytest.mark.parametrize(
    ("ttl", "works"), [(59, False), (60, True), (86_400, True), (86_401, False), (-1, False)]
)
async def test_the_lifetime_is_a_minute_to_a_day(
    sessions, customers, tenant, ttl: int, works: bool
) -> None:
    customer = await new_customer(customers, tenant)
    call = sessions.CreateCustomerSession(
        Request(customer_id=customer.id, ttl_seconds=ttl), metadata=tenant.metadata()
    )
    if works:
        created = await call
        lifetime = created.expire_time.ToDatetime() - created.create_time.ToDatetime()
        assert lifetime == dt.timedelta(seconds=ttl)
        return
    error = await refusal(call)
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["ttl_seconds"])


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({}, "customer_id"),
        ({"customer_id": "cus_1"}, "customer_id"),
        (
            {"customer_id": "019b0000-0000-7000-8000-000000000000", "external_customer_id": "x"},
            "external_customer_id",
        ),
    ],
)
async def test_exactly_one_well_formed_customer_reference(
    sessions, tenant, request_fields: dict[str, str], field: str
) -> None:
    error = await refusal(
        sessions.CreateCustomerSession(Request(**request_fields), metadata=tenant.metadata())
    )
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_another_organizations_or_a_deleted_customer_is_not_found(
    sessions, customers, tenant, other_tenant
) -> None:
    theirs = await new_customer(customers, other_tenant, external_id="shared")
    gone = await new_customer(customers, tenant, external_id="gone")
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=gone.id), metadata=tenant.metadata()
    )
    for request in (
        Request(customer_id=theirs.id),
        Request(external_customer_id="shared"),
        Request(customer_id=gone.id),
        Request(external_customer_id="gone"),
        Request(customer_id=str(uuid.uuid4())),
    ):
        error = await refusal(sessions.CreateCustomerSession(request, metadata=tenant.metadata()))
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_NOT_FOUND")


async def test_a_merchant_needs_the_write_scope(
    sessions, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    reader = await admin.IssueApiKey(
        organizations_pb2.IssueApiKeyRequest(
            organization_id=str(tenant.organization_id), scopes=[options_pb2.SCOPE_READ]
        ),
        metadata=call_metadata(),
    )
    error = await refusal(
        sessions.CreateCustomerSession(
            Request(customer_id=customer.id), metadata=gateway_metadata(reader.secret)
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "API_KEY_SCOPE_MISSING",
    )
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=gateway_metadata(tenant.api_key_secret)
    )
    assert created.token.startswith("bcs_")


async def test_a_replay_returns_the_session_without_its_token_which_is_stored_nowhere(
    sessions, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    request = Request(customer_id=customer.id)
    first = await sessions.CreateCustomerSession(request, metadata=tenant.metadata("cs-1"))
    replay = await sessions.CreateCustomerSession(request, metadata=tenant.metadata("cs-1"))
    assert first.token
    assert replay.id == first.id
    assert replay.token == ""
    expected = customer_sessions_pb2.CustomerSession()
    expected.CopyFrom(first)
    expected.ClearField("token")
    assert replay == expected
    stored = await rows(
        customers_service.app.database,
        select(kit_tables.idempotency_keys.c.response).where(
            kit_tables.idempotency_keys.c.scope == str(tenant.organization_id)
        ),
    )
    assert stored
    assert all(first.token.encode() not in row["response"] for row in stored)


async def test_events_announce_creation_and_revocation_without_the_token(
    sessions, customers, customers_service: RunningService, tenant, servers: SessionServers
) -> None:
    customer = await new_customer(customers, tenant)
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=tenant.metadata()
    )
    revoked = await sessions.DeleteCustomerSession(
        customer_sessions_pb2.DeleteCustomerSessionRequest(id=created.id),
        metadata=tenant.metadata(),
    )
    envelopes = await published_events(
        servers.nats_url,
        "billingos.customers.customer_session.*",
        tenant.organization_id,
        at_least=2,
    )
    assert [envelope.type for envelope in envelopes] == [
        "customer_session.created",
        "customer_session.revoked",
    ]
    announced_created = events_pb2.CustomerSessionCreatedEvent()
    assert envelopes[0].data.Unpack(announced_created)
    assert announced_created.customer_session.id == created.id
    assert announced_created.customer_session.customer_id == customer.id
    assert announced_created.customer_session.token == ""
    announced_revoked = events_pb2.CustomerSessionRevokedEvent()
    assert envelopes[1].data.Unpack(announced_revoked)
    assert announced_revoked.customer_session == revoked
    outbox = await rows(
        customers_service.app.database,
        select(kit_tables.outbox.c.envelope).where(
            kit_tables.outbox.c.organization_id == tenant.organization_id
        ),
    )
    assert all(created.token.encode() not in row["envelope"] for row in outbox)


async def test_revoking_is_idempotent_and_only_for_the_organizations_own(
    sessions, customers, tenant, other_tenant, session_clock
) -> None:
    customer = await new_customer(customers, tenant)
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=tenant.metadata()
    )
    revoke = customer_sessions_pb2.DeleteCustomerSessionRequest(id=created.id)
    error = await refusal(sessions.DeleteCustomerSession(revoke, metadata=other_tenant.metadata()))
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_SESSION_NOT_FOUND")
    first = await sessions.DeleteCustomerSession(revoke, metadata=tenant.metadata())
    assert first.HasField("revoke_time")
    assert first.token == ""
    session_clock.advance(dt.timedelta(seconds=1))
    second = await sessions.DeleteCustomerSession(revoke, metadata=tenant.metadata())
    assert second == first


async def test_verify_names_the_sessions_organization_customer_and_expiry(
    sessions, session_check, customers, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=tenant.metadata()
    )
    verified = await session_check.VerifyCustomerSession(
        verify(created.token), metadata=call_metadata()
    )
    assert verified.customer_session_id == created.id
    assert verified.organization_id == str(tenant.organization_id)
    assert verified.customer_id == customer.id
    assert verified.expire_time == created.expire_time


async def test_verify_finds_no_expired_revoked_orphaned_or_unknown_session(
    sessions, session_check, customers, tenant, session_clock
) -> None:
    customer = await new_customer(customers, tenant)
    expiring, revoked = [
        await sessions.CreateCustomerSession(
            Request(customer_id=customer.id, ttl_seconds=ttl), metadata=tenant.metadata()
        )
        for ttl in (60, 3600)
    ]
    await sessions.DeleteCustomerSession(
        customer_sessions_pb2.DeleteCustomerSessionRequest(id=revoked.id),
        metadata=tenant.metadata(),
    )
    other = await new_customer(customers, tenant)
    orphaned = await sessions.CreateCustomerSession(
        Request(customer_id=other.id), metadata=tenant.metadata()
    )
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=other.id), metadata=tenant.metadata()
    )
    await session_check.VerifyCustomerSession(verify(expiring.token), metadata=call_metadata())
    session_clock.advance(dt.timedelta(seconds=60))
    for token in (
        expiring.token,
        revoked.token,
        orphaned.token,
        "bcs_not-a-real-token",
        tenant.api_key_secret,
        expiring.token + "x",
    ):
        error = await refusal(
            session_check.VerifyCustomerSession(verify(token), metadata=call_metadata())
        )
        assert (error.code, error.reason) == (
            grpc.StatusCode.NOT_FOUND,
            "CUSTOMER_SESSION_NOT_FOUND",
        )
        assert token not in error.message


async def test_verify_is_internal_whatever_a_caller_from_outside_presents(
    sessions, session_check, customers, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    created = await sessions.CreateCustomerSession(
        Request(customer_id=customer.id), metadata=tenant.metadata()
    )
    for credential in (tenant.api_key_secret, created.token):
        error = await refusal(
            session_check.VerifyCustomerSession(
                verify(created.token), metadata=gateway_metadata(credential)
            )
        )
        assert error.reason == "METHOD_INTERNAL"
