"""What the metering context seeds its latest-state stream with (states.py):
every meter as it is now (archived ones as such) and every customer meter
with the consumption its meter's function gives, each under its own
organization."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from billingos.metering.v1 import events_pb2, meters_pb2
from billingos_kit.streams import state_subject_of
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_metering import states

from .conftest import Stubs, announce_customer, ingest, usage_event
from .test_balances import consumed_becomes
from .test_meters import SUM, create_meter, meter_of


async def current_states(service: RunningService) -> dict[str, tuple[Message, uuid.UUID]]:
    found: dict[str, tuple[Message, uuid.UUID]] = {}
    async with (
        service.app.database.connection() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        for source in states.state_sources():
            async for message, organization_id in source.read(connection):
                subject = state_subject_of(message)
                assert subject is not None
                found[subject] = (message, organization_id)
    return found


async def test_meters_and_customer_meters_are_seeded_as_they_are(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers
) -> None:
    organization = uuid.uuid4()
    customer = await announce_customer(metering_service, servers, organization)
    meter = await create_meter(stubs, organization, meter_of(function=SUM, prop="metadata.n"))
    archived = meters_pb2.Meter()
    archived.CopyFrom(meter_of(name="old"))
    archived.archived = True
    gone = await create_meter(stubs, organization, archived)
    await ingest(stubs, organization, [usage_event(customer_id=customer, metadata={"n": 2.5})])
    standing = await consumed_becomes(stubs, organization, customer, meter.id, "2.5")
    found = await current_states(metering_service)
    live, owner = found[f"billingos.state.metering.meter.{meter.id}"]
    assert isinstance(live, events_pb2.MeterCreatedEvent)
    assert (live.meter, owner) == (meter, organization)
    old, _ = found[f"billingos.state.metering.meter.{gone.id}"]
    assert isinstance(old, events_pb2.MeterArchivedEvent)
    seeded, owner = found[f"billingos.state.metering.customer_meter.{standing.id}"]
    assert isinstance(seeded, events_pb2.CustomerMeterUpdatedEvent)
    assert (seeded.customer_meter, owner) == (standing, organization)
