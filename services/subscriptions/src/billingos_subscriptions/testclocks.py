"""Test clocks: a frozen time that a customer (and everything it owns) lives
on. Advancing marks the clock ADVANCING; the workers then take the clock's
due work as they take real work (due by its frozen time), and the watcher
marks it READY, with `test_clock.ready`, once nothing on it is due or in
flight. Real-clock work is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.errors import FailedPrecondition, InvalidArgument
from billingos_kit.ids import new_id
from billingos_kit.pagination import ListFilter, Page, PageRequest
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.validation import Violations, check_text
from billingos_kit.workscope import OrganizationWork, WorkScope
from billingos_subscriptions import events
from billingos_subscriptions.billing import Billing, FixedClock
from billingos_subscriptions.models import TestClock, kit_tables
from billingos_subscriptions.repository import TestClockRepository, WorkClaims, clock_busy
from billingos_subscriptions.vocabulary import CancellationReason, ClockStatus, SubscriptionStatus

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
MAX_ADVANCE = dt.timedelta(days=731)
MAX_NAME = 256


def _check_time(violations: Violations, field: str, moment: dt.datetime | None) -> None:
    if moment is None:
        violations.add(field, "is required")
    elif not EARLIEST <= moment < LATEST:
        violations.add(field, "must be between 1970 and 9999")


class TestClocks:
    def __init__(self, scope: WorkScope, real_clock: Clock) -> None:
        self._scope = scope
        self._real_clock = real_clock
        self.clocks = TestClockRepository(scope)

    async def create(self, frozen_time: dt.datetime | None, name: str) -> TestClock:
        violations = Violations()
        _check_time(violations, "test_clock.frozen_time", frozen_time)
        check_text(violations, "test_clock.name", name, max_length=MAX_NAME)
        violations.raise_if_any()
        assert frozen_time is not None
        now = self._scope.clock.now()
        row = TestClock(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            name=name,
            frozen_time=frozen_time,
            status=ClockStatus.READY.value,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        await self.clocks.insert(row)
        return row

    async def get(self, clock_id: uuid.UUID) -> TestClock:
        return await self.clocks.require(clock_id)

    async def list_page(self, page: PageRequest) -> Page[TestClock]:
        return await self.clocks.page(ListFilter(), page)

    async def advance(self, clock_id: uuid.UUID, frozen_time: dt.datetime | None) -> TestClock:
        violations = Violations()
        _check_time(violations, "frozen_time", frozen_time)
        violations.raise_if_any()
        assert frozen_time is not None
        row = await self.clocks.require(clock_id, for_update=True)
        if row.status == ClockStatus.ADVANCING.value:
            raise FailedPrecondition(
                "the test clock is still advancing; wait until it is ready",
                reason="TEST_CLOCK_ADVANCING",
            )
        if frozen_time <= row.frozen_time:
            raise InvalidArgument(
                "frozen_time", "must be later than the clock's time (clocks only move forward)"
            )
        if frozen_time - row.frozen_time > MAX_ADVANCE:
            raise InvalidArgument("frozen_time", "may be at most two years after the clock's time")
        row.frozen_time = frozen_time
        row.status = ClockStatus.ADVANCING.value
        row.updated_at = self._scope.clock.now()
        await self.clocks.update(row, ["frozen_time", "status", "updated_at"])
        return row

    async def delete(self, clock_id: uuid.UUID) -> TestClock:
        row = await self.clocks.require(clock_id, for_update=True)
        work = OrganizationWork(
            await self._scope.connection(),
            self._scope.organization_id,
            FixedClock(row.frozen_time),
            kit_tables,
            SOURCE,
        )
        billing = Billing(work, self._real_clock)
        for sub in await billing.subscriptions.on_clock(row.id, for_update=True):
            if SubscriptionStatus(sub.status) is not SubscriptionStatus.CANCELED:
                await billing.end(sub, row.frozen_time, CancellationReason.TEST_CLOCK_DELETED)
        now = self._scope.clock.now()
        row.status = ClockStatus.READY.value
        await self.clocks.soft_delete(row, now)
        await self.clocks.update(row, ["status"])
        return row


class ClockWatcher:
    """Marks advancing clocks ready once nothing on them is due or in flight."""

    def __init__(
        self, database: Database, tables: KitTables, clock: Clock, *, poll_seconds: float
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._poll = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("watching test clocks failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll)

    async def run_once(self) -> int:
        async with self._database.connection() as connection:
            advancing = await WorkClaims(OnConnection(connection)).advancing_clocks()
        readied = 0
        for claimed in advancing:
            async with self._database.transaction() as connection:
                scope = OnConnection(connection, claimed.organization_id)
                clocks = TestClockRepository(scope)
                row = await clocks.get(claimed.id, for_update=True)
                if row is None or row.status != ClockStatus.ADVANCING.value:
                    continue
                if await clock_busy(connection, row.id, row.frozen_time):
                    continue
                row.status = ClockStatus.READY.value
                row.updated_at = self._clock.now()
                await clocks.update(row, ["status", "updated_at"])
                work = OrganizationWork(
                    connection,
                    row.organization_id,
                    FixedClock(row.frozen_time),
                    self._tables,
                    SOURCE,
                )
                await work.outbox.add(events.test_clock_ready(row))
                readied += 1
        return readied
