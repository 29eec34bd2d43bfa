"""Billing's two guards, on the real database: one order per billing key
(the same key again, sequentially or racing from another transaction, opens
nothing), and a payment's result applied once (twice, late, out of order, or
before its attempt is visible)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from billingos_kit.testing.waiting import eventually
from billingos_subscriptions import models
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.vocabulary import AttemptStatus, BillingReason

from .conftest import Books, count, outbox_types, result

CREATE = BillingReason.SUBSCRIPTION_CREATE
CYCLE = BillingReason.SUBSCRIPTION_CYCLE


async def test_the_same_billing_key_opens_one_order(books: Books) -> None:
    sub = await books.subscription(status="incomplete")
    async with books.billing() as billing:
        row = await billing.subscriptions.require(sub.id, for_update=True)
        key = books.billing_key(row, CREATE)
        now = books.clock.now()
        period = (row.current_period_start, row.current_period_end)
        first = await billing.open_order(row, CREATE, key, now, books.lines(row), period=period)
        assert first is not None
        again = await billing.open_order(row, CREATE, key, now, books.lines(row), period=period)
        assert again is None
    async with books.billing() as billing:
        row = await billing.subscriptions.require(sub.id, for_update=True)
        later = await billing.open_order(
            row, CREATE, key, books.clock.now(), books.lines(row), period=period
        )
        assert later is None

    [order] = await books.orders(sub.id)
    assert (order.id, order.billing_key, order.total_minor) == (first.id, key, 2000)
    assert await count(books.database, models.order_lines, order_id=first.id) == 1
    assert len(await books.attempts(first.id)) == 1
    assert (await books.current(sub.id)).latest_order_id == first.id
    assert await outbox_types(books.database, books.organization_id) == ["order.created"]


async def test_two_transactions_racing_for_one_billing_key_open_one_order(books: Books) -> None:
    """The second waits on the first's uncommitted order, then opens nothing."""
    sub = await books.subscription(status="incomplete")
    key = books.billing_key(sub, CREATE)
    period = (sub.current_period_start, sub.current_period_end)
    other = books.own_database()
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def second() -> object:
        async with other.transaction() as connection:
            pid.set_result(connection.get_server_pid())
            billing = Billing(books.work(connection), books.clock)
            row = await billing.subscriptions.require(sub.id)
            return await billing.open_order(
                row, CREATE, key, books.clock.now(), books.lines(row), period=period
            )

    async with books.database.transaction() as connection:
        billing = Billing(books.work(connection), books.clock)
        row = await billing.subscriptions.require(sub.id)
        first = await billing.open_order(
            row, CREATE, key, books.clock.now(), books.lines(row), period=period
        )
        assert first is not None
        racing = asyncio.create_task(second())
        backend = await pid

        async def waiting() -> bool | None:
            async with books.database.connection() as probe:
                kind = await probe.fetchval(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", backend
                )
            return True if kind == "Lock" else None

        await eventually(waiting)
        assert not racing.done()
    assert await asyncio.wait_for(racing, 30) is None
    [order] = await books.orders(sub.id)
    assert order.id == first.id
    assert len(await books.attempts(first.id)) == 1
    assert await count(books.database, models.order_lines, order_id=first.id) == 1


async def test_a_success_delivered_twice_pays_the_order_once(books: Books) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    paid = result(order.id, payment_id=uuid.uuid4())
    assert await books.apply(paid) is True
    assert await books.apply(paid) is False

    [row] = await books.orders(sub.id)
    assert (row.status, row.amount_paid_minor) == ("paid", 2000)
    [attempt] = await books.attempts(order.id)
    assert (attempt.status, attempt.payment_id, attempt.send_at) == (
        "succeeded",
        paid.payment_id,
        None,
    )
    assert (await books.current(sub.id)).status == "active"
    assert await outbox_types(books.database, books.organization_id) == [
        "order.created",
        "order.paid",
        "subscription.activated",
    ]


async def test_a_decline_delivered_twice_counts_one_failure(books: Books) -> None:
    """A renewal's decline, told twice: one failed attempt, one retry at the
    dunning schedule's first step, one past-due announcement."""
    sub = await books.subscription()
    order = await books.open_order(sub, CYCLE)
    declined = result(order.id, AttemptStatus.FAILED, payment_id=uuid.uuid4())
    assert await books.apply(declined) is True
    assert await books.apply(declined) is False

    [row] = await books.orders(sub.id)
    now = books.clock.now()
    assert (row.status, row.attempt_count, row.first_failed_at) == ("pending", 1, now)
    assert row.next_charge_at == now + dt.timedelta(days=3)
    current = await books.current(sub.id)
    assert (current.status, current.next_retry_at) == ("past_due", row.next_charge_at)
    events = await outbox_types(books.database, books.organization_id)
    assert events.count("subscription.past_due") == 1
    assert events.count("order.updated") == 1


async def test_an_answer_older_than_the_one_applied_changes_nothing(books: Books) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    payment_id = uuid.uuid4()
    assert await books.apply(result(order.id, AttemptStatus.PROCESSING, payment_id=payment_id))
    assert await books.apply(result(order.id, payment_id=payment_id))
    for late in (AttemptStatus.PROCESSING, AttemptStatus.REQUIRES_ACTION, AttemptStatus.FAILED):
        assert await books.apply(result(order.id, late, payment_id=payment_id)) is False
    [attempt] = await books.attempts(order.id)
    assert attempt.status == "succeeded"
    [row] = await books.orders(sub.id)
    assert (row.status, row.attempt_count) == ("paid", 0)


async def test_an_answer_for_an_attempt_not_visible_yet_is_retried_until_it_is(
    books: Books,
) -> None:
    """Payments can answer before the transaction that recorded the attempt
    commits: the answer is refused (LookupError, so its event is
    redelivered), then applied once the attempt is there."""
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    with pytest.raises(LookupError):
        await books.apply(result(uuid.uuid4()))
    with pytest.raises(LookupError):
        await books.apply(result(order.id, attempt=2))

    # The second attempt, recorded in a transaction not committed yet.
    async with books.database.transaction() as connection:
        billing = Billing(books.work(connection), books.clock)
        row = await billing.orders.require(order.id, for_update=True)
        current = await billing.subscriptions.require(sub.id, for_update=True)
        second = await billing.request_attempt(row, current.payment_method_id, books.clock.now())
        assert second.attempt_number == 2
        with pytest.raises(LookupError):
            await books.apply(result(order.id, attempt=2))
    assert await books.apply(result(order.id, attempt=2, payment_id=uuid.uuid4())) is True
    [row] = await books.orders(sub.id)
    assert row.status == "paid"
    assert [a.status for a in await books.attempts(order.id)] == ["requested", "succeeded"]
