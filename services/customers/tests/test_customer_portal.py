"""The customer portal route (`GET /v1/customer-portal/customer`) as the
gateway forwards it, with the customers service's own session lookup: the
session's customer and nothing of the merchant's, the token refused on
merchant routes and an API key refused here, and the token ending with its
expiry, its revocation or its customer (the latter two within the cache
time, 5 s)."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from billingos.customers.v1 import (
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customer_sessions_pb2,
    customer_sessions_pb2_grpc,
    customers_pb2,
)
from billingos_kit.headers import ORGANIZATION_HEADER
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata

CACHE_TIME = dt.timedelta(seconds=5)  # api_key_cache_seconds' default
OWN_CUSTOMER = customer_portal_pb2.GetPortalCustomerRequest()


@pytest.fixture
def portal(customers_service: RunningService) -> customer_portal_pb2_grpc.CustomerPortalServiceStub:
    return customer_portal_pb2_grpc.CustomerPortalServiceStub(customers_service.channel)


@pytest.fixture
def sessions(
    customers_service: RunningService,
) -> customer_sessions_pb2_grpc.CustomerSessionServiceStub:
    return customer_sessions_pb2_grpc.CustomerSessionServiceStub(customers_service.channel)


async def customer_with_session(
    customers, sessions, tenant, ttl_seconds: int = 0
) -> tuple[customers_pb2.Customer, customer_sessions_pb2.CustomerSession]:
    given = customers_pb2.Customer(email="ada@example.com", name="Ada", external_id="user_1")
    given.metadata["internal_note"].string_value = "churn risk"
    customer = await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=given), metadata=tenant.metadata()
    )
    session = await sessions.CreateCustomerSession(
        customer_sessions_pb2.CreateCustomerSessionRequest(
            customer_id=customer.id, ttl_seconds=ttl_seconds
        ),
        metadata=tenant.metadata(),
    )
    return customer, session


async def refusal(call) -> CallError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def test_the_portal_shows_the_sessions_own_customer_and_none_of_the_merchants_fields(
    portal, customers, sessions, tenant, other_tenant
) -> None:
    customer, session = await customer_with_session(customers, sessions, tenant)
    await customer_with_session(customers, sessions, other_tenant)
    # An organization header (the gateway drops any a client sends) names nothing.
    forged = (
        *gateway_metadata(session.token),
        (ORGANIZATION_HEADER, str(other_tenant.organization_id)),
    )
    shown = await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=forged)
    assert shown == customer_portal_pb2.PortalCustomer(
        id=customer.id, email="ada@example.com", name="Ada", create_time=customer.create_time
    )
    assert "churn risk" not in str(shown)


async def test_the_token_is_refused_on_merchant_routes_and_an_api_key_on_portal_routes(
    portal, customers, sessions, tenant
) -> None:
    customer, session = await customer_with_session(customers, sessions, tenant)
    on_merchant_route = await refusal(
        customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=customer.id),
            metadata=gateway_metadata(session.token),
        )
    )
    assert (on_merchant_route.code, on_merchant_route.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_NOT_ACCEPTED",
    )
    on_portal_route = await refusal(
        portal.GetPortalCustomer(OWN_CUSTOMER, metadata=gateway_metadata(tenant.api_key_secret))
    )
    assert (on_portal_route.code, on_portal_route.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_REQUIRED",
    )


async def test_an_expired_token_is_refused_at_its_expiry(
    portal, customers, sessions, tenant, session_clock
) -> None:
    _customer, session = await customer_with_session(customers, sessions, tenant, ttl_seconds=60)
    metadata = gateway_metadata(session.token)
    await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata)
    session_clock.advance(dt.timedelta(seconds=59))
    await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata)
    session_clock.advance(dt.timedelta(seconds=1))
    error = await refusal(portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata))
    assert (error.code, error.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_INVALID",
    )


async def test_a_revoked_token_stops_working_within_the_cache_time(
    portal, customers, sessions, tenant, session_clock
) -> None:
    _customer, session = await customer_with_session(customers, sessions, tenant)
    metadata = gateway_metadata(session.token)
    await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata)
    await sessions.DeleteCustomerSession(
        customer_sessions_pb2.DeleteCustomerSessionRequest(id=session.id),
        metadata=tenant.metadata(),
    )
    await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata)  # from the cache
    session_clock.advance(CACHE_TIME)
    error = await refusal(portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata))
    assert error.reason == "CUSTOMER_SESSION_INVALID"


async def test_deleting_the_customer_ends_its_portal(
    portal, customers, sessions, tenant, session_clock
) -> None:
    customer, session = await customer_with_session(customers, sessions, tenant)
    metadata = gateway_metadata(session.token)
    await portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata)
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=customer.id), metadata=tenant.metadata()
    )
    # Still a session for the cache time, but the customer is gone at once…
    gone = await refusal(portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata))
    assert (gone.code, gone.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_NOT_FOUND")
    session_clock.advance(CACHE_TIME)
    # …and then no session either.
    error = await refusal(portal.GetPortalCustomer(OWN_CUSTOMER, metadata=metadata))
    assert error.reason == "CUSTOMER_SESSION_INVALID"


async def test_an_internal_caller_names_no_portal_customer(portal, tenant) -> None:
    error = await refusal(
        portal.GetPortalCustomer(OWN_CUSTOMER, metadata=call_metadata(tenant.organization_id))
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    )
