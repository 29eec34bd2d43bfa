"""The event store: where usage events are kept and what is asked of them.
Two implementations hold to this one interface and pass one test suite
(tests/test_store.py): Postgres (pg_store.py, the default) and ClickHouse
(clickhouse_store.py, for organizations that outgrow one Postgres).

Watermarks: every stored event gets one (an integer that only grows with
each commit). `watermark()` is the safe point: every event stored below it
is visible, and no event will ever be stored below it. Balances and billing
count events by watermark range, so an event that arrives late is counted
once, in the next range, never lost and never twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from billingos_kit.repository import DataScope
from billingos_metering.aggregates import Aggregate
from billingos_metering.filters import Aggregation, EventValue, Filter


@dataclass(slots=True)
class NewEvent:
    """An event checked and resolved, ready to store. `metadata_json` is
    `metadata` encoded once (what both stores keep). Not frozen: a thousand
    are made per request, and ingest fills `customer_id` in place once it
    has resolved the external customer ids."""

    id: uuid.UUID
    name: str
    customer_id: uuid.UUID | None
    external_customer_id: str | None
    timestamp: dt.datetime
    metadata: Mapping[str, EventValue]
    metadata_json: str
    external_id: str | None


@dataclass(frozen=True)
class MeterSpec:
    """What a store needs of a meter to count its events."""

    filter: Filter
    aggregation: Aggregation


@dataclass(frozen=True)
class Audience:
    """Whose events: one customer (by id), the events sent with an external
    customer id no customer has yet, or (both None) every customer."""

    customer_id: uuid.UUID | None = None
    external_customer_id: str | None = None


@dataclass(frozen=True)
class Bucketed:
    buckets: Sequence[Aggregate]
    total: Aggregate


@dataclass(frozen=True)
class Tail:
    """The events of a quantity the rollups do not hold (rollups.py): those
    stored at or above `since` (the meter's counted point), and every event
    in `quarters`, the UTC quarter-hours a bucket bound cuts (whose rollups
    are left out)."""

    since: int
    quarters: Sequence[dt.datetime]


class EventStore(Protocol):
    async def insert(
        self, scope: DataScope, events: Sequence[NewEvent], ingested_at: dt.datetime
    ) -> int:
        """Stores the events whose `external_id` the organization has not sent
        before (the batch has no repeats in itself); returns how many. In the
        scope's transaction where the store can be."""
        ...

    async def quantities(
        self,
        scope: DataScope,
        meter: MeterSpec,
        audience: Audience,
        bounds: Sequence[dt.datetime],
        tail: Tail | None = None,
    ) -> Bucketed:
        """The aggregate of each bucket [bounds[i], bounds[i+1]) and of the
        whole range, of the events the meter's filter matches; with `tail`,
        only of the tail's events (the rollups have the rest)."""
        ...

    async def roll_up(
        self,
        scope: DataScope,
        meter_id: uuid.UUID,
        meter: MeterSpec,
        watermarks: tuple[int, int],
    ) -> None:
        """Adds the matching events of customers stored in [watermarks) to the
        meter's rollups (metering.meter_rollups, in Postgres for every store),
        in the scope's transaction. Not for unique."""
        ...

    async def counted(
        self,
        scope: DataScope,
        meter: MeterSpec,
        customer_id: uuid.UUID,
        start: dt.datetime,
        end: dt.datetime,
        watermarks: tuple[int, int],
    ) -> Aggregate:
        """The customer's matching events with a timestamp in [start, end) and
        a watermark in [watermarks[0], watermarks[1])."""
        ...

    async def watermark(self, scope: DataScope) -> int:
        """The safe point (see the module's docstring)."""
        ...

    async def organizations_with_events(
        self, scope: DataScope, after: int, until: int
    ) -> set[uuid.UUID]:
        """Every organization with an event stored in [after, until)."""
        ...

    async def customer_aggregates(
        self,
        scope: DataScope,
        meter: MeterSpec,
        watermarks: tuple[int, int],
        windows: Mapping[uuid.UUID, int],
    ) -> dict[uuid.UUID, Aggregate]:
        """Per customer, the matching events stored in [watermarks); a customer
        in `windows` only from its watermark there. Events without a customer
        are left out. Not for unique (see customer_values)."""
        ...

    async def customer_values(
        self,
        scope: DataScope,
        meter: MeterSpec,
        watermarks: tuple[int, int],
        windows: Mapping[uuid.UUID, int],
    ) -> dict[uuid.UUID, set[str]]:
        """Per customer, the distinct values (each as a text that is the same
        for equal values and differs for different ones: Postgres gives the
        jsonb text, ClickHouse its own; a store only ever compares its own) a unique
        meter's property takes in the matching events stored in [watermarks)."""
        ...

    async def resolve_customer(
        self, scope: DataScope, external_customer_id: str, customer_id: uuid.UUID
    ) -> int:
        """The events sent with the external id before any customer had it now
        belong to that customer, at a new watermark (so balances and billing
        count them once from now on); returns how many."""
        ...
