"""Every query of meters and customer meters, on the kit's repositories:
bound to one organization, no commits, no rules. (Events are the store's:
store.py.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Table, Uuid, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ClauseElement

from billingos_kit.pagination import ListFilter
from billingos_kit.repository import TenantRepository
from billingos_kit.sql import contains_pattern
from billingos_metering.models import CustomerMeterRow, MeterRow, customer_meters, meters


@dataclass(frozen=True)
class MeterFilter(ListFilter):
    archived: bool | None = None
    name_contains: str | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "archived": table.c.archived_at.is_not(None) == bindparam("archived", type_=Boolean),
            "name_contains": table.c.name.ilike(bindparam("name_contains"), escape="\\"),
        }

    def bound(self, name: str, value: Any) -> Any:
        return contains_pattern(value) if name == "name_contains" else value


class MeterRepository(TenantRepository[MeterRow]):
    table = meters
    row_type = MeterRow
    resource = "meter"

    async def of_ids(self, meter_ids: Collection[uuid.UUID]) -> list[MeterRow]:
        """The organization's meters among `meter_ids`, in one statement."""
        if not meter_ids:
            return []

        def build() -> ClauseElement:
            return self.live().where(meters.c.id == bindparam("ids", type_=ARRAY(Uuid)).any_())

        return await self.fetch_rows(self.query("of_ids", build), ids=sorted(meter_ids))


@dataclass(frozen=True)
class CustomerMeterFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    meter_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id"),
            "meter_id": table.c.meter_id == bindparam("meter_id"),
        }


@dataclass(frozen=True)
class PortalMeterFilter(ListFilter):
    """The customer portal's list: one customer's meters, only those of
    live (unarchived) meters when `live_meters` is true. A filter of its
    own, so the merchant list's page tokens keep their digest."""

    customer_id: uuid.UUID | None = None
    live_meters: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        live = (
            select(meters.c.id)
            .where(meters.c.organization_id == bindparam("organization_id"))
            .where(meters.c.archived_at.is_(None) == bindparam("live_meters", type_=Boolean))
        )
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id"),
            "live_meters": table.c.meter_id.in_(live),
        }


class CustomerMeterRepository(TenantRepository[CustomerMeterRow]):
    table = customer_meters
    row_type = CustomerMeterRow
    resource = "customer_meter"

    async def find(
        self, meter_id: uuid.UUID, customer_id: uuid.UUID, *, for_update: bool = False
    ) -> CustomerMeterRow | None:
        connection = await self.connection()
        lock = " FOR UPDATE" if for_update else ""
        record = await connection.fetchrow(
            "SELECT * FROM metering.customer_meters WHERE organization_id = $1"  # noqa: S608
            f" AND meter_id = $2 AND customer_id = $3{lock}",
            self.organization_id,
            meter_id,
            customer_id,
        )
        return None if record is None else self.row(record)

    async def of_meter(
        self, meter_id: uuid.UUID, customer_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, CustomerMeterRow]:
        """The meter's customer meters of these customers, locked (the balance
        worker adds to them)."""
        connection = await self.connection()
        records = await connection.fetch(
            "SELECT * FROM metering.customer_meters WHERE organization_id = $1 AND meter_id = $2"
            " AND customer_id = ANY($3::uuid[]) ORDER BY customer_id FOR UPDATE",
            self.organization_id,
            meter_id,
            list(customer_ids),
        )
        return {record["customer_id"]: self.row(record) for record in records}

    async def of_meter_except(
        self, meter_id: uuid.UUID, excluded: Collection[uuid.UUID]
    ) -> list[CustomerMeterRow]:
        """The meter's customer meters but those in `excluded` (by row id), locked."""
        connection = await self.connection()
        records = await connection.fetch(
            "SELECT * FROM metering.customer_meters WHERE organization_id = $1 AND meter_id = $2"
            " AND id <> ALL($3::uuid[]) ORDER BY customer_id FOR UPDATE",
            self.organization_id,
            meter_id,
            list(excluded),
        )
        return [self.row(record) for record in records]

    async def windows_after(self, meter_id: uuid.UUID, watermark: int) -> dict[uuid.UUID, int]:
        """Customer meters whose window starts above `watermark` (after a
        recount): each counts only from its own window."""
        connection = await self.connection()
        records = await connection.fetch(
            "SELECT customer_id, window_watermark FROM metering.customer_meters"
            " WHERE organization_id = $1 AND meter_id = $2 AND window_watermark > $3",
            self.organization_id,
            meter_id,
            watermark,
        )
        return {record[0]: int(record[1]) for record in records}

    async def save_parts(self, row: CustomerMeterRow) -> None:
        await self.update(
            row, ["event_count", "value_sum", "value_extreme", "credited_units", "updated_at"]
        )

    async def save_counts(self, rows: Sequence[CustomerMeterRow]) -> None:
        """The balance worker's writes: each row's running parts, in one round
        trip (its rows are locked: of_meter)."""
        if not rows:
            return
        connection = await self.connection()
        await connection.executemany(
            "UPDATE metering.customer_meters SET event_count = $3, value_sum = $4,"
            " value_extreme = $5, updated_at = $6 WHERE organization_id = $1 AND id = $2",
            [
                (
                    self.organization_id,
                    r.id,
                    r.event_count,
                    r.value_sum,
                    r.value_extreme,
                    r.updated_at,
                )
                for r in rows
            ],
        )

    async def clear_counts(self, meter_id: uuid.UUID) -> None:
        """Every customer meter of the meter back to no consumption (a recount
        follows); credits and windows stay."""
        connection = await self.connection()
        await connection.execute(
            "DELETE FROM metering.customer_meter_values v USING metering.customer_meters m"
            " WHERE v.customer_meter_id = m.id AND m.organization_id = $1 AND m.meter_id = $2",
            self.organization_id,
            meter_id,
        )
        await connection.execute(
            "UPDATE metering.customer_meters SET event_count = 0, value_sum = 0,"
            " value_extreme = NULL WHERE organization_id = $1 AND meter_id = $2",
            self.organization_id,
            meter_id,
        )

    async def add_values(self, customer_meter_id: uuid.UUID, values: Collection[str]) -> int:
        """Adds distinct values to a unique meter's set (as digests); returns
        how many were new."""
        connection = await self.connection()
        digests = sorted({hashlib.sha256(value.encode()).digest()[:16] for value in values})
        count = await connection.fetchval(
            "WITH added AS (INSERT INTO metering.customer_meter_values"
            " (customer_meter_id, value_digest) SELECT $1, unnest($2::bytea[])"
            " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM added",
            customer_meter_id,
            digests,
        )
        return int(count)

    async def clear_values(self, customer_meter_id: uuid.UUID) -> None:
        connection = await self.connection()
        await connection.execute(
            "DELETE FROM metering.customer_meter_values WHERE customer_meter_id = $1",
            customer_meter_id,
        )
