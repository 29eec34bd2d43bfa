"""The finalizer (a worker): a draft order waits for its metered usage. For
each metered item the usage of the closed window is read from metering
outside any transaction — the window's events stored so far, plus the late
events of earlier windows stored since the last order (metering's watermark)
— then, under the order's row lock, the usage lines are written, the items
remember the watermark, and the order is final. A late event is billed
once, in the next order after it was stored; two finalizers racing write
one result (the second finds the order final)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from billingos.metering.v1 import usage_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.protoconv import timestamp
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_pricing import minimums
from billingos_subscriptions import price_lines
from billingos_subscriptions.billing import Billing, FixedClock, LineDraft, price_of
from billingos_subscriptions.clients import MeteringClient
from billingos_subscriptions.models import Order, SubscriptionItem
from billingos_subscriptions.repository import (
    ItemRepository,
    OrderRepository,
    TestClockRepository,
    WorkClaims,
)
from billingos_subscriptions.vocabulary import LineKind, OrderStatus

log = logging.getLogger(__name__)

SOURCE = "subscriptions"
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Reading:
    """One metered item's usage for the order."""

    item_id: uuid.UUID
    billed_to_before: dt.datetime  # what the reading started from (a race check)
    watermark_before: int
    window_end: dt.datetime
    quantity: Decimal
    late_quantity: Decimal
    event_count: int
    watermark: int


class UsageFinalizer:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        metering: MeteringClient,
        *,
        batch_size: int,
        poll_seconds: float,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._metering = metering
        self._batch = batch_size
        self._poll = poll_seconds
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            done = 0
            try:
                done = await self.run_once()
            except Exception:
                log.exception("finalizing usage orders failed; trying again later")
            if done:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self._poll)

    async def run_once(self) -> int:
        async with self._database.connection() as connection:
            drafts = await WorkClaims(OnConnection(connection)).drafts(self._batch)
        done = 0
        for claimed in drafts:
            try:
                if await self.finalize(claimed.organization_id, claimed.id):
                    done += 1
            except Exception:
                log.warning(
                    "a usage order could not be finalized yet; trying again later",
                    extra={"order_id": str(claimed.id)},
                    exc_info=True,
                )
        return done

    async def finalize(self, organization_id: uuid.UUID, order_id: uuid.UUID) -> bool:
        async with self._database.connection() as connection:
            scope = OnConnection(connection, organization_id)
            order = await OrderRepository(scope).get(order_id)
            if order is None or OrderStatus(order.status) is not OrderStatus.DRAFT:
                return False
            assert order.subscription_id is not None
            waiting = await OrderRepository(scope).drafts_of(order.subscription_id)
            if waiting and waiting[0].id != order.id:
                # A subscription's drafts are finalized in order: a later one
                # would read the earlier one's window.
                return False
            items = await ItemRepository(scope).of_subscriptions([order.subscription_id])
        readings = [
            await self._read(organization_id, order, item)
            for item in items
            if _billable(item, order)
        ]
        async with self._database.transaction() as connection:
            clock: Clock = self._clock
            if order.test_clock_id is not None:
                test_clock = await TestClockRepository(
                    OnConnection(connection, organization_id)
                ).get(order.test_clock_id)
                if test_clock is not None:
                    clock = FixedClock(test_clock.frozen_time)
            work = OrganizationWork(connection, organization_id, clock, self._tables, SOURCE)
            billing = Billing(work, self._clock)
            locked = await billing.orders.get(order_id, for_update=True)
            if locked is None or OrderStatus(locked.status) is not OrderStatus.DRAFT:
                return False
            assert locked.subscription_id is not None
            sub = await billing.subscriptions.require(locked.subscription_id, for_update=True)
            by_id = {i.id: i for i in await billing.items.of_subscriptions([sub.id])}
            drafts: list[LineDraft] = []
            for reading in readings:
                item = by_id[reading.item_id]
                if (item.usage_billed_to, item.usage_watermark) != (
                    reading.billed_to_before,
                    reading.watermark_before,
                ):
                    return False  # another finalizer billed it: read again next round
                drafts += _usage_lines(item, reading)
                item.usage_billed_to = reading.window_end
                item.usage_watermark = reading.watermark
                if item.ended_at is not None and reading.window_end >= item.ended_at:
                    item.final_billed = True
                await billing.items.update(
                    item, ["usage_billed_to", "usage_watermark", "final_billed"]
                )
            await billing.add_usage_lines(locked, drafts)
            await billing.finalize(locked, sub, clock.now())
        return True

    async def _read(
        self, organization_id: uuid.UUID, order: Order, item: SubscriptionItem
    ) -> Reading:
        assert order.usage_to is not None
        assert item.meter_id is not None
        window_end = max(min(order.usage_to, item.ended_at or order.usage_to), item.usage_billed_to)
        start = max(item.usage_billed_to, item.usage_start_at)
        current = await self._metering.billable_usage(
            organization_id,
            usage_pb2.GetBillableUsageRequest(
                meter_id=str(item.meter_id),
                customer_id=str(order.customer_id),
                # An empty window (only late events left) still needs the
                # watermark the late read stops at; metering refuses
                # end <= start, so it is asked for one second whose count is
                # then discarded.
                start=timestamp(start),
                end=timestamp(window_end if window_end > start else start + _SECOND),
                after_watermark=0,
                until_watermark=0,
            ),
        )
        if window_end <= start:
            current = usage_pb2.BillableUsage(
                quantity="0", event_count=0, watermark=current.watermark
            )
        late_quantity = Decimal(0)
        late_count = 0
        if item.usage_billed_to > item.usage_start_at:
            late = await self._metering.billable_usage(
                organization_id,
                usage_pb2.GetBillableUsageRequest(
                    meter_id=str(item.meter_id),
                    customer_id=str(order.customer_id),
                    start=timestamp(item.usage_start_at),
                    end=timestamp(item.usage_billed_to),
                    after_watermark=item.usage_watermark,
                    until_watermark=current.watermark,
                ),
            )
            late_quantity = Decimal(late.quantity or "0")
            late_count = late.event_count
        return Reading(
            item.id,
            item.usage_billed_to,
            item.usage_watermark,
            window_end,
            Decimal(current.quantity or "0") + late_quantity,
            late_quantity,
            current.event_count + late_count,
            current.watermark,
        )


def _billable(item: SubscriptionItem, order: Order) -> bool:
    if item.meter_id is None or item.final_billed or order.usage_to is None:
        return False
    return item.usage_billed_to < min(order.usage_to, item.ended_at or order.usage_to) or (
        item.usage_billed_to > item.usage_start_at
    )


def _usage_lines(item: SubscriptionItem, reading: Reading) -> list[LineDraft]:
    price = price_of(item)
    charge = price_lines.usage_charge(price, reading.quantity, reading.event_count)
    amount = (
        charge.amount_minor
        if charge.cap_minor is None
        else min(charge.amount_minor, charge.cap_minor)
    )
    behavior = price_lines.tax_behavior_of(price)
    lines = [
        LineDraft(
            kind=LineKind.USAGE,
            description=f"Usage of meter {item.meter_id}",
            amount=charge.amount_minor,
            price_id=item.price_id,
            product_id=item.product_id,
            period_start=reading.billed_to_before,
            period_end=reading.window_end,
            quantity=str(reading.quantity),
            meter_id=item.meter_id,
            event_count=reading.event_count,
            late_quantity=str(reading.late_quantity) if reading.late_quantity else "",
            cap_minor=charge.cap_minor,
            tax_behavior=behavior,
        )
    ]
    if charge.minimum_spend_minor is not None:
        top_up = minimums.minimum_true_up(amount, charge.minimum_spend_minor)
        if top_up > 0:
            lines.append(
                LineDraft(
                    kind=LineKind.MINIMUM_TRUE_UP,
                    description=f"Minimum spend on meter {item.meter_id}",
                    amount=top_up,
                    price_id=item.price_id,
                    product_id=item.product_id,
                    period_start=reading.billed_to_before,
                    period_end=reading.window_end,
                    tax_behavior=behavior,
                )
            )
    return lines
