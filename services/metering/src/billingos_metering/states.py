"""The current state of every entity the metering context announces, read
from its tables: what seeds the latest-state stream for entities that last
changed before that stream existed (billingos_kit.snapshot). A customer
meter's consumption follows from its meter's function, so each is read with
its meter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.protobuf.message import Message
from sqlalchemy import select

from billingos_kit.db import Connection
from billingos_kit.snapshot import StateSource, rows_as_states
from billingos_kit.sql import Query
from billingos_metering import events
from billingos_metering.models import CustomerMeterRow, MeterRow, customer_meters, meters
from billingos_metering.views import view_of


def meter_state(meter: MeterRow) -> Message:
    """The event that leaves a read copy holding this meter as it is now."""
    if meter.archived_at is None:
        return events.meter_created(meter)
    return events.meter_archived(meter)


_CUSTOMER_METERS = Query.of(
    select(customer_meters, *meters.c)
    .join(meters, meters.c.id == customer_meters.c.meter_id)
    .order_by(customer_meters.c.id)
)
_CUSTOMER_METER_COLUMNS = len(customer_meters.c)


async def customer_meter_states(
    connection: Connection,
) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    async for record in _CUSTOMER_METERS.cursor(connection):
        values = list(record.values())
        row = CustomerMeterRow(*values[:_CUSTOMER_METER_COLUMNS])
        meter = MeterRow(*values[_CUSTOMER_METER_COLUMNS:])
        yield events.customer_meter_updated(view_of(meter, row)), row.organization_id


def state_sources() -> list[StateSource]:
    return [
        rows_as_states("meter", meters, MeterRow, meter_state),
        StateSource("customer_meter", customer_meter_states),
    ]
