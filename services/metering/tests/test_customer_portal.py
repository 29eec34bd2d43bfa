"""The customer portal's usage, called as the gateway forwards a browser's
call with a customer session token: the session's customer's consumption,
credits and balance on each live meter, with the meter's name and nothing
of its filter; another customer's meters, of the same organization or
another, never show; archived meters are left out; pages follow."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from billingos.metering.v1 import (
    customer_meters_pb2,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    meters_pb2,
)
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata
from billingos_kit.testing.sessions import KnownSessions

from .conftest import Stubs, announce_customer, eventually, ingest, refused, usage_event
from .test_meters import SUM, create_meter, meter_of


@pytest.fixture
def sessions(metering_service: RunningService) -> KnownSessions:
    """Customer sessions this test issues (left in place after it: every
    test's tokens are its own)."""
    known = KnownSessions()
    metering_service.app.use_session_lookup(known)
    return known


def token_of(
    service: RunningService, sessions: KnownSessions, organization: uuid.UUID, customer: uuid.UUID
) -> str:
    return sessions.issue(organization, customer, service.app.clock.now() + dt.timedelta(hours=1))


async def portal_meters(
    service: RunningService, token: str, page_size: int = 0, page_token: str = ""
) -> customer_portal_pb2.ListPortalCustomerMetersResponse:
    stub: Any = customer_portal_pb2_grpc.CustomerPortalServiceStub(service.channel)
    found: customer_portal_pb2.ListPortalCustomerMetersResponse = (
        await stub.ListPortalCustomerMeters(
            customer_portal_pb2.ListPortalCustomerMetersRequest(
                page_size=page_size, page_token=page_token
            ),
            metadata=gateway_metadata(token),
        )
    )
    return found


def shown(
    found: customer_portal_pb2.ListPortalCustomerMetersResponse,
) -> dict[str, tuple[str, ...]]:
    return {
        m.meter_name: (m.consumed_units, m.credited_units, m.balance) for m in found.customer_meters
    }


async def shows(
    service: RunningService, token: str, expected: dict[str, tuple[str, ...]]
) -> customer_portal_pb2.ListPortalCustomerMetersResponse:
    """The portal's list once the balance worker has counted what it should."""

    async def check() -> customer_portal_pb2.ListPortalCustomerMetersResponse | None:
        found = await portal_meters(service, token)
        return found if shown(found) == expected else None

    result: customer_portal_pb2.ListPortalCustomerMetersResponse = await eventually(check)
    return result


async def test_the_portal_shows_the_sessions_customers_usage_on_each_live_meter(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers, sessions: KnownSessions
) -> None:
    organization, elsewhere = uuid.uuid4(), uuid.uuid4()
    mine = await announce_customer(metering_service, servers, organization)
    neighbour = await announce_customer(metering_service, servers, organization)
    stranger = await announce_customer(metering_service, servers, elsewhere)
    calls = await create_meter(stubs, organization, meter_of("API calls"))
    tokens = await create_meter(
        stubs, organization, meter_of("Tokens", function=SUM, prop="metadata.tokens")
    )
    retired = await create_meter(stubs, organization, meter_of("Old calls"))
    await create_meter(stubs, elsewhere, meter_of("Their calls"))
    await ingest(
        stubs,
        organization,
        [usage_event(customer_id=mine, metadata={"tokens": 40})] * 3
        + [usage_event(customer_id=neighbour, metadata={"tokens": 1})] * 5,
    )
    await ingest(stubs, elsewhere, [usage_event(customer_id=stranger)] * 7)
    await stubs.admin.CreditCustomerMeter(
        customer_meters_pb2.CreditCustomerMeterRequest(
            customer_id=str(mine), meter_id=calls.id, units="100"
        ),
        metadata=call_metadata(organization, idempotency_key=str(uuid.uuid4())),
    )
    token = token_of(metering_service, sessions, organization, mine)
    found = await shows(
        metering_service,
        token,
        {
            "API calls": ("3", "100", "97"),
            "Tokens": ("120", "0", "-120"),
            "Old calls": ("3", "0", "-3"),
        },
    )
    [line] = [m for m in found.customer_meters if m.meter_id == calls.id]
    assert line.HasField("window_start_time")
    assert line.HasField("update_time")
    assert "api_call" not in str(found)  # the meters' filters stay the merchant's
    assert {m.meter_id for m in found.customer_meters} == {calls.id, tokens.id, retired.id}

    # An archived meter no longer counts: it leaves the portal.
    await stubs.meters.UpdateMeter(
        meters_pb2.UpdateMeterRequest(
            meter=meters_pb2.Meter(id=retired.id, archived=True),
            update_mask=field_mask_pb2.FieldMask(paths=["archived"]),
        ),
        metadata=call_metadata(organization, idempotency_key=str(uuid.uuid4())),
    )
    assert set(shown(await portal_meters(metering_service, token))) == {"API calls", "Tokens"}

    # The neighbour sees its own lines only; the stranger, of another
    # organization, its own.
    neighbours = token_of(metering_service, sessions, organization, neighbour)
    await shows(
        metering_service,
        neighbours,
        {"API calls": ("5", "0", "-5"), "Tokens": ("5", "0", "-5")},
    )
    strangers = token_of(metering_service, sessions, elsewhere, stranger)
    await shows(metering_service, strangers, {"Their calls": ("7", "0", "-7")})
    # A customer with no usage has no lines.
    idle = await announce_customer(metering_service, servers, organization)
    idles = token_of(metering_service, sessions, organization, idle)
    assert shown(await portal_meters(metering_service, idles)) == {}


async def test_the_portal_pages_and_refuses_a_token_of_another_list(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers, sessions: KnownSessions
) -> None:
    organization = uuid.uuid4()
    customer = await announce_customer(metering_service, servers, organization)
    meters = [await create_meter(stubs, organization, meter_of(f"Meter {n}")) for n in range(3)]
    await ingest(stubs, organization, [usage_event(customer_id=customer)])
    token = token_of(metering_service, sessions, organization, customer)

    async def all_counted() -> bool | None:
        found = await portal_meters(metering_service, token)
        return True if len(found.customer_meters) == 3 else None

    await eventually(all_counted)
    first = await portal_meters(metering_service, token, page_size=2)
    second = await portal_meters(
        metering_service, token, page_size=2, page_token=first.next_page_token
    )
    assert len(first.customer_meters) == 2
    assert first.next_page_token
    assert len(second.customer_meters) == 1
    assert not second.next_page_token
    seen = [m.meter_id for m in (*first.customer_meters, *second.customer_meters)]
    assert sorted(seen) == sorted(m.id for m in meters)
    # The merchant's list's token is not the portal's.
    merchants = await stubs.customer_meters.ListCustomerMeters(
        customer_meters_pb2.ListCustomerMetersRequest(customer_id=str(customer), page_size=1),
        metadata=call_metadata(organization),
    )
    error = await refused(
        portal_meters(metering_service, token, page_token=merchants.next_page_token)
    )
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])


async def test_the_portal_takes_a_session_token_and_nothing_else(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers, sessions: KnownSessions
) -> None:
    organization = uuid.uuid4()
    customer = await announce_customer(metering_service, servers, organization)
    token = token_of(metering_service, sessions, organization, customer)
    on_merchant_route = await refused(
        stubs.customer_meters.ListCustomerMeters(
            customer_meters_pb2.ListCustomerMetersRequest(), metadata=gateway_metadata(token)
        )
    )
    assert (on_merchant_route.code, on_merchant_route.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_NOT_ACCEPTED",
    )
    stub: Any = customer_portal_pb2_grpc.CustomerPortalServiceStub(metering_service.channel)
    request = customer_portal_pb2.ListPortalCustomerMetersRequest()
    with_a_key = await refused(
        stub.ListPortalCustomerMeters(request, metadata=gateway_metadata("bos_x"))
    )
    assert (with_a_key.code, with_a_key.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_REQUIRED",
    )
    internal = await refused(
        stub.ListPortalCustomerMeters(request, metadata=call_metadata(organization))
    )
    assert (internal.code, internal.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    )
