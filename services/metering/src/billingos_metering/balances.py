"""The balance worker: keeps every customer meter current as events arrive.
Each pass counts the events stored since the last one, [progress, safe
point), into the customer meters of the meters that match them, and
announces each customer meter that changed once (`customer_meter.updated`:
a burst of events is one update per customer meter, not one per event).

A pass is one transaction: the counts, the announcements and the new
progress commit together, so a crash mid-pass counts nothing twice and
loses nothing (the next pass redoes the range). One pass at a time across
replicas (an advisory lock). A meter that cannot be counted (a database
error, a bug) is set behind on its own and the pass goes on: one meter's
fault never holds up the others. Meters that are behind — new, recounting
after a filter change, unarchived, or failed — are caught up from their own
watermark in their own transactions, a few per pass, a failing one retried
with a doubling wait. It runs every `poll_seconds`, and sooner when an
ingest wakes it; after a pass, at most once a second, the rollup keeper
has its turn. It runs on its
own event loop (app.py, kit own_loop.py): its passes are a string of round
trips, which on the loop ingest shares would each wait behind CPU-bound
batch checks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Mapping

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.ids import new_ids
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_metering import events
from billingos_metering.aggregates import WIDE, Aggregate
from billingos_metering.customer_meters import new_customer_meter
from billingos_metering.meters import spec_of
from billingos_metering.models import CustomerMeterRow, MeterRow
from billingos_metering.progress import global_progress
from billingos_metering.repository import CustomerMeterRepository
from billingos_metering.retries import Retries
from billingos_metering.rollup_keeper import RollupKeeper
from billingos_metering.store import EventStore
from billingos_metering.views import view_of
from billingos_metering.vocabulary import Function

log = logging.getLogger(__name__)

SOURCE = "metering"
CATCH_UP_PER_PASS = 5
# Ingest wakes the worker this long after a batch (its transaction commits
# just after the call returns).
WAKE_DELAY_SECONDS = 0.01
ROLLUP_EVERY_SECONDS = 1.0


class BalanceWorker:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        store: EventStore,
        poll_seconds: float,
        rollups: RollupKeeper,
    ) -> None:
        self._database = database
        self._rollups = rollups
        self._next_rollup = 0.0
        self._tables = tables
        self._clock = clock
        self._store = store
        self._poll = poll_seconds
        self._woken = asyncio.Event()
        # The loop the worker runs on: its own (app.py), so ingest wakes it
        # across threads.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retries = Retries()

    def wake(self) -> None:
        """Safe from any thread."""
        loop = self._loop
        if loop is not None:
            # A loop closed meanwhile (the worker stopped): nobody to wake,
            # and an ingest that stored its events must not fail for it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.call_later, WAKE_DELAY_SECONDS, self._woken.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.pass_once()
            except Exception:  # the store's or the database's: the next pass retries
                log.exception("balance pass failed; retrying")
            self._woken.clear()
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(self._woken.wait())
            await asyncio.wait({stopping, woken}, timeout=self._poll, return_when="FIRST_COMPLETED")
            stopping.cancel()
            woken.cancel()

    async def pass_once(self) -> int:
        """One pass; returns how many customer meters changed."""
        changed = await self._advance()
        for meter_id in await self._behind():
            changed += await self._catch_up(meter_id)
        now = asyncio.get_running_loop().time()
        if now >= self._next_rollup:
            # At most once a second: rollups only make quantities cheaper
            # (the events above their point are read anyway), and every
            # round trip here delays the next balance pass.
            self._next_rollup = now + ROLLUP_EVERY_SECONDS
            try:
                await self._rollups.keep_once()
            except Exception:  # balances go on
                log.exception("rollup pass failed; retrying")
        return changed

    async def _advance(self) -> int:
        """Counts [progress, safe point) into every caught-up meter whose
        organization stored events in it, and moves the progress there."""
        async with self._database.transaction() as connection:
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext('metering.balances'))"
            ):
                return 0
            platform = OnConnection(connection)
            safe = await self._store.watermark(platform)
            progress = await global_progress(connection, lock="FOR UPDATE")
            if safe <= progress:
                return 0
            changed = 0
            busy = await self._store.organizations_with_events(platform, progress, safe)
            for meter in await _caught_up_meters(connection, busy):
                try:
                    # A savepoint: one meter that cannot be counted (a
                    # database error) is set behind on its own, and the
                    # others go on.
                    async with connection.transaction():
                        changed += len(await self._count(connection, meter, progress, safe))
                except Exception:  # one meter's fault stays its own
                    log.exception(
                        "could not count a meter; it is caught up on its own",
                        extra={"meter_id": str(meter.id)},
                    )
                    await connection.execute(
                        "UPDATE metering.meters SET counted_watermark = $2 WHERE id = $1",
                        meter.id,
                        progress,
                    )
            await connection.execute(
                "UPDATE metering.balance_progress SET watermark = $1 WHERE id = 1", safe
            )
            return changed

    async def _behind(self) -> list[uuid.UUID]:
        now = asyncio.get_running_loop().time()
        async with self._database.connection() as connection:
            records = await connection.fetch(
                "SELECT id FROM metering.meters WHERE archived_at IS NULL"
                " AND counted_watermark IS NOT NULL ORDER BY counted_watermark, id LIMIT $1",
                CATCH_UP_PER_PASS + len(self._retries),
            )
        ids = self._retries.due([r[0] for r in records], now)
        return ids[:CATCH_UP_PER_PASS]

    async def _catch_up(self, meter_id: uuid.UUID) -> int:
        """A meter behind (new, recounting, unarchived, or one that failed)
        counted up to the progress in its own transactions, apart from the
        pass: first the long range without holding the progress (a pass goes
        on meanwhile), then what the passes added since, briefly holding it
        (so none moves it before the meter joins them)."""
        try:
            changed: set[uuid.UUID] = set()
            async with self._database.transaction() as connection:
                meter = await _lock_behind(connection, meter_id)
                if meter is None or meter.counted_watermark is None:
                    return 0
                target = await global_progress(connection)
                if meter.counted_watermark < target:
                    changed |= await self._count(connection, meter, meter.counted_watermark, target)
                    await connection.execute(
                        "UPDATE metering.meters SET counted_watermark = $2 WHERE id = $1",
                        meter.id,
                        target,
                    )
            async with self._database.transaction() as connection:
                progress = await global_progress(connection, lock="FOR SHARE")
                meter = await _lock_behind(connection, meter_id)
                if meter is None or meter.counted_watermark is None:
                    return len(changed)
                if meter.counted_watermark < progress:
                    changed |= await self._count(
                        connection, meter, meter.counted_watermark, progress
                    )
                # Customer meters the count did not touch are announced too:
                # after a recount, one the new filter leaves at nothing went
                # down (to the zero the recount started from).
                changed |= await self._announce_untouched(connection, meter, changed)
                await connection.execute(
                    "UPDATE metering.meters SET counted_watermark = NULL WHERE id = $1", meter.id
                )
            self._retries.succeeded(meter_id)
            return len(changed)
        except Exception:  # retried with backoff, apart from the pass
            delay = self._retries.failed(meter_id, asyncio.get_running_loop().time())
            log.exception(
                "could not catch a meter up; retrying later",
                extra={"meter_id": str(meter_id), "retry_seconds": delay},
            )
            return 0

    async def _announce_untouched(
        self, connection: Connection, meter: MeterRow, touched: set[uuid.UUID]
    ) -> set[uuid.UUID]:
        work = OrganizationWork(
            connection, meter.organization_id, self._clock, self._tables, SOURCE
        )
        rows = CustomerMeterRepository(work)
        now = self._clock.now()
        untouched = await rows.of_meter_except(meter.id, touched)
        for row in untouched:
            row.updated_at = now
        await rows.save_counts(untouched)
        await work.outbox.add_many(
            [events.customer_meter_updated(view_of(meter, row)) for row in untouched]
        )
        return {row.id for row in untouched}

    async def _count(
        self, connection: Connection, meter: MeterRow, start: int, end: int
    ) -> set[uuid.UUID]:
        """Counts [start, end) into the meter's customer meters; returns the
        ids of those that changed (each announced once)."""
        work = OrganizationWork(
            connection, meter.organization_id, self._clock, self._tables, SOURCE
        )
        rows = CustomerMeterRepository(work)
        spec = spec_of(meter)
        windows = await rows.windows_after(meter.id, start)
        function = Function(meter.aggregation_function)
        if function is Function.UNIQUE:
            values = await self._store.customer_values(work, spec, (start, end), windows)
            if not values:
                return set()
            found = await _ensure_rows(work, connection, meter, values.keys(), self._clock)
            changed = []
            for customer_id, seen in values.items():
                row = found[customer_id]
                added = await rows.add_values(row.id, seen)
                if added:
                    row.event_count += added
                    changed.append(row)
        else:
            aggregates = await self._store.customer_aggregates(work, spec, (start, end), windows)
            aggregates = {c: a for c, a in aggregates.items() if a.count}
            if not aggregates:
                return set()
            found = await _ensure_rows(work, connection, meter, aggregates.keys(), self._clock)
            changed = [_add(found[c], function, a) for c, a in aggregates.items()]
        now = self._clock.now()
        for row in changed:
            row.updated_at = now
        await rows.save_counts(changed)
        await work.outbox.add_many(
            [events.customer_meter_updated(view_of(meter, row)) for row in changed]
        )
        return {row.id for row in changed}


def _add(row: CustomerMeterRow, function: Function, parts: Aggregate) -> CustomerMeterRow:
    row.event_count += parts.count
    row.value_sum = WIDE.add(row.value_sum, parts.total)
    if parts.extreme is not None:
        if row.value_extreme is None:
            row.value_extreme = parts.extreme
        elif function is Function.MAX:
            row.value_extreme = max(row.value_extreme, parts.extreme)
        elif function is Function.MIN:
            row.value_extreme = min(row.value_extreme, parts.extreme)
    return row


async def _ensure_rows(
    work: OrganizationWork,
    connection: Connection,
    meter: MeterRow,
    customer_ids: Collection[uuid.UUID],
    clock: Clock,
) -> Mapping[uuid.UUID, CustomerMeterRow]:
    """The meter's customer meters of these customers, made where missing, locked."""
    wanted = list(customer_ids)
    rows = CustomerMeterRepository(work)
    found = await rows.of_meter(meter.id, wanted)
    missing = [c for c in wanted if c not in found]
    if missing:
        now = clock.now()
        ids = new_ids(clock, len(missing))
        await rows.insert(
            *(
                new_customer_meter(meter.organization_id, now, meter.id, c, row_id)
                for c, row_id in zip(missing, ids, strict=True)
            )
        )
        found = await rows.of_meter(meter.id, wanted)
    return found


async def _caught_up_meters(
    connection: Connection, organizations: set[uuid.UUID]
) -> list[MeterRow]:
    if not organizations:
        return []
    records = await connection.fetch(
        "SELECT * FROM metering.meters WHERE organization_id = ANY($1::uuid[])"
        " AND archived_at IS NULL AND counted_watermark IS NULL ORDER BY id FOR UPDATE",
        list(organizations),
    )
    return [MeterRow(**record) for record in records]


async def _lock_behind(connection: Connection, meter_id: uuid.UUID) -> MeterRow | None:
    record = await connection.fetchrow(
        "SELECT * FROM metering.meters WHERE id = $1 AND archived_at IS NULL"
        " AND counted_watermark IS NOT NULL FOR UPDATE SKIP LOCKED",
        meter_id,
    )
    return None if record is None else MeterRow(**record)
