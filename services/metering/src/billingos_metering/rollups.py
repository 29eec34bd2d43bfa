"""Meter rollups: each meter's events per customer and UTC quarter-hour
(metering.meter_rollups), so one customer's quantities over a month read
about 3,000 rows instead of tens of thousands of events, each on its own
heap page (bench/README.md, quantities).

The rule that keeps them exact: a meter's rollups hold exactly its matching
events stored below its rolled point (its `rolled_to`, or rollup_progress
once it is not behind), for the filter and aggregation whose key is its
`rolled_spec`. The rollup keeper (rollup_keeper.py) writes rollups and moves
that point in one transaction; nothing else writes either, so a pod of an
older release (which knows neither) cannot break the rule, and balances and
rollups keep their own progress. A quantity reads the rollups with the point
and the key in one statement, and uses them only if the key is that of the
meter as the caller read it; it then adds the store's events at or above
the point (store.Tail), which only grow: an event is counted in one of the
two, never both. Otherwise (the meter changed, its rollups are being
rebuilt) the quantity is read from the events. Quarter-hours cut every local
calendar since 1972 (offsets are whole quarter-hours); a quarter that a
bucket bound does cut (a start of 10:07, an older odd offset) is left out of
the rollups and read from the events.

Unique meters have no rollups (distinct values do not add up); one
customer's quantities are what rollups serve, the whole organization's and
a not-yet-known external id's are read from the events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal

from billingos_kit.db import Connection
from billingos_metering.aggregates import Aggregate, combine
from billingos_metering.models import MeterRow
from billingos_metering.store import Bucketed, Tail
from billingos_metering.vocabulary import Function

QUARTER = dt.timedelta(minutes=15)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def quarter_of(moment: dt.datetime) -> dt.datetime:
    return EPOCH + ((moment - EPOCH) // QUARTER) * QUARTER


def cut_quarters(bounds: Sequence[dt.datetime]) -> list[dt.datetime]:
    """The quarter-hours that a bound falls inside of (not on their start)."""
    return sorted({quarter_of(b) for b in bounds if quarter_of(b) != b})


def rolls_up(function: Function) -> bool:
    return function is not Function.UNIQUE


# The key of a meter's filter and aggregation, as Postgres writes it (a
# jsonb's text is canonical: key order and spacing are its own).
SPEC_KEY = (
    "md5(m.filter::text || ':' || m.aggregation_function || ':'"
    " || coalesce(m.aggregation_property, ''))"
)

_EXTREME = {Function.MAX: "max(r.value_extreme)", Function.MIN: "min(r.value_extreme)"}

# The point, whether the rollups are of the caller's meter as it read it,
# and the rollups, in one statement: one snapshot.
_READ = """
WITH point AS (
    SELECT coalesce(m.rolled_to, p.watermark) AS since,
           coalesce(m.rolled_spec = {spec_key}, false) AND m.filter = $7::jsonb
             AND m.aggregation_function = $8
             AND m.aggregation_property IS NOT DISTINCT FROM $9 AS usable
    FROM metering.meters m CROSS JOIN metering.rollup_progress p
    WHERE m.organization_id = $10 AND m.id = $1 AND p.id = 1
)
SELECT point.since, point.usable, parts.*
FROM point LEFT JOIN LATERAL (
    SELECT width_bucket(r.quarter_start, $3::timestamptz[]) AS bucket,
           sum(r.event_count) AS count, coalesce(sum(r.value_sum), 0) AS total,
           {extreme} AS extreme,
           grouping(width_bucket(r.quarter_start, $3::timestamptz[])) AS whole
    FROM metering.meter_rollups r
    WHERE point.usable AND r.meter_id = $1 AND r.customer_id = $2
      AND r.quarter_start >= $4 AND r.quarter_start < $5
      AND r.quarter_start <> ALL($6::timestamptz[])
    GROUP BY GROUPING SETS ((width_bucket(r.quarter_start, $3::timestamptz[])), ())
) parts ON true
"""


async def read(
    connection: Connection, meter: MeterRow, customer_id: uuid.UUID, bounds: Sequence[dt.datetime]
) -> tuple[Bucketed, Tail] | None:
    """The rollups' share of one customer's quantities, and the tail of
    events the store must add to it; None when the rollups cannot serve
    (the meter changed since the caller read it, or they are rebuilding)."""
    function = Function(meter.aggregation_function)
    cut = cut_quarters(bounds)
    sql = _READ.format(spec_key=SPEC_KEY, extreme=_EXTREME.get(function, "NULL::numeric"))
    rows = await connection.fetch(
        sql,
        meter.id,
        customer_id,
        list(bounds),
        bounds[0],
        bounds[-1],
        cut,
        meter.filter,
        meter.aggregation_function,
        meter.aggregation_property,
        meter.organization_id,
    )
    if not rows or not rows[0]["usable"]:
        return None
    buckets = [Aggregate()] * (len(bounds) - 1)
    total = Aggregate()
    for row in rows:
        if row["count"] is None:
            continue  # no rollups in the range
        parts = Aggregate(int(row["count"]), Decimal(row["total"]), row["extreme"])
        if row["whole"]:
            total = parts
        else:
            buckets[row["bucket"] - 1] = parts
    return Bucketed(buckets, total), Tail(since=int(rows[0]["since"]), quarters=cut)


def add(function: Function, first: Bucketed, second: Bucketed) -> Bucketed:
    """Aggregates of two disjoint sets of events, bucket by bucket."""
    return Bucketed(
        [combine(function, pair) for pair in zip(first.buckets, second.buckets, strict=True)],
        combine(function, (first.total, second.total)),
    )


def extreme_update(function: Function) -> str:
    """How an upsert merges a quarter's extreme with the stored one
    (greatest and least skip NULLs)."""
    if function is Function.MAX:
        return "greatest(r.value_extreme, excluded.value_extreme)"
    if function is Function.MIN:
        return "least(r.value_extreme, excluded.value_extreme)"
    return "NULL"


def conflict_sql(function: Function) -> str:
    """The ON CONFLICT clause of an insert into the rollups (table alias r)."""
    return f"""
        ON CONFLICT (meter_id, customer_id, quarter_start) DO UPDATE SET
            event_count = r.event_count + excluded.event_count,
            value_sum = r.value_sum + excluded.value_sum,
            value_extreme = {extreme_update(function)}
    """


def upsert_sql(function: Function) -> str:
    """Adds rows (meter, organization, customers[], quarters[], counts[],
    totals[], extremes[]) to the rollups: how a store that is not Postgres
    hands its quarter aggregates over."""
    return f"""
        INSERT INTO metering.meter_rollups AS r (meter_id, organization_id, customer_id,
            quarter_start, event_count, value_sum, value_extreme)
        SELECT $1, $2, t.* FROM unnest($3::uuid[], $4::timestamptz[], $5::bigint[],
                                       $6::numeric[], $7::numeric[])
            AS t(customer_id, quarter_start, event_count, value_sum, value_extreme)
        ORDER BY t.customer_id, t.quarter_start
        {conflict_sql(function)}
    """  # noqa: S608 - no input in the text


async def forget(connection: Connection, organization_id: uuid.UUID, meter_id: uuid.UUID) -> None:
    """A meter's rollups gone, in the transaction that recounts it."""
    await connection.execute(
        "DELETE FROM metering.meter_rollups WHERE organization_id = $1 AND meter_id = $2",
        organization_id,
        meter_id,
    )
