"""Customer meters: per customer and meter, what was consumed in the current
window, what was credited, and the balance. The balance worker
(balances.py) adds consumption as events arrive; credits come from here
(entitlements grants them each period, with a reset or a rollover).

A window is counted by watermark, not by event time: a reset starts a new
window at the point the meter's counting has reached, so every event is in
exactly one window — counted in the old one, or in the new one."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import Aborted, InvalidArgument, NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_metering import events
from billingos_metering.aggregates import WIDE, ZERO
from billingos_metering.customers import KnownCustomers, confirm_customers
from billingos_metering.meters import require_unarchived
from billingos_metering.models import CustomerMeterRow, MeterRow
from billingos_metering.progress import global_progress
from billingos_metering.repository import (
    CustomerMeterFilter,
    CustomerMeterRepository,
    MeterRepository,
)
from billingos_metering.views import CustomerMeterView, view_of
from billingos_metering.vocabulary import CreditMode

MAX_UNITS = Decimal(10) ** 15
MAX_UNIT_PLACES = 12


def parse_units(text: str, field: str) -> Decimal:
    try:
        units = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument(field, 'must be a decimal number, e.g. "1000" or "-2.5"') from None
    if not units.is_finite() or abs(units) >= MAX_UNITS:
        raise InvalidArgument(field, f"must be a finite number below {MAX_UNITS:,} in size")
    exponent = units.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_UNIT_PLACES:
        raise InvalidArgument(field, f"must have at most {MAX_UNIT_PLACES} decimal places")
    return units


def new_customer_meter(
    organization_id: uuid.UUID,
    now: dt.datetime,
    meter_id: uuid.UUID,
    customer_id: uuid.UUID,
    row_id: uuid.UUID,
) -> CustomerMeterRow:
    """A customer meter with nothing in it yet; its window holds every event
    (no reset has happened)."""
    return CustomerMeterRow(
        id=row_id,
        organization_id=organization_id,
        customer_id=customer_id,
        meter_id=meter_id,
        event_count=0,
        value_sum=ZERO,
        value_extreme=None,
        credited_units=ZERO,
        window_start_at=now,
        window_watermark=0,
        created_at=now,
        updated_at=now,
    )


class CustomerMeterService:
    def __init__(self, scope: CallScope, directory: CustomerDirectory) -> None:
        self._scope = scope
        self._directory = directory
        self._meters = MeterRepository(scope)
        self._rows = CustomerMeterRepository(scope)

    async def filter_of(
        self,
        customer_id: uuid.UUID | None,
        external_customer_id: str | None,
        meter_id: uuid.UUID | None,
    ) -> CustomerMeterFilter | None:
        """The list's filter; None when the external id names no customer
        (an empty list)."""
        if external_customer_id is not None:
            if customer_id is not None:
                raise InvalidArgument(
                    "customer_id", "give customer_id or external_customer_id, not both"
                )
            owners = await KnownCustomers(self._scope).by_external_ids([external_customer_id])
            customer_id = owners.get(external_customer_id)
            if customer_id is None:
                return None
        return CustomerMeterFilter(customer_id=customer_id, meter_id=meter_id)

    async def list_page(
        self, where: CustomerMeterFilter, page: PageRequest
    ) -> Page[CustomerMeterView]:
        found = await self._rows.page(where, page)
        meters = {m.id: m for m in await self._meters_of({row.meter_id for row in found.items})}
        return Page(
            [view_of(meters[row.meter_id], row) for row in found.items], found.next_page_token
        )

    async def _meters_of(self, ids: set[uuid.UUID]) -> list[MeterRow]:
        return [meter for meter_id in ids if (meter := await self._meters.get(meter_id))]

    async def credit(
        self, customer_id: uuid.UUID, meter_id: uuid.UUID, units: Decimal, mode: CreditMode
    ) -> CustomerMeterView:
        """Adds credits, or starts a new window (reset: the units; rollover:
        what is left, if positive, plus the units). Announces
        `customer_meter.updated`."""
        now = self._scope.clock.now()
        # Asked before the meter is locked: the customers service may be slow,
        # and a balance pass waits on a locked meter.
        live = await confirm_customers(self._scope, self._directory, {customer_id}, now)
        if customer_id not in live:
            raise NotFound("customer", str(customer_id))
        meter = await self._meters.require(meter_id, for_update=True)
        require_unarchived(meter, "meter_id")
        row = await self._rows.find(meter_id, customer_id, for_update=True)
        if row is None:
            row = new_customer_meter(
                self._scope.organization_id, now, meter_id, customer_id, new_id(self._scope.clock)
            )
            await self._rows.insert(row)
        if mode is CreditMode.ADD:
            row.credited_units = WIDE.add(row.credited_units, units)
            row.updated_at = now
            await self._rows.save_parts(row)
        else:
            if mode is CreditMode.ROLLOVER and meter.counted_watermark is not None:
                # What is left is not known while the meter is being counted.
                raise Aborted(
                    "meter_id: the meter is being counted (new, or recounting after a change);"
                    " retry the rollover in a moment",
                    reason="METER_CATCHING_UP",
                )
            left = view_of(meter, row).balance
            carried = max(left, ZERO) if mode is CreditMode.ROLLOVER else ZERO
            connection = await self._scope.connection()
            # The new window starts where counting stands for caught-up meters;
            # a meter behind counts each customer only from its window, so its
            # backlog stays in the old one (progress.py).
            row.window_watermark = await global_progress(connection)
            row.window_start_at = now
            row.event_count, row.value_sum, row.value_extreme = 0, ZERO, None
            row.credited_units = WIDE.add(carried, units)
            row.updated_at = now
            await self._rows.update(
                row,
                [
                    "event_count",
                    "value_sum",
                    "value_extreme",
                    "credited_units",
                    "window_start_at",
                    "window_watermark",
                    "updated_at",
                ],
            )
            await self._rows.clear_values(row.id)
        view = view_of(meter, row)
        await self._scope.outbox.add(events.customer_meter_updated(view))
        return view
