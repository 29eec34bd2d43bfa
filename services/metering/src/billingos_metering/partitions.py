"""Keeps `metering.events` partitioned by month (UTC): a partition for every
month from the ingest horizon to two months ahead, made before any event
needs it, checked at start and every hour. Old months are never dropped
here (a merchant's usage history is kept).

The default partition catches what no month holds (a horizon raised past
the months made). Should it hold rows of a month being made, those rows move
into the new month in the same transaction, so making a month never fails
and never loses an event."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.errors import Unavailable

log = logging.getLogger(__name__)

TABLE = "metering.events"
MONTHS_AHEAD = 2
LOCK_TIMEOUT = "2s"
READY_TIMEOUT_SECONDS = 2.0


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)


def months_to_keep(now: dt.datetime, horizon: dt.timedelta) -> list[dt.date]:
    first = month_start((now - horizon).astimezone(dt.UTC).date())
    last = month_start(now.astimezone(dt.UTC).date())
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    months, month = [], first
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(month: dt.date) -> str:
    return f"events_{month.year:04d}_{month.month:02d}"


async def existing_partitions(connection: Connection) -> set[str]:
    rows = await connection.fetch(
        """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = 'metering' AND p.relname = 'events'
        """
    )
    return {row[0] for row in rows}


async def ensure_partitions(database: Database, now: dt.datetime, horizon: dt.timedelta) -> int:
    """Makes the missing months; returns how many were made."""
    made = 0
    async with database.connection() as connection:
        existing = await existing_partitions(connection)
    for month in months_to_keep(now, horizon):
        name = partition_name(month)
        if name in existing:
            continue
        await _make_month(database, month, name)
        made += 1
    return made


async def _make_month(database: Database, month: dt.date, name: str) -> None:
    """Made apart and then attached: `CREATE TABLE … PARTITION OF` would lock
    the whole events table exclusively (every ingest and read would queue
    behind it, and it behind the longest running query), ATTACH takes a
    lock that lets them run. It gives up after `LOCK_TIMEOUT` rather than
    queue (the keeper tries again)."""
    start, end = month.isoformat(), next_month(month).isoformat()
    bounds = f"FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
    within = f"timestamp >= '{start} 00:00:00+00' AND timestamp < '{end} 00:00:00+00'"
    async with database.transaction() as connection:
        # One maker at a time (two replicas starting together).
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('metering.partitions'))")
        if name in await existing_partitions(connection):
            return
        await connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await connection.execute(f"CREATE TABLE metering.{name} (LIKE {TABLE} INCLUDING DEFAULTS)")
        # Rows of this month waiting in the default partition move over.
        moved = await connection.fetchval(
            f"WITH moved AS (DELETE FROM metering.events_default WHERE {within} "  # noqa: S608
            f"RETURNING *), kept AS (INSERT INTO metering.{name} SELECT * FROM moved "
            "RETURNING 1) SELECT count(*) FROM kept"
        )
        await connection.execute(
            f"ALTER TABLE {TABLE} ATTACH PARTITION metering.{name} FOR VALUES {bounds}"
        )
        if moved:
            log.info(
                "moved events out of the default partition",
                extra={"partition": name, "rows": moved},
            )


class PartitionKeeper:
    """Ingest waits for the first round (`ready`): on a fresh database the
    current month is made at start, and an insert racing the attach of its
    own month would fail (Postgres rechecks the default partition's bounds
    for the rows it routed there). Later rounds only make months nobody can
    send events for yet (two months ahead)."""

    def __init__(
        self, database: Database, clock: Clock, horizon: dt.timedelta, every_seconds: float = 3600
    ) -> None:
        self._database = database
        self._clock = clock
        self._horizon = horizon
        self._every = every_seconds
        self._ready = asyncio.Event()

    async def ready(self) -> None:
        """Returns once the first round is done; raises Unavailable past
        READY_TIMEOUT_SECONDS (a call should not hold its connection waiting)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=READY_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Unavailable(
                "metering is still preparing its event tables; retry in a moment",
                reason="EVENT_STORE_STARTING",
            ) from None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                made = await ensure_partitions(self._database, self._clock.now(), self._horizon)
                if made:
                    log.info("made event partitions", extra={"count": made})
                self._ready.set()
            except Exception:  # retried; ingest waits (and answers UNAVAILABLE) meanwhile
                log.exception("could not make event partitions; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every)
