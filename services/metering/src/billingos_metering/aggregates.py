"""What a store returns for a set of events, and the quantity each
aggregation function makes of it. The parts are chosen so that the stores
compute them in one pass (SQL aggregates) and the balance worker can add
them up as events arrive: count, sum and extreme add up; a unique count is
kept as its set of values (customer_meter_values)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

from billingos_metering.filters import Aggregation, EventValue, number_of
from billingos_metering.vocabulary import Function

# An average is rounded half-even to this many decimal places (a sum, a
# count, an extreme and a unique count are exact).
AVERAGE_PLACES = 12
_AVERAGE_STEP = Decimal(1).scaleb(-AVERAGE_PLACES)
# Wide enough that sums of ingestible numbers (below 2^53, fractions down to
# 1e-12) stay exact over any count of events: no sum here ever rounds.
WIDE = Context(prec=60)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Aggregate:
    """Over a set of events: `count` is how many events (for sum, avg, max and
    min: how many had a numeric value), `total` the sum of the values,
    `extreme` the max or min, `distinct` the number of distinct values."""

    count: int = 0
    total: Decimal = ZERO
    extreme: Decimal | None = None
    distinct: int = 0


def quantity(function: Function, parts: Aggregate) -> Decimal:
    if function is Function.COUNT:
        return Decimal(parts.count)
    if function is Function.SUM:
        return parts.total
    if function is Function.UNIQUE:
        return Decimal(parts.distinct)
    if function is Function.AVG:
        if parts.count == 0:
            return ZERO
        return WIDE.divide(parts.total, Decimal(parts.count)).quantize(
            _AVERAGE_STEP, rounding=ROUND_HALF_EVEN, context=WIDE
        )
    return parts.extreme if parts.extreme is not None else ZERO


def decimal_text(value: Decimal) -> str:
    """A decimal as the API writes it: plain digits, no exponent, no
    trailing zeros ("1500", "0.25", "-3")."""
    if value == 0:
        return "0"
    text = format(value.normalize(WIDE), "f")
    return text


def combine(function: Function, parts: Iterable[Aggregate]) -> Aggregate:
    """Aggregates of disjoint event sets, as one (not for unique: distinct
    values of disjoint sets may repeat)."""
    count, total, extreme = 0, ZERO, None
    for part in parts:
        count += part.count
        total = WIDE.add(total, part.total)
        if part.extreme is not None:
            if extreme is None:
                extreme = part.extreme
            elif function is Function.MAX:
                extreme = max(extreme, part.extreme)
            else:
                extreme = min(extreme, part.extreme)
    return Aggregate(count, total, extreme, 0)


def aggregate_values(aggregation: Aggregation, values: Iterable[EventValue | None]) -> Aggregate:
    """The reference: `values` are the aggregated property of each counted
    event (None where missing). What the stores' SQL must agree with."""
    if aggregation.function is Function.COUNT:
        return Aggregate(count=sum(1 for _ in values))
    if aggregation.function is Function.UNIQUE:
        seen = {distinct_key(value) for value in values if value is not None}
        return Aggregate(count=0, distinct=len(seen))
    numbers = [n for n in (number_of(v) for v in values) if n is not None]
    extreme: Decimal | None = None
    if numbers and aggregation.function is Function.MAX:
        extreme = max(numbers)
    elif numbers and aggregation.function is Function.MIN:
        extreme = min(numbers)
    total = ZERO
    for number in numbers:
        total = WIDE.add(total, number)
    return Aggregate(count=len(numbers), total=total, extreme=extreme)


def distinct_key(value: EventValue) -> tuple[str, str]:
    """Two values are the same for `unique` when they are of the same kind and
    equal (a number by value: 1 and 1.0 are one value)."""
    if isinstance(value, bool):
        return ("bool", str(value))
    number = number_of(value)
    if number is not None:
        return ("number", decimal_text(number))
    return ("string", str(value))
