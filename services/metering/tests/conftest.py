from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest

from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.metering.v1 import (
    customer_meters_pb2_grpc,
    meters_pb2_grpc,
    usage_events_pb2,
    usage_events_pb2_grpc,
    usage_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service
from billingos_kit.testing.waiting import eventually
from billingos_metering.app import MIGRATIONS_DIR, build_app
from billingos_metering.settings import MeteringSettings

T = TypeVar("T")


@pytest.fixture(scope="session")
async def metering_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        MeteringSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        balance_poll_seconds=0.05,
    ) as service:
        yield service


@dataclass
class Stubs:
    events: Any
    meters: Any
    customer_meters: Any
    admin: Any
    usage: Any


@pytest.fixture
def stubs(metering_service: RunningService) -> Stubs:
    channel = metering_service.channel
    return Stubs(
        events=usage_events_pb2_grpc.UsageEventServiceStub(channel),
        meters=meters_pb2_grpc.MeterServiceStub(channel),
        customer_meters=customer_meters_pb2_grpc.CustomerMeterServiceStub(channel),
        admin=customer_meters_pb2_grpc.CustomerMeterAdminServiceStub(channel),
        usage=usage_pb2_grpc.BillableUsageAdminServiceStub(channel),
    )


async def announce_customer(
    service: RunningService,
    servers: SessionServers,
    organization_id: uuid.UUID,
    *,
    external_id: str = "",
    customer_id: uuid.UUID | None = None,
    clock: FrozenClock | None = None,
) -> uuid.UUID:
    """Publishes `customer.created` as the customers context would, and waits
    until metering's read copy has it."""
    customer_id = customer_id or uuid.uuid4()
    now = clock.now() if clock else None
    customer = customers_pb2.Customer(
        id=str(customer_id),
        organization_id=str(organization_id),
        email=f"{customer_id.hex[:8]}@example.com",
        external_id=external_id,
        update_time=timestamp(now) if now else None,
    )
    await publish_event(
        servers.nats_url, customer_events.CustomerCreatedEvent(customer=customer), organization_id
    )

    async def known() -> bool | None:
        async with service.app.database.connection() as connection:
            found = await connection.fetchval(
                "SELECT 1 FROM metering.customers WHERE id = $1", customer_id
            )
        return True if found else None

    await eventually(known)
    return customer_id


async def refused(call: Awaitable[object]) -> CallError:
    """The error of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return call_error(error.value)


def usage_event(
    name: str = "api_call",
    *,
    customer_id: uuid.UUID | str | None = None,
    external_customer_id: str = "",
    at: dt.datetime | None = None,
    metadata: dict[str, Any] | None = None,
    external_id: str = "",
) -> usage_events_pb2.UsageEventInput:
    message = usage_events_pb2.UsageEventInput(
        name=name,
        customer_id=str(customer_id) if customer_id else "",
        external_customer_id=external_customer_id,
        external_id=external_id,
    )
    if at is not None:
        message.timestamp.FromDatetime(at)
    if metadata:
        message.metadata.update(metadata)
    return message


async def ingest(
    stubs: Stubs,
    organization_id: uuid.UUID,
    events: list[usage_events_pb2.UsageEventInput],
    *,
    key: str | None = None,
) -> usage_events_pb2.IngestEventsResponse:
    response: usage_events_pb2.IngestEventsResponse = await stubs.events.IngestEvents(
        usage_events_pb2.IngestEventsRequest(events=events),
        metadata=call_metadata(organization_id, idempotency_key=key or str(uuid.uuid4())),
    )
    return response


async def stored_events(service: RunningService, organization_id: uuid.UUID) -> int:
    async with service.app.database.connection() as connection:
        count = await connection.fetchval(
            "SELECT count(*) FROM metering.events WHERE organization_id = $1", organization_id
        )
    return int(count)
