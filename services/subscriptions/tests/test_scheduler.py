"""The scheduler under faults, on the real database: killed mid-batch (its
transaction rolled back, its task cancelled, its connection gone) and
started again; two schedulers at once on the same due set; a renewal run
again on a stale row; a subscription several periods behind. Whatever
happens, one cycle order per subscription and period, one attempt each."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import update

from billingos_kit.testing.db import execute
from billingos_subscriptions import models
from billingos_subscriptions.models import Subscription
from billingos_subscriptions.periods import BillingInterval, IntervalUnit, boundary
from billingos_subscriptions.scheduler import Scheduler
from billingos_subscriptions.subscriptions import Subscriptions
from billingos_subscriptions.vocabulary import AttemptStatus, BillingReason

from .conftest import Books, outbox_types, result

BOUND = 30.0  # seconds: a scheduler that blocks fails the test instead of hanging it


class Killed(BaseException):
    """The process dying: not an error the scheduler handles."""


class Renewing(Scheduler):
    """A scheduler that renews one by one (the batch is off: its own faults
    are in test_renewal_batch), counts its renewals, and can be stopped at
    one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, batched=False, **kwargs)
        self.renewed: list[uuid.UUID] = []

    async def _period_end(self, subs: Subscriptions, sub: Subscription, now: dt.datetime) -> None:
        await super()._period_end(subs, sub, now)
        self.renewed.append(sub.id)
        await self.after_renewal(subs)

    async def after_renewal(self, subs: Subscriptions) -> None:
        return None


class DiesAtTheThird(Renewing):
    async def after_renewal(self, subs: Subscriptions) -> None:
        if len(self.renewed) == 3:
            raise Killed


class HangsAtTheSecond(Renewing):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hanging = asyncio.Event()

    async def after_renewal(self, subs: Subscriptions) -> None:
        if len(self.renewed) == 2:
            self.hanging.set()
            await asyncio.Event().wait()


class LosesItsConnectionAtTheSecond(Renewing):
    async def after_renewal(self, subs: Subscriptions) -> None:
        if len(self.renewed) == 2:
            connection = await subs.billing.scope.connection()
            connection.terminate()


class PausesAtTheFirst(Renewing):
    """Holds its claim (the batch's row locks) after its first renewal until
    released."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paused = asyncio.Event()
        self.release = asyncio.Event()

    async def after_renewal(self, subs: Subscriptions) -> None:
        if not self.paused.is_set():
            self.paused.set()
            await self.release.wait()


async def due_subscriptions(books: Books, how_many: int) -> list[Subscription]:
    """Subscriptions whose first period has ended, due a minute apart (the
    order the scheduler claims them in)."""
    first = books.clock.now() - dt.timedelta(days=40)
    return [
        await books.subscription(start=first + dt.timedelta(minutes=n)) for n in range(how_many)
    ]


async def assert_renewed_once(books: Books, subs: list[Subscription]) -> None:
    """One cycle order per subscription, for its second period, one
    requested attempt each; the subscription in that period."""
    for sub in subs:
        orders = await books.orders(sub.id)
        assert [(o.billing_reason, o.period_start) for o in orders] == [
            ("subscription_cycle", sub.current_period_end)
        ], sub.id
        [attempt] = await books.attempts(orders[0].id)
        assert (attempt.attempt_number, attempt.status, attempt.amount_minor) == (
            1,
            "requested",
            2000,
        )
        now = await books.current(sub.id)
        assert (now.period_number, now.current_period_start) == (1, sub.current_period_end)
        assert now.latest_order_id == orders[0].id
    events = Counter(await outbox_types(books.database, books.organization_id))
    assert events["subscription.renewed"] == len(subs)
    assert events["order.created"] == len(subs)


async def assert_untouched(books: Books, subs: list[Subscription]) -> None:
    assert await books.orders() == []
    for sub in subs:
        now = await books.current(sub.id)
        assert (now.period_number, now.next_action_at) == (0, sub.current_period_end)
    assert await outbox_types(books.database, books.organization_id) == []


async def test_a_scheduler_killed_mid_batch_commits_nothing_and_a_restart_renews_once(
    books: Books,
) -> None:
    subs = await due_subscriptions(books, 5)
    dying = books.scheduler(DiesAtTheThird)
    with pytest.raises(Killed):
        await dying.run_once()
    assert len(dying.renewed) == 3
    await assert_untouched(books, subs)

    restarted = books.scheduler(Renewing)
    assert await restarted.run_once() == 5
    assert sorted(restarted.renewed) == sorted(s.id for s in subs)
    await assert_renewed_once(books, subs)
    assert await restarted.run_once() == 0
    await assert_renewed_once(books, subs)


async def test_a_scheduler_task_cancelled_mid_batch_commits_nothing(books: Books) -> None:
    subs = await due_subscriptions(books, 4)
    hanging = books.scheduler(HangsAtTheSecond, database=books.own_database())
    task = asyncio.create_task(hanging.run_once())
    await asyncio.wait_for(hanging.hanging.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_untouched(books, subs)

    assert await books.scheduler(database=books.own_database()).run_once() == 4
    await assert_renewed_once(books, subs)


async def test_a_scheduler_whose_connection_dies_mid_batch_commits_nothing(
    books: Books,
) -> None:
    subs = await due_subscriptions(books, 4)
    doomed = books.scheduler(LosesItsConnectionAtTheSecond, database=books.own_database())
    with pytest.raises(asyncpg.InterfaceError, match="connection is closed"):
        await doomed.run_once()
    await assert_untouched(books, subs)

    assert await books.scheduler(database=books.own_database()).run_once() == 4
    await assert_renewed_once(books, subs)


async def test_two_schedulers_at_once_take_disjoint_rows(books: Books) -> None:
    """The first holds its claim of three; the second, meanwhile, takes the
    other three (skipping the locked ones, not waiting for them)."""
    subs = await due_subscriptions(books, 6)
    first = books.scheduler(PausesAtTheFirst, database=books.own_database(), batch_size=3)
    second = books.scheduler(Renewing, database=books.own_database())
    holding = asyncio.create_task(first.run_once())
    try:
        await asyncio.wait_for(first.paused.wait(), BOUND)
        assert await asyncio.wait_for(second.run_once(), BOUND) == 3
        assert second.renewed == [s.id for s in subs[3:]]
        await assert_renewed_once(books, subs[3:])
        for sub in subs[:3]:
            assert await books.orders(sub.id) == []
    finally:
        first.release.set()
    assert await asyncio.wait_for(holding, BOUND) == 3
    assert first.renewed == [s.id for s in subs[:3]]
    await assert_renewed_once(books, subs)
    assert list(await asyncio.gather(first.run_once(), second.run_once())) == [0, 0]
    await assert_renewed_once(books, subs)


async def test_two_schedulers_racing_in_small_batches_renew_and_retry_once(
    books: Books,
) -> None:
    """Renewals and dunning retries due together, two schedulers taking two
    of each per round until nothing is left: each subscription renewed once,
    each declined order asked for its next attempt once."""
    declined: list[uuid.UUID] = []
    for _ in range(6):
        sub = await books.subscription()
        order = await books.open_order(sub, BillingReason.SUBSCRIPTION_CYCLE)
        assert await books.apply(result(order.id, AttemptStatus.FAILED, payment_id=uuid.uuid4()))
        declined.append(order.id)
    books.clock.advance(dt.timedelta(days=3, seconds=1))  # the first retry is due
    renewing = await due_subscriptions(books, 6)

    schedulers = [
        books.scheduler(Renewing, database=books.own_database(), batch_size=2) for _ in range(2)
    ]
    for _ in range(20):
        done = await asyncio.wait_for(asyncio.gather(*(s.run_once() for s in schedulers)), BOUND)
        if list(done) == [0, 0]:
            break
    else:
        raise AssertionError("the schedulers never ran out of work")

    await assert_renewed_once_of(books, renewing)
    for order_id in declined:
        attempts = await books.attempts(order_id)
        assert [(a.attempt_number, a.status) for a in attempts] == [
            (1, "failed"),
            (2, "requested"),
        ]
    renewed = [sub_id for s in schedulers for sub_id in s.renewed]
    assert sorted(renewed) == sorted(s.id for s in renewing)


async def assert_renewed_once_of(books: Books, subs: list[Subscription]) -> None:
    for sub in subs:
        orders = await books.orders(sub.id)
        assert [o.period_start for o in orders] == [sub.current_period_end], sub.id
        assert len(await books.attempts(orders[0].id)) == 1


async def test_a_renewal_run_again_on_a_stale_row_opens_no_second_order(books: Books) -> None:
    """Were a claim ever lost (the row put back to its old period, as a lost
    update would leave it), the billing key still allows one order."""
    [sub] = await due_subscriptions(books, 1)
    scheduler = books.scheduler()
    assert await scheduler.run_once() == 1
    [order] = await books.orders(sub.id)
    renewed_events = (await outbox_types(books.database, books.organization_id)).count(
        "subscription.renewed"
    )

    table = models.subscriptions
    await execute(
        books.database,
        update(table)
        .where(table.c.id == sub.id)
        .values(
            period_number=0,
            current_period_start=sub.current_period_start,
            current_period_end=sub.current_period_end,
            next_action_at=sub.current_period_end,
        ),
    )
    await scheduler.run_once()
    assert [o.id for o in await books.orders(sub.id)] == [order.id]
    assert len(await books.attempts(order.id)) == 1
    events = await outbox_types(books.database, books.organization_id)
    assert events.count("subscription.renewed") == renewed_events


async def test_a_subscription_three_periods_behind_gets_one_order_per_period(
    books: Books,
) -> None:
    start = books.clock.now()
    sub = await books.subscription(start=start)

    def edge(n: int) -> dt.datetime:
        return boundary(start, BillingInterval(IntervalUnit.MONTH, 1), n, ZoneInfo("UTC"))

    books.clock.set(edge(3) + dt.timedelta(seconds=1))
    assert await books.scheduler().run_once() == 1
    orders = await books.orders(sub.id)
    assert [(o.period_start, o.period_end) for o in orders] == [
        (edge(1), edge(2)),
        (edge(2), edge(3)),
        (edge(3), edge(4)),
    ]
    assert len({o.billing_key for o in orders}) == 3
    for order in orders:
        assert len(await books.attempts(order.id)) == 1
    now = await books.current(sub.id)
    assert (now.period_number, now.next_action_at) == (3, edge(4))
    assert await books.scheduler().run_once() == 0
    assert len(await books.orders(sub.id)) == 3
