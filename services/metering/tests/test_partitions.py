"""The monthly partitions: made ahead, and a month made after its events
landed in the default partition takes them over (none lost, none twice)."""

from __future__ import annotations

import datetime as dt
import uuid

from billingos_kit.repository import OnConnection
from billingos_kit.testing.service import RunningService
from billingos_metering.partitions import ensure_partitions, months_to_keep, partition_name
from billingos_metering.pg_store import PostgresEventStore
from billingos_metering.store import NewEvent

UTC = dt.UTC


def test_months_run_from_the_horizon_to_two_months_ahead() -> None:
    months = months_to_keep(dt.datetime(2026, 12, 15, tzinfo=UTC), dt.timedelta(days=35))
    assert [partition_name(m) for m in months] == [
        "events_2026_11",
        "events_2026_12",
        "events_2027_01",
        "events_2027_02",
    ]


async def test_a_month_made_late_takes_its_events_from_the_default_partition(
    metering_service: RunningService,
) -> None:
    database = metering_service.app.database
    organization = uuid.uuid4()
    when = dt.datetime(2019, 6, 15, tzinfo=UTC)  # no partition for it yet
    async with database.transaction() as connection:
        scope = OnConnection(connection, organization)
        await PostgresEventStore().insert(
            scope,
            [NewEvent(uuid.uuid4(), "late", None, "u", when, {}, "{}", None)] * 1,
            when,
        )
    async with database.connection() as connection:
        where = await connection.fetchval(
            "SELECT tableoid::regclass::text FROM metering.events WHERE organization_id = $1",
            organization,
        )
    assert where == "metering.events_default"
    made = await ensure_partitions(
        database, dt.datetime(2019, 6, 20, tzinfo=UTC), dt.timedelta(days=1)
    )
    assert made >= 1
    async with database.connection() as connection:
        rows = await connection.fetch(
            "SELECT tableoid::regclass::text FROM metering.events WHERE organization_id = $1",
            organization,
        )
    assert [row[0] for row in rows] == ["metering.events_2019_06"]
