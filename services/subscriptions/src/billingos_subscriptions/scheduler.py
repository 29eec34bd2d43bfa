"""The scheduler (a worker): claims what is due — subscriptions whose period,
trial or incomplete start has ended, orders whose dunning retry has come —
with FOR UPDATE SKIP LOCKED, so two schedulers never take the same row, and
does each in a savepoint of one transaction per batch. The order's unique
billing key makes a second renewal order impossible even if a claim were
lost (a crash between claim and commit rolls both back)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Connection, Database
from billingos_kit.errors import DomainError
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import events, price_lines
from billingos_subscriptions.billing import (
    TRIAL_NOTICE_BEFORE,
    FixedClock,
    period_billing_key,
    price_of,
    schedule_next_action,
)
from billingos_subscriptions.clients import CatalogClient, PaymentsClient
from billingos_subscriptions.models import Subscription
from billingos_subscriptions.renewal_batch import (
    BatchConflict,
    RenewalBatch,
    balance_key,
    may_batch,
)
from billingos_subscriptions.repository import (
    BalanceKey,
    Claimed,
    DueSubscription,
    OrderRepository,
    RenewalRows,
    SubscriptionRepository,
    TestClockRepository,
    WorkClaims,
)
from billingos_subscriptions.subscriptions import (
    Subscriptions,
    next_period,
    period_lines,
)
from billingos_subscriptions.vocabulary import (
    IN_FLIGHT_ATTEMPTS,
    RENEWING,
    AttemptStatus,
    BillingReason,
    CancellationReason,
    OrderStatus,
    SubscriptionStatus,
)
from billingos_subscriptions.waiting_charges import give_up_waiting

log = logging.getLogger(__name__)

ClaimedT = TypeVar("ClaimedT", bound=Claimed)

SOURCE = "subscriptions"
RETRY_BROKEN_AFTER = dt.timedelta(minutes=5)
INCOMPLETE_RECHECK = dt.timedelta(hours=1)
# Test clocks' frozen times whose clock objects are kept (least recently used
# dropped first).
FROZEN_CLOCKS_KEPT = 256
# Test-clock rows a scheduler leaves resting after a failure, at most.
RESTING_KEPT = 10_000
# Tries of a batch whose renewals find their orders made already (each try
# leaves those out).
BATCH_TRIES = 3


class Scheduler:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        catalog: CatalogClient,
        directory: CustomerDirectory,
        *,
        batch_size: int,
        poll_seconds: float,
        on_work: Callable[[], None] = lambda: None,
        batched: bool = True,
        rounds_at_once: int = 1,
        payments: PaymentsClient | None = None,
    ) -> None:
        """`batched`: plain renewals renewed together (the service's way);
        False renews every row one by one (for comparing the two).
        `rounds_at_once`: batches of renewals claimed and worked at once, on
        their own connections (SKIP LOCKED keeps them apart), so one is
        computed while another's statements run. `payments`: to give up a
        first charge still waiting for the customer's authentication when
        its subscription expires unpaid (None: the subscription waits for
        that charge's answer, as for any other in flight)."""
        self._payments = payments
        self._database = database
        self._tables = tables
        self._clock = clock
        self._catalog = catalog
        self._directory = directory
        self._batch = batch_size
        self._poll = poll_seconds
        self._on_work = on_work
        self._batched = batched
        self._rounds_at_once = rounds_at_once
        self._frozen_clocks: dict[dt.datetime, FixedClock] = {}
        # Test-clock rows whose work failed, left alone until then (real time).
        self._resting: dict[uuid.UUID, dt.datetime] = {}
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            busy = False
            try:
                busy = await self.run_once() > 0
            except Exception:
                log.exception("the scheduler's round failed; trying again later")
            if busy:
                self._on_work()
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self.wake), timeout=self._poll)

    async def run_once(self) -> int:
        """Due subscriptions (in `rounds_at_once` batches at once) and one
        batch of due retries; how many rows were handled."""
        if self._rounds_at_once == 1:
            done = await self._renewals()
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    rounds = [
                        group.create_task(self._renewals()) for _ in range(self._rounds_at_once)
                    ]
            except ExceptionGroup as failed:
                # The others were cancelled, their transactions rolled back.
                raise failed.exceptions[0] from failed
            done = sum(task.result() for task in rounds)
        return done + await self._retries()

    async def _renewals(self) -> int:
        """One batch of due subscriptions, claimed and renewed in one
        transaction."""
        async with self._database.transaction() as connection:
            claims = WorkClaims(OnConnection(connection))
            due = self._awake(await claims.due_subscriptions(self._clock.now(), self._batch))
            await RenewalRows(OnConnection(connection)).hold_balances(
                {balance_key(claimed.row) for claimed in due}
            )
            frozen = {
                d.test_clock_id: d.frozen_time
                for d in due
                if d.test_clock_id is not None and d.frozen_time is not None
            }
            one_by_one: Sequence[Claimed] = (
                await self._in_bulk(connection, due) if self._batched else due
            )
            done = len(due) - len(one_by_one)
            for claimed in one_by_one:
                done += await self._in_savepoint(connection, claimed, frozen, self._subscription)
        return done

    async def _retries(self) -> int:
        done = 0
        async with self._database.transaction() as connection:
            claims = WorkClaims(OnConnection(connection))
            retries = self._awake(await claims.due_retries(self._clock.now(), self._batch))
            frozen_retries = await self._frozen_times(connection, retries)
            for claimed in retries:
                done += await self._in_savepoint(connection, claimed, frozen_retries, self._retry)
        return done

    async def _in_bulk(
        self, connection: Connection, due: list[DueSubscription]
    ) -> list[DueSubscription]:
        """Renews the batch's plain renewals together (renewal_batch), in a
        savepoint; returns what is left to go one by one, in claim order: the
        rows that are not plain (and those sharing a credit balance with
        one), or all of them if the batch failed."""
        plain: list[tuple[DueSubscription, Clock]] = []
        held: set[BalanceKey] = set()
        for claimed in due:
            clock = (
                self._clock
                if claimed.test_clock_id is None or claimed.frozen_time is None
                else self._frozen_clock(claimed.frozen_time)
            )
            if may_batch(claimed, clock.now()):
                plain.append((claimed, clock))
            else:
                held.add(balance_key(claimed.row))
        if not plain:
            return due
        for _ in range(BATCH_TRIES):
            try:
                async with connection.transaction():
                    batch = RenewalBatch(connection, self._tables, self._clock, SOURCE)
                    left = {claimed.id for claimed in await batch.renew(plain, held)}
                break
            except BatchConflict as conflict:
                # Each made already goes one by one (refused there alone),
                # with every row sharing its balance; the rest try again.
                log.warning(
                    "renewals of a batch found their orders made already",
                    extra={"subscription_ids": sorted(map(str, conflict.subscription_ids))},
                )
                held |= {
                    balance_key(claimed.row)
                    for claimed, _ in plain
                    if claimed.id in conflict.subscription_ids
                }
                plain = [(row, on) for row, on in plain if balance_key(row.row) not in held]
                if not plain:
                    return due
            except Exception:
                # Correct but slow: a row that keeps failing sends its whole
                # batch one by one each round, where it alone fails (a real-
                # clock row is then put off; a test clock's is not).
                log.exception(
                    "a batch of renewals failed; its rows are renewed one by one",
                    extra={"subscription_ids": [str(claimed.id) for claimed, _ in plain[:20]]},
                )
                return due
        else:
            return due
        renewed = {claimed.id for claimed, _ in plain} - left
        return [claimed for claimed in due if claimed.id not in renewed]

    async def _frozen_times(
        self, connection: Connection, claims: Sequence[Claimed]
    ) -> dict[uuid.UUID, dt.datetime]:
        found: dict[uuid.UUID, dt.datetime] = {}
        for claimed in claims:
            if claimed.test_clock_id is not None and claimed.test_clock_id not in found:
                clock = await TestClockRepository(
                    OnConnection(connection, claimed.organization_id)
                ).get(claimed.test_clock_id)
                if clock is not None:
                    found[claimed.test_clock_id] = clock.frozen_time
        return found

    async def _in_savepoint(
        self,
        connection: Connection,
        claimed: Claimed,
        frozen: dict[uuid.UUID, dt.datetime],
        handle: Callable[[Subscriptions, uuid.UUID, dt.datetime], Awaitable[None]],
    ) -> int:
        clock: Clock = self._clock
        if claimed.test_clock_id is not None:
            clock = self._frozen_clock(frozen.get(claimed.test_clock_id, self._clock.now()))
        work = OrganizationWork(connection, claimed.organization_id, clock, self._tables, SOURCE)
        subscriptions = Subscriptions(work, self._clock, self._catalog, self._directory)
        try:
            async with connection.transaction():
                await handle(subscriptions, claimed.id, clock.now())
        except Exception:
            log.exception(
                "scheduled work failed; it is tried again later",
                extra={"id": str(claimed.id), "organization_id": str(claimed.organization_id)},
            )
            await self._postpone(connection, claimed, handle)
        return 1

    def _awake(self, claimed: list[ClaimedT]) -> list[ClaimedT]:
        """The claimed rows not resting after a failure (see _postpone)."""
        if not self._resting:
            return claimed
        now = self._clock.now()
        for row_id, until in list(self._resting.items()):
            if until <= now:
                del self._resting[row_id]
        return [row for row in claimed if row.id not in self._resting]

    def _frozen_clock(self, moment: dt.datetime) -> FixedClock:
        """One clock object per frozen time, kept across batches: ids made on
        it (orders, events) stay in creation order even within one frozen
        millisecond, as they would on one test clock's own sequence. (Within
        this process: two schedulers renewing on the same frozen time each
        keep their own.) The least recently used is dropped first."""
        clock = self._frozen_clocks.pop(moment, None)
        if clock is None:
            if len(self._frozen_clocks) >= FROZEN_CLOCKS_KEPT:
                self._frozen_clocks.pop(next(iter(self._frozen_clocks)))
            clock = FixedClock(moment)
        self._frozen_clocks[moment] = clock
        return clock

    async def _postpone(self, connection: Connection, claimed: Claimed, handle: object) -> None:
        """A row whose work keeps failing must not hold its batch: it is put
        off a few minutes (logged above), then tried again. A real-clock row
        is put off in its table; a test clock's row is due by its clock's
        time, which a real delay cannot move, so this scheduler leaves it
        resting for as long instead (its clock stays advancing meanwhile:
        the merchant sees it has not settled)."""
        later = self._clock.now() + RETRY_BROKEN_AFTER
        if claimed.test_clock_id is not None:
            if len(self._resting) < RESTING_KEPT:
                self._resting[claimed.id] = later
            return
        scope = OnConnection(connection, claimed.organization_id)
        with contextlib.suppress(Exception):
            async with connection.transaction():
                if handle == self._retry:
                    orders = OrderRepository(scope)
                    order = await orders.get(claimed.id)
                    if order is not None and order.next_charge_at is not None:
                        order.next_charge_at = max(order.next_charge_at, later)
                        await orders.update(order, ["next_charge_at"])
                else:
                    repo = SubscriptionRepository(scope)
                    sub = await repo.get(claimed.id)
                    if sub is not None and sub.next_action_at is not None:
                        sub.next_action_at = max(sub.next_action_at, later)
                        await repo.update(sub, ["next_action_at"])

    # ---- one subscription -----------------------------------------------------

    async def _subscription(
        self, subs: Subscriptions, subscription_id: uuid.UUID, now: dt.datetime
    ) -> None:
        billing = subs.billing
        sub = await billing.subscriptions.get(subscription_id, for_update=True)
        if sub is None or sub.next_action_at is None or sub.next_action_at > now:
            return
        if sub.ended_at is not None:
            await self._after_end(subs, sub)
            return
        status = SubscriptionStatus(sub.status)
        if status is SubscriptionStatus.TRIALING and sub.trial_end is not None:
            if not sub.trial_will_end_sent and now >= sub.trial_end - TRIAL_NOTICE_BEFORE:
                sub.trial_will_end_sent = True
                await billing.subscriptions.update(sub, ["trial_will_end_sent"])
                await billing.announce(sub, events.trial_will_end)
            if now >= sub.trial_end and sub.cancel_at_period_end:
                # Canceled during the trial: it ends with it, nothing charged.
                await billing.end(sub, sub.trial_end, CancellationReason.REQUESTED)
            elif now >= sub.trial_end:
                await self._end_trial(subs, sub, now)
            else:
                schedule_next_action(sub)
                await billing.subscriptions.update(sub, ["next_action_at"])
            return
        if status is SubscriptionStatus.INCOMPLETE:
            await self._expire_incomplete(subs, sub, now)
            return
        if status in RENEWING:
            while (
                sub.next_action_at is not None
                and sub.current_period_end <= now
                and sub.ended_at is None
            ):
                await self._period_end(subs, sub, now)
            return
        sub.next_action_at = None
        await billing.subscriptions.update(sub, ["next_action_at"])

    async def _after_end(self, subs: Subscriptions, sub: Subscription) -> None:
        """An ended subscription left a charge waiting for the customer's
        authentication (Billing.end made it due): given up at payments, so
        no one confirms it for what was never delivered, and its answer
        applied (failed: the order voided; paid meanwhile: recorded). Then
        nothing is due on it any more."""
        billing = subs.billing
        if self._payments is not None:
            for order in await billing.orders.open_of_subscription(sub.id):
                await give_up_waiting(billing, self._payments, order)
            sub = await billing.subscriptions.require(sub.id, for_update=True)
        sub.next_action_at = None
        await billing.subscriptions.update(sub, ["next_action_at"])

    async def _expire_incomplete(
        self, subs: Subscriptions, sub: Subscription, now: dt.datetime
    ) -> None:
        """A day unpaid: a first charge waiting for the customer's
        authentication is given up first (at payments, so no one confirms it
        later) and its answer applied; then, unless the subscription started
        meanwhile or a charge is still in flight (payments decides: looked
        at again later), it ends, its unpaid first order voided."""
        billing = subs.billing
        if not await self._charge_in_flight(subs, sub) and self._payments is not None:
            gave_up = False
            for order in await billing.orders.open_of_subscription(sub.id):
                gave_up = await give_up_waiting(billing, self._payments, order) or gave_up
            if gave_up:
                # Applying the answers worked on the subscription's own row.
                sub = await billing.subscriptions.require(sub.id, for_update=True)
                if SubscriptionStatus(sub.status) is not SubscriptionStatus.INCOMPLETE:
                    return
        opened = await billing.orders.open_of_subscription(sub.id)
        if any([await billing.in_flight(order) for order in opened]):
            # Payments has not answered the first charge yet: it decides.
            sub.next_action_at = now + INCOMPLETE_RECHECK
            await billing.subscriptions.update(sub, ["next_action_at"])
            return
        await billing.end(sub, now, CancellationReason.INCOMPLETE_EXPIRED)

    async def _charge_in_flight(self, subs: Subscriptions, sub: Subscription) -> bool:
        """Whether payments is still working on the first charge. One waiting
        for the customer's confirmation (3-D Secure) does not hold the
        expiry: as at Stripe, an incomplete start ends after a day."""
        opened = await subs.billing.orders.open_of_subscription(sub.id)
        attempts = await subs.billing.attempts.of_orders([o.id for o in opened])
        return any(
            AttemptStatus(a.status) in IN_FLIGHT_ATTEMPTS
            and AttemptStatus(a.status) is not AttemptStatus.REQUIRES_ACTION
            for a in attempts
        )

    async def _end_trial(self, subs: Subscriptions, sub: Subscription, now: dt.datetime) -> None:
        """The trial ends: a change scheduled for its end is made, the first
        billing period begins at its end (the anchor), and its order is
        charged."""
        billing = subs.billing
        assert sub.trial_end is not None
        await self._take_scheduled(subs, sub, sub.trial_end)
        start, end = next_period(sub)
        sub.status = SubscriptionStatus.ACTIVE.value
        sub.billing_anchor_at = start
        sub.period_number = 0
        sub.current_period_start = start
        sub.current_period_end = end
        schedule_next_action(sub)
        sub.updated_at = now
        await billing.subscriptions.update(
            sub,
            [
                "status",
                "billing_anchor_at",
                "period_number",
                "current_period_start",
                "current_period_end",
                "next_action_at",
                "updated_at",
            ],
        )
        await billing.announce(sub, events.updated)
        await subs.open_first_order(sub, now)

    async def _period_end(self, subs: Subscriptions, sub: Subscription, now: dt.datetime) -> None:
        billing = subs.billing
        closing = (sub.current_period_start, sub.current_period_end)
        items = await billing.items.of_subscriptions([sub.id])
        metered = [i for i in items if price_lines.is_metered(price_of(i)) and not i.final_billed]
        if sub.cancel_at_period_end:
            await billing.open_final_order(sub, closing, now, metered=bool(metered))
            await billing.end(sub, closing[1], CancellationReason.REQUESTED)
            return
        if await self._take_scheduled(subs, sub, closing[1]):
            items = await billing.items.of_subscriptions([sub.id])
            metered = [
                i for i in items if price_lines.is_metered(price_of(i)) and not i.final_billed
            ]
        start, end = next_period(sub)
        product = await subs.catalog.product(sub.product_id)
        lines = period_lines(
            [price_of(item) for item in items if item.ended_at is None],
            product,
            sub.seats,
            start,
            end,
        )
        sub.period_number += 1
        sub.current_period_start = start
        sub.current_period_end = end
        schedule_next_action(sub)
        sub.updated_at = now
        await billing.subscriptions.update(
            sub,
            [
                "period_number",
                "current_period_start",
                "current_period_end",
                "next_action_at",
                "updated_at",
            ],
        )
        order = await billing.open_order(
            sub,
            BillingReason.SUBSCRIPTION_CYCLE,
            period_billing_key(sub.id, start, BillingReason.SUBSCRIPTION_CYCLE),
            now,
            lines,
            period=(start, end),
            usage=closing if metered else None,
            take_pending=True,
        )
        if order is None:
            raise RuntimeError(f"subscription {sub.id}: its cycle order for {start} exists already")
        await billing.announce(sub, lambda state: events.renewed(state, str(order.id)))

    async def _take_scheduled(
        self, subs: Subscriptions, sub: Subscription, at: dt.datetime
    ) -> bool:
        """Applies the change scheduled for the period's end (a renewal's, or
        a trial's: the first order bills the new price), if there is one;
        whether there was."""
        if sub.scheduled_price_id is None and sub.scheduled_seats is None:
            return False
        try:
            await self._apply_scheduled(subs, sub, at)
        except DomainError as refused:
            # The change can no longer be bought (its price archived, its
            # seats out of bounds): dropped, announced, the renewal goes on.
            log.warning(
                "a scheduled change was dropped",
                extra={"id": str(sub.id), "reason": refused.reason},
            )
            sub.scheduled_price_id = sub.scheduled_seats = None
            await subs.billing.subscriptions.update(sub, ["scheduled_price_id", "scheduled_seats"])
            await subs.billing.announce(sub, events.updated)
        return True

    async def _apply_scheduled(
        self, subs: Subscriptions, sub: Subscription, at: dt.datetime
    ) -> None:
        price_id = sub.scheduled_price_id or sub.price_id
        price = await subs.catalog.price(price_id)
        if price is None:
            log.warning(
                "a scheduled change names a price the catalog no longer has",
                extra={"id": str(sub.id)},
            )
            sub.scheduled_price_id = sub.scheduled_seats = None
            await subs.billing.subscriptions.update(sub, ["scheduled_price_id", "scheduled_seats"])
            return
        bought = await subs.bought(
            uuid.UUID(price.product_id),
            price_id,
            sub.currency,
            sub.scheduled_seats or 0,
            field="scheduled_change",
        )
        items = [
            i for i in await subs.billing.items.of_subscriptions([sub.id]) if i.ended_at is None
        ]
        previous = (str(sub.price_id), sub.seats, str(sub.product_id))
        await subs._switch(sub, bought, items, at)
        await subs.billing.announce(
            sub,
            lambda state: events.updated(
                state,
                previous_price_id=previous[0] if previous[0] != str(sub.price_id) else "",
                previous_seats=previous[1] if previous[1] != sub.seats else 0,
                previous_product_id=previous[2] if previous[2] != str(sub.product_id) else "",
            ),
        )

    # ---- one retry ------------------------------------------------------------

    async def _retry(self, subs: Subscriptions, order_id: uuid.UUID, now: dt.datetime) -> None:
        billing = subs.billing
        order = await billing.orders.get(order_id, for_update=True)
        if order is None or order.next_charge_at is None or order.next_charge_at > now:
            return
        if OrderStatus(order.status) is not OrderStatus.PENDING or order.subscription_id is None:
            order.next_charge_at = None
            await billing.orders.update(order, ["next_charge_at"])
            return
        sub = await billing.subscriptions.require(order.subscription_id, for_update=True)
        await billing.retry_now(order, sub, now)


async def _first(*events_: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events_]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
