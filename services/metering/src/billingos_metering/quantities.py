"""Meter quantities: a meter's aggregation over a range, cut into local
calendar buckets (buckets.py), with the total over the whole range computed
on its own (the unique values or the average of a month is not the sum of
its days'). One customer's quantities read the meter's rollups and the
events they do not hold yet (rollups.py). Also the billing engine's
question: a customer's quantity over a period, counting only events stored
in a watermark range, so what an order counted is never counted again and
what arrived late is counted next."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import CallScope
from billingos_kit.validation import Violations
from billingos_metering import rollups
from billingos_metering.aggregates import quantity
from billingos_metering.buckets import TooManyBuckets, bucket_bounds, zone
from billingos_metering.customers import KnownCustomers
from billingos_metering.meters import spec_of
from billingos_metering.repository import MeterRepository
from billingos_metering.rollups import rolls_up
from billingos_metering.store import Audience, EventStore
from billingos_metering.vocabulary import Function, Interval

# Quantities are asked of this range (local calendars past year 9999 cannot
# be written, and no usage event is older than the Unix epoch).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class QuantityQuery:
    meter_id: uuid.UUID
    start: dt.datetime | None
    end: dt.datetime | None
    interval: str
    timezone: str
    customer_id: uuid.UUID | None
    external_customer_id: str | None


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    end: dt.datetime
    quantity: Decimal


@dataclass(frozen=True)
class Quantities:
    buckets: list[Bucket]
    total: Decimal


@dataclass(frozen=True)
class Billable:
    quantity: Decimal
    event_count: int
    watermark: int


def _bounds(query: QuantityQuery) -> list[dt.datetime]:
    violations = Violations()
    if query.start is None:
        violations.add("start", "is required")
    if query.end is None:
        violations.add("end", "is required")
    if query.start is not None and query.end is not None and query.end <= query.start:
        violations.add("end", "must be after start")
    for name, moment in (("start", query.start), ("end", query.end)):
        if moment is not None and not EARLIEST <= moment <= LATEST:
            violations.add(name, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    interval: Interval | None = None
    try:
        interval = Interval(query.interval)
    except ValueError:
        choices = ", ".join(i.value for i in Interval)
        violations.add("interval", f"must be one of {choices}")
    tz = zone(query.timezone)
    if tz is None:
        violations.add("timezone", "must be an IANA time zone, e.g. Europe/Berlin")
    if query.customer_id is not None and query.external_customer_id is not None:
        violations.add("customer_id", "give customer_id or external_customer_id, not both")
    violations.raise_if_any()
    assert query.start
    assert query.end
    assert interval
    assert tz
    try:
        return bucket_bounds(query.start, query.end, interval, tz)
    except TooManyBuckets as error:
        raise InvalidArgument(
            "interval", f"{error}; use a longer interval or a shorter range"
        ) from None


class QuantityService:
    def __init__(self, scope: CallScope, store: EventStore) -> None:
        self._scope = scope
        self._store = store

    async def quantities(self, query: QuantityQuery) -> Quantities:
        meter = await MeterRepository(self._scope).require(query.meter_id)
        bounds = _bounds(query)
        audience = await self._audience(query)
        function = Function(meter.aggregation_function)
        spec = spec_of(meter)
        rolled = None
        if audience.customer_id is not None and rolls_up(function):
            connection = await self._scope.connection()
            rolled = await rollups.read(connection, meter, audience.customer_id, bounds)
        if rolled is not None:
            parts, tail = rolled
            rest = await self._store.quantities(self._scope, spec, audience, bounds, tail)
            found = rollups.add(function, parts, rest)
        else:
            found = await self._store.quantities(self._scope, spec, audience, bounds)
        buckets = [
            Bucket(bounds[i], bounds[i + 1], quantity(function, parts))
            for i, parts in enumerate(found.buckets)
        ]
        return Quantities(buckets, quantity(function, found.total))

    async def _audience(self, query: QuantityQuery) -> Audience:
        if query.external_customer_id is None:
            return Audience(customer_id=query.customer_id)
        owners = await KnownCustomers(self._scope).by_external_ids([query.external_customer_id])
        owner = owners.get(query.external_customer_id)
        if owner is not None:
            return Audience(customer_id=owner)
        return Audience(external_customer_id=query.external_customer_id)

    async def billable(
        self,
        meter_id: uuid.UUID,
        customer_id: uuid.UUID,
        period: tuple[dt.datetime | None, dt.datetime | None],
        after: int,
        until: int,
    ) -> Billable:
        meter = await MeterRepository(self._scope).require(meter_id)
        start, end = period
        violations = Violations()
        if start is None:
            violations.add("start", "is required")
        if end is None:
            violations.add("end", "is required")
        if start is not None and end is not None and end <= start:
            violations.add("end", "must be after start")
        if after < 0:
            violations.add("after_watermark", "must not be negative")
        violations.raise_if_any()
        assert start is not None
        assert end is not None
        safe = await self._store.watermark(self._scope)
        if until == 0:
            # "Up to what is final now", never below what the caller counted
            # already: a safe point read on another connection a moment ago
            # can stand above this one's (seen in CI, the cluster shared by
            # two suites); then nothing more is final yet, and the answer is
            # an empty window at `after`, not an error for a call that named
            # no bound.
            until = max(safe, after)
        elif until > safe:
            raise InvalidArgument(
                "until_watermark", f"is beyond what is final ({safe}); ask with 0 for now"
            )
        if until < after:
            raise InvalidArgument("until_watermark", "must not be below after_watermark")
        parts = await self._store.counted(
            self._scope, spec_of(meter), customer_id, start, end, (after, until)
        )
        function = Function(meter.aggregation_function)
        count = parts.count
        return Billable(quantity(function, parts), count, until)
