"""What customer meter reads return: the row with its consumption, which
follows from the row's running parts and the meter's function."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billingos_metering.aggregates import WIDE, Aggregate, quantity
from billingos_metering.models import CustomerMeterRow, MeterRow
from billingos_metering.vocabulary import Function


@dataclass(frozen=True)
class CustomerMeterView:
    row: CustomerMeterRow
    consumed: Decimal

    @property
    def balance(self) -> Decimal:
        return WIDE.subtract(self.row.credited_units, self.consumed)


def consumed(function: Function, row: CustomerMeterRow) -> Decimal:
    # For unique meters `event_count` holds the number of distinct values.
    parts = Aggregate(row.event_count, row.value_sum, row.value_extreme, row.event_count)
    return quantity(function, parts)


def view_of(meter: MeterRow, row: CustomerMeterRow) -> CustomerMeterView:
    return CustomerMeterView(row, consumed(Function(meter.aggregation_function), row))
