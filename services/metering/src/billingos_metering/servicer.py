"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from billingos.metering.v1 import (
    customer_meters_pb2,
    customer_meters_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    meters_pb2,
    meters_pb2_grpc,
    usage_events_pb2,
    usage_events_pb2_grpc,
    usage_pb2,
    usage_pb2_grpc,
)
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import page_request
from billingos_kit.protoconv import optional_bool, timestamp
from billingos_metering.aggregates import decimal_text
from billingos_metering.customer_meters import CustomerMeterService, parse_units
from billingos_metering.customer_portal import PortalCustomerMeters
from billingos_metering.ingest import IngestService
from billingos_metering.ingest_rules import IngestLimits
from billingos_metering.messages import (
    credit_mode,
    customer_meter_message,
    meter_draft,
    meter_message,
    portal_customer_meter_message,
    utc,
)
from billingos_metering.meters import METER_MASK, MeterService
from billingos_metering.quantities import QuantityQuery, QuantityService
from billingos_metering.repository import MeterFilter
from billingos_metering.store import EventStore

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Backends:
    """What the servicers share: the event store, the customers service (for
    a customer the read copy does not know yet), the ingest limits, and the
    balance worker's wake-up."""

    store: EventStore
    directory: CustomerDirectory
    limits: IngestLimits
    wake_balances: Callable[[], None]
    # Returns once this month's event partitions exist (partitions.py).
    partitions_ready: Callable[[], Awaitable[None]]
    # Unarchived meters an organization may have.
    max_meters: int = 100


def _optional_id(value: str, field: str) -> uuid.UUID | None:
    return parse_id(value, field) if value else None


class UsageEventServicer(usage_events_pb2_grpc.UsageEventServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def IngestEvents(
        self, request: usage_events_pb2.IngestEventsRequest, context: Context
    ) -> usage_events_pb2.IngestEventsResponse:
        b = self._backends
        await b.partitions_ready()
        service = IngestService(current_scope(), b.store, b.directory, b.limits)
        result = await service.ingest(request.events)
        if result.inserted:
            b.wake_balances()
        return usage_events_pb2.IngestEventsResponse(
            inserted=result.inserted, duplicates=result.duplicates
        )


class MeterServicer(meters_pb2_grpc.MeterServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _meters(self) -> MeterService:
        return MeterService(current_scope(), self._backends.max_meters)

    async def CreateMeter(
        self, request: meters_pb2.CreateMeterRequest, context: Context
    ) -> meters_pb2.Meter:
        meter = await self._meters().create(meter_draft(request.meter))
        return meter_message(meter)

    async def GetMeter(
        self, request: meters_pb2.GetMeterRequest, context: Context
    ) -> meters_pb2.Meter:
        meter_id = parse_id(request.id, "id")
        return meter_message(await self._meters().get(meter_id))

    async def ListMeters(
        self, request: meters_pb2.ListMetersRequest, context: Context
    ) -> meters_pb2.ListMetersResponse:
        where = MeterFilter(
            archived=optional_bool(request, "archived"), name_contains=request.query or None
        )
        page = page_request(
            request.page_size, request.page_token, where, default_size=25, max_size=50
        )
        result = await self._meters().list_page(where, page)
        return meters_pb2.ListMetersResponse(
            meters=[meter_message(meter) for meter in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateMeter(
        self, request: meters_pb2.UpdateMeterRequest, context: Context
    ) -> meters_pb2.Meter:
        meter_id = parse_id(request.meter.id, "meter.id")
        service = self._meters()

        async def current() -> meters_pb2.Meter:
            return meter_message(await service.get(meter_id, for_update=True))

        paths = await METER_MASK.resolve(request.update_mask, request.meter, current)
        meter = await service.update(meter_id, meter_draft(request.meter), paths)
        return meter_message(meter)

    async def GetMeterQuantities(
        self, request: meters_pb2.GetMeterQuantitiesRequest, context: Context
    ) -> meters_pb2.MeterQuantities:
        query = QuantityQuery(
            meter_id=parse_id(request.id, "id"),
            start=utc(request, "start"),
            end=utc(request, "end"),
            interval=request.interval,
            timezone=request.timezone,
            customer_id=_optional_id(request.customer_id, "customer_id"),
            external_customer_id=request.external_customer_id or None,
        )
        found = await QuantityService(current_scope(), self._backends.store).quantities(query)
        return meters_pb2.MeterQuantities(
            quantities=[
                meters_pb2.MeterQuantity(
                    start=timestamp(bucket.start),
                    end=timestamp(bucket.end),
                    quantity=decimal_text(bucket.quantity),
                )
                for bucket in found.buckets
            ],
            total=decimal_text(found.total),
        )


class CustomerMeterServicer(customer_meters_pb2_grpc.CustomerMeterServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def ListCustomerMeters(
        self, request: customer_meters_pb2.ListCustomerMetersRequest, context: Context
    ) -> customer_meters_pb2.ListCustomerMetersResponse:
        service = CustomerMeterService(current_scope(), self._backends.directory)
        where = await service.filter_of(
            _optional_id(request.customer_id, "customer_id"),
            request.external_customer_id or None,
            _optional_id(request.meter_id, "meter_id"),
        )
        if where is None:
            return customer_meters_pb2.ListCustomerMetersResponse()
        page = page_request(request.page_size, request.page_token, where)
        result = await service.list_page(where, page)
        return customer_meters_pb2.ListCustomerMetersResponse(
            customer_meters=[customer_meter_message(view) for view in result.items],
            next_page_token=result.next_page_token,
        )


class CustomerPortalServicer(customer_portal_pb2_grpc.CustomerPortalServiceServicer):
    """The session's customer's usage (the kit puts the customer in the
    call's scope; no request can name another)."""

    async def ListPortalCustomerMeters(
        self, request: customer_portal_pb2.ListPortalCustomerMetersRequest, context: Context
    ) -> customer_portal_pb2.ListPortalCustomerMetersResponse:
        result = await PortalCustomerMeters(current_scope()).list_page(
            request.page_size, request.page_token
        )
        return customer_portal_pb2.ListPortalCustomerMetersResponse(
            customer_meters=[portal_customer_meter_message(view) for view in result.items],
            next_page_token=result.next_page_token,
        )


class CustomerMeterAdminServicer(customer_meters_pb2_grpc.CustomerMeterAdminServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def CreditCustomerMeter(
        self, request: customer_meters_pb2.CreditCustomerMeterRequest, context: Context
    ) -> customer_meters_pb2.CustomerMeter:
        customer_id = parse_id(request.customer_id, "customer_id")
        meter_id = parse_id(request.meter_id, "meter_id")
        units = parse_units(request.units, "units")
        service = CustomerMeterService(current_scope(), self._backends.directory)
        view = await service.credit(customer_id, meter_id, units, credit_mode(request.mode))
        return customer_meter_message(view)


class BillableUsageAdminServicer(usage_pb2_grpc.BillableUsageAdminServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def GetBillableUsage(
        self, request: usage_pb2.GetBillableUsageRequest, context: Context
    ) -> usage_pb2.BillableUsage:
        found = await QuantityService(current_scope(), self._backends.store).billable(
            parse_id(request.meter_id, "meter_id"),
            parse_id(request.customer_id, "customer_id"),
            (utc(request, "start"), utc(request, "end")),
            request.after_watermark,
            request.until_watermark,
        )
        return usage_pb2.BillableUsage(
            quantity=decimal_text(found.quantity),
            event_count=found.event_count,
            watermark=found.watermark,
        )
