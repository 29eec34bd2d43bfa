from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from billingos.catalog.v1 import events_pb2 as catalog_events
from billingos.catalog.v1 import products_pb2
from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.entitlements.v1 import (
    benefit_grants_pb2,
    benefit_grants_pb2_grpc,
    benefits_pb2,
    benefits_pb2_grpc,
    customer_portal_pb2_grpc,
    customer_state_pb2_grpc,
    entitlements_pb2_grpc,
)
from billingos.metering.v1 import (
    meters_pb2,
    meters_pb2_grpc,
    usage_events_pb2,
    usage_events_pb2_grpc,
)
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import seats_pb2, subscriptions_pb2
from billingos_entitlements.app import MIGRATIONS_DIR, build_app
from billingos_entitlements.settings import EntitlementsSettings
from billingos_kit.clock import FrozenClock, SystemClock
from billingos_kit.ids import new_id
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.processes import service_process
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service
from billingos_kit.testing.waiting import eventually

# One clock for the ids of the events tests publish: ids made on one clock are
# in creation order (two clocks' ids within a millisecond are not).
EVENT_CLOCK = SystemClock()


@pytest.fixture(scope="session")
def metering_address(
    servers: SessionServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The real metering service as a process of its own (benefits of meter
    credits name its meters; the crediter sends it their credits)."""
    with service_process("metering", servers, tmp_path_factory.mktemp("metering")) as address:
        yield address


@pytest.fixture(scope="session")
async def entitlements_service(
    servers: SessionServers, session_clock: FrozenClock, metering_address: str
) -> AsyncIterator[RunningService]:
    async with running_service(
        EntitlementsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        metering_address=metering_address,
    ) as service:
        yield service


def at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class Merchant:
    """One organization's view of the service, and the other contexts'
    events it would hear (published as their relays would)."""

    def __init__(self, service: RunningService, nats_url: str, metering: str = "") -> None:
        self.organization_id = uuid.uuid4()
        self._metering = metering
        self.benefits = benefits_pb2_grpc.BenefitServiceStub(service.channel)
        self.grants = benefit_grants_pb2_grpc.BenefitGrantServiceStub(service.channel)
        self.checks = entitlements_pb2_grpc.EntitlementServiceStub(service.channel)
        self.states = customer_state_pb2_grpc.CustomerStateServiceStub(service.channel)
        self.portal = customer_portal_pb2_grpc.CustomerPortalServiceStub(service.channel)
        self._nats_url = nats_url
        self._time = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

    def metadata(self, idempotency_key: str | None = None) -> Any:
        return call_metadata(self.organization_id, idempotency_key=idempotency_key)

    def later(self) -> dt.datetime:
        """A time after every one handed out before: states are ordered by it."""
        self._time += dt.timedelta(seconds=1)
        return self._time

    async def benefit(self, key: str, **fields: Any) -> benefits_pb2.Benefit:
        fields.setdefault("type", benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG)
        fields.setdefault("description", f"The {key} feature")
        if fields["type"] == benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG:
            fields.setdefault("feature_flag", benefits_pb2.FeatureFlagProperties())
        request = benefits_pb2.CreateBenefitRequest(benefit=benefits_pb2.Benefit(key=key, **fields))
        return await self.benefits.CreateBenefit(request, metadata=self.metadata())

    async def product(self, product_id: uuid.UUID, *benefit_ids: str) -> None:
        product = products_pb2.Product(
            id=str(product_id),
            organization_id=str(self.organization_id),
            name="Pro",
            benefit_ids=list(benefit_ids),
            update_time=at(self.later()),
        )
        await publish_event(
            self._nats_url,
            catalog_events.ProductUpdatedEvent(product=product),
            self.organization_id,
        )

    def subscription(
        self,
        subscription_id: uuid.UUID,
        customer_id: uuid.UUID,
        product_id: uuid.UUID,
        status: int = subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE,
        *,
        ended: bool = False,
        moment: dt.datetime | None = None,
    ) -> subscriptions_pb2.Subscription:
        when = moment or self.later()
        message = subscriptions_pb2.Subscription(
            id=str(subscription_id),
            organization_id=str(self.organization_id),
            customer_id=str(customer_id),
            product_id=str(product_id),
            price_id=str(uuid.uuid4()),
            currency="USD",
            status=subscriptions_pb2.SubscriptionStatus.ValueType(status),
            current_period_start=at(when),
            current_period_end=at(when + dt.timedelta(days=31)),
            update_time=at(when),
        )
        if ended:
            message.end_time.CopyFrom(at(when))
        return message

    async def new_meter(self) -> str:
        """A meter of this organization's in metering; its id."""
        async with grpc.aio.insecure_channel(self._metering) as channel:
            meter = await meters_pb2_grpc.MeterServiceStub(channel).CreateMeter(
                meters_pb2.CreateMeterRequest(
                    meter=meters_pb2.Meter(
                        name="API calls",
                        filter=meters_pb2.MeterFilter(),
                        aggregation=meters_pb2.MeterAggregation(
                            function=meters_pb2.AGGREGATION_FUNCTION_COUNT
                        ),
                    )
                ),
                metadata=self.metadata(),
            )
        return str(meter.id)

    async def customer(
        self, customer_id: uuid.UUID, external_id: str = "", *, deleted: bool = False
    ) -> None:
        """The customers context's state of a customer, as its relay publishes it."""
        when = self.later()
        message = customers_pb2.Customer(
            id=str(customer_id),
            organization_id=str(self.organization_id),
            email=f"{customer_id.hex[:8]}@example.test",
            external_id=external_id,
            create_time=at(when),
            update_time=at(when),
        )
        event: Any = customer_events.CustomerCreatedEvent(customer=message)
        if deleted:
            message.delete_time.CopyFrom(at(when))
            event = customer_events.CustomerDeletedEvent(customer=message)
        await publish_event(self._nats_url, event, self.organization_id)

    async def use(self, customer_id: uuid.UUID, events: int) -> None:
        """Usage events of the customer ingested into metering (every meter
        of the tests' counts every event)."""
        async with grpc.aio.insecure_channel(self._metering) as channel:
            await usage_events_pb2_grpc.UsageEventServiceStub(channel).IngestEvents(
                usage_events_pb2.IngestEventsRequest(
                    events=[
                        usage_events_pb2.UsageEventInput(
                            name="api_call", customer_id=str(customer_id)
                        )
                        for _ in range(events)
                    ]
                ),
                metadata=self.metadata(),
            )

    async def hear(self, subscription: subscriptions_pb2.Subscription, event: Any = None) -> None:
        """The engine's state of a subscription, with an event id in the order
        the engine makes them (UUIDv7s)."""
        kind = event or subscription_events.SubscriptionActivatedEvent
        await publish_event(
            self._nats_url,
            kind(subscription=subscription),
            self.organization_id,
            event_id=str(new_id(EVENT_CLOCK)),
        )

    def seat(
        self,
        seat_id: uuid.UUID,
        subscription_id: uuid.UUID,
        member_id: uuid.UUID,
        *,
        freed: bool = False,
        moment: dt.datetime | None = None,
    ) -> seats_pb2.SubscriptionSeat:
        when = moment or self.later()
        message = seats_pb2.SubscriptionSeat(
            id=str(seat_id),
            organization_id=str(self.organization_id),
            subscription_id=str(subscription_id),
            member_customer_id=str(member_id),
            status=seats_pb2.SEAT_STATUS_REVOKED if freed else seats_pb2.SEAT_STATUS_ASSIGNED,
            assign_time=at(when),
            update_time=at(when),
        )
        if freed:
            message.revoke_time.CopyFrom(at(when))
        return message

    async def hear_seat(self, seat: seats_pb2.SubscriptionSeat) -> None:
        """The engine's state of a seat (assigned or freed, by its status)."""
        kind: Any = (
            subscription_events.SubscriptionSeatRevokedEvent
            if seat.status == seats_pb2.SEAT_STATUS_REVOKED
            else subscription_events.SubscriptionSeatAssignedEvent
        )
        await publish_event(
            self._nats_url,
            kind(seat=seat),
            self.organization_id,
            event_id=str(new_id(EVENT_CLOCK)),
        )

    async def granted(
        self, customer_id: uuid.UUID, count: int, *, is_granted: bool | None = True
    ) -> list[benefit_grants_pb2.BenefitGrant]:
        """The customer's grants once there are `count` of them (granted, or
        revoked with is_granted False; None: all)."""

        async def check() -> list[benefit_grants_pb2.BenefitGrant] | None:
            request = benefit_grants_pb2.ListBenefitGrantsRequest(customer_id=str(customer_id))
            if is_granted is not None:
                request.is_granted.value = is_granted
            found = await self.grants.ListBenefitGrants(request, metadata=self.metadata())
            return list(found.benefit_grants) if len(found.benefit_grants) == count else None

        return await eventually(check)


@pytest.fixture
def merchant(
    entitlements_service: RunningService, servers: SessionServers, metering_address: str
) -> Merchant:
    return Merchant(entitlements_service, servers.nats_url, metering_address)
