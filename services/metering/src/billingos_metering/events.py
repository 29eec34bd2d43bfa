"""The events the metering context publishes, built from rows; what each is
(type, subject, the entity whose state it carries) is declared on the
message in protos/billingos/metering/v1/events.proto."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from billingos.metering.v1 import events_pb2
from billingos_metering.messages import customer_meter_message, meter_message
from billingos_metering.models import MeterRow
from billingos_metering.views import CustomerMeterView


def meter_created(meter: MeterRow) -> events_pb2.MeterCreatedEvent:
    return events_pb2.MeterCreatedEvent(meter=meter_message(meter))


def meter_updated(meter: MeterRow, changed: list[str]) -> events_pb2.MeterUpdatedEvent:
    return events_pb2.MeterUpdatedEvent(
        meter=meter_message(meter), update_mask=field_mask_pb2.FieldMask(paths=changed)
    )


def meter_archived(meter: MeterRow) -> events_pb2.MeterArchivedEvent:
    return events_pb2.MeterArchivedEvent(meter=meter_message(meter))


def customer_meter_updated(view: CustomerMeterView) -> events_pb2.CustomerMeterUpdatedEvent:
    return events_pb2.CustomerMeterUpdatedEvent(customer_meter=customer_meter_message(view))
