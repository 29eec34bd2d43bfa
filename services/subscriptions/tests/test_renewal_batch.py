"""The batched renewals (renewal_batch) against the one-by-one path: the same
books renewed both ways give the same orders, lines, attempts, balances,
subscriptions and events, figure for figure; the rows that are not plain
go one by one; a batch that fails renews nothing itself and its rows are
renewed one by one."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import re
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from google.protobuf import json_format
from sqlalchemy import select, update

from billingos.catalog.v1 import discounts_pb2
from billingos.common.v1 import event_pb2, money_pb2
from billingos_kit.ids import new_id
from billingos_kit.repository import OnConnection
from billingos_kit.testing.db import execute, rows
from billingos_subscriptions import models
from billingos_subscriptions.billing import new_order, period_billing_key
from billingos_subscriptions.models import (
    CustomerCopy,
    PendingLine,
    Subscription,
    TaxRateCopy,
    kit_tables,
)
from billingos_subscriptions.renewal_batch import RenewalBatch
from billingos_subscriptions.repository import (
    BalanceRepository,
    CustomerCopies,
    OrderRepository,
    PendingLineRepository,
    RenewalRows,
    SubscriptionRepository,
    TaxRateCopies,
    WorkClaims,
)
from billingos_subscriptions.repository import TestClockRepository as ClockRepository
from billingos_subscriptions.scheduler import Scheduler
from billingos_subscriptions.subscriptions import Subscriptions
from billingos_subscriptions.vocabulary import BillingReason

from .conftest import Books, books_clock, opened_books

MONTH = dt.timedelta(days=31)
BOUND = 30.0  # seconds: a scheduler that blocks fails the test instead of hanging it
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class OneByOneSeen(Scheduler):
    """Records which subscriptions went the one-by-one path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_by_one: list[uuid.UUID] = []

    async def _subscription(
        self, subs: Subscriptions, subscription_id: uuid.UUID, now: dt.datetime
    ) -> None:
        self.one_by_one.append(subscription_id)
        await super()._subscription(subs, subscription_id, now)


@dataclasses.dataclass
class Seeded:
    """The books' seeds by label: subscriptions and customers."""

    subscriptions: dict[str, uuid.UUID]
    customers: dict[str, uuid.UUID]

    def labels(self) -> dict[uuid.UUID, str]:
        found = {value: f"sub:{key}" for key, value in self.subscriptions.items()}
        found.update({value: f"customer:{key}" for key, value in self.customers.items()})
        return found


async def seed(books: Books, tax_percentage: str = "19") -> Seeded:
    """Every kind of renewal the batch takes, and two it leaves alone, all
    due once by a month from the books' time (the `behind` ones three and
    two times); and a plain renewal sharing its customer's credit with a
    past-due one due first, which must find the credit used already."""
    now = books.clock.now()
    customers = {
        name: uuid.uuid4()
        for name in ("plain", "taxed", "credit", "debt", "tiny", "apart", "shared", "gone")
    }
    subs: dict[str, uuid.UUID] = {}

    async def subscribe(
        label: str, customer: str, start: dt.datetime = now, **changes: Any
    ) -> Subscription:
        row = await books.subscription(
            start=start, customer_id=customers[customer], status=changes.pop("status", "active")
        )
        if changes:
            for name, value in changes.items():
                setattr(row, name, value)
            async with books.database.transaction() as connection:
                scope = OnConnection(connection, books.organization_id)
                await SubscriptionRepository(scope).update(row, list(changes))
        subs[label] = row.id
        return row

    percent = discounts_pb2.Discount(
        percent_off=discounts_pb2.Discount.PercentOff(basis_points=2500)
    )
    euros = discounts_pb2.Discount(
        amount_off=discounts_pb2.Discount.AmountOff(
            amounts=[money_pb2.Money(currency="EUR", amount_minor=500)]
        )
    )
    await subscribe("plain", "plain")
    await subscribe("behind", "plain", start=now - 2 * MONTH)
    await subscribe("taxed", "taxed")
    await subscribe("gone", "gone")
    await subscribe(
        "percent_once",
        "plain",
        start=now - MONTH,
        discount_snapshot=percent.SerializeToString(),
        discount_remaining_orders=1,
    )
    await subscribe("euros_off", "plain", discount_snapshot=euros.SerializeToString())
    pending = await subscribe("pending", "plain")
    await subscribe("credit_first", "credit")
    await subscribe("credit_second", "credit", start=now + dt.timedelta(minutes=1))
    await subscribe("debt", "debt")
    await subscribe("tiny", "tiny")
    await subscribe("past_due", "apart", status="past_due")
    await subscribe("canceling", "apart", cancel_at_period_end=True)
    await subscribe("shared_past_due", "shared", status="past_due")
    await subscribe("shared_plain", "shared", start=now + dt.timedelta(minutes=1))
    async with books.database.transaction() as connection:
        scope = OnConnection(connection, books.organization_id)
        await CustomerCopies(scope).remember(
            CustomerCopy(customers["taxed"], books.organization_id, None, None, now, "DE", "")
        )
        # A deleted customer's copy is not read: its address taxes nothing.
        await CustomerCopies(scope).remember(
            CustomerCopy(customers["gone"], books.organization_id, None, now, now, "DE", "")
        )
        await TaxRateCopies(scope).remember(
            TaxRateCopy(
                uuid.uuid4(), books.organization_id, "DE", "", tax_percentage, False, None, now
            )
        )
        balances = BalanceRepository(scope)
        for customer, credit in (
            ("credit", 3000),
            ("debt", -500),
            ("tiny", 1990),
            ("shared", 1500),
        ):
            row = await balances.locked(customers[customer], "USD", now)
            await balances.set_credit(dataclasses.replace(row, credit_minor=credit))
        for amount, text in ((700, "Seats added"), (-300, "Unused time")):
            line = PendingLine(
                id=new_id(books.clock),
                organization_id=books.organization_id,
                subscription_id=pending.id,
                kind="proration",
                description=text,
                price_id=pending.price_id,
                product_id=pending.product_id,
                period_start=now - dt.timedelta(days=10),
                period_end=pending.current_period_end,
                prorated_seconds=10 * 86400,
                period_seconds=31 * 86400,
                quantity="1",
                amount_minor=amount,
                tax_behavior="exclusive",
                order_id=None,
                created_at=now,
            )
            await PendingLineRepository(scope).insert(line)
    return Seeded(subs, customers)


async def park(books: Books) -> dict[uuid.UUID, dt.datetime | None]:
    table = models.subscriptions
    due = {
        r["id"]: r["next_action_at"]
        for r in await rows(
            books.database,
            select(table.c.id, table.c.next_action_at).where(
                table.c.organization_id == books.organization_id
            ),
        )
    }
    await execute(
        books.database,
        update(table)
        .where(table.c.organization_id == books.organization_id)
        .values(next_action_at=None),
    )
    return due


async def unpark(books: Books, due: dict[uuid.UUID, dt.datetime | None]) -> None:
    table = models.subscriptions
    for subscription_id, at in due.items():
        await execute(
            books.database,
            update(table).where(table.c.id == subscription_id).values(next_action_at=at),
        )


async def renew_all(books: Books, scheduler: Scheduler) -> None:
    for _ in range(20):
        if await scheduler.run_once() == 0:
            return
    raise AssertionError("the scheduler kept finding work")


async def books_state(books: Books, seeded: Seeded) -> dict[str, Any]:
    """Every row and event the renewals wrote, with ids replaced by what
    they name (a seed's label, an order's billing key), so two books seeded
    alike compare equal exactly when they were renewed alike."""
    org = books.organization_id
    labels = seeded.labels()
    labels[org] = "organization"
    labels[uuid.UUID(books.product.id)] = "product"
    labels[uuid.UUID(books.price.id)] = "price"

    def table(name: str, *order: str) -> Any:
        found = getattr(models, name)
        statement = select(found).where(found.c.organization_id == org)
        return statement.order_by(*[found.c[column] for column in order])

    orders = [dict(r) for r in await rows(books.database, table("orders", "billing_key"))]
    for order in orders:
        key = UUID.sub(lambda m: labels.get(uuid.UUID(m.group(0)), "?"), order["billing_key"])
        labels[order["id"]] = f"order:{key}"
    lines = [dict(r) for r in await rows(books.database, table("order_lines", "id"))]
    for line in lines:
        labels[line["id"]] = f"line:{labels[line['order_id']]}:{line['position']}"
    attempts = [dict(r) for r in await rows(books.database, table("payment_attempts", "id"))]
    for attempt in attempts:
        labels[attempt["id"]] = f"attempt:{labels[attempt['order_id']]}:{attempt['attempt_number']}"
    pending = [dict(r) for r in await rows(books.database, table("pending_lines", "id"))]
    for line in pending:
        labels[line["id"]] = f"pending:{line['description']}"

    def named(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return labels.get(value, "unknown id")
        if isinstance(value, str):
            return UUID.sub(lambda m: labels.get(uuid.UUID(m.group(0)), "unknown id"), value)
        if isinstance(value, dict):
            return {key: named(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [named(inner) for inner in value]
        return value

    def keyed(found: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            labels[row["id"]]: named({k: v for k, v in row.items() if k != "id"}) for row in found
        }

    subscriptions = [dict(r) for r in await rows(books.database, table("subscriptions", "id"))]
    balances = [
        dict(r) for r in await rows(books.database, table("customer_balances", "customer_id"))
    ]
    outbox = kit_tables.outbox
    events: dict[str, list[Any]] = defaultdict(list)
    for record in await rows(
        books.database,
        select(outbox.c.event_type, outbox.c.envelope)
        .where(outbox.c.organization_id == org)
        .order_by(outbox.c.id),
    ):
        envelope = event_pb2.EventEnvelope()
        envelope.ParseFromString(record["envelope"])
        data = named(json_format.MessageToDict(envelope)["data"])
        about = data.get("subscription", {}).get("id") or data.get("order", {}).get(
            "subscriptionId"
        )
        events[about].append((record["event_type"], envelope.occur_time.ToDatetime(), data))
    return {
        "subscriptions": keyed(subscriptions),
        "orders": keyed(orders),
        "lines": keyed(lines),
        "attempts": keyed(attempts),
        "pending": keyed(pending),
        "balances": {named(b["customer_id"]): named(b) for b in balances},
        "events": dict(events),
    }


async def test_the_batch_renews_exactly_as_one_by_one(subscriptions_service: Any) -> None:
    """Two organizations' books (taxed differently) renewed together one by
    one, and two more seeded alike renewed together in batches: each
    organization's rows and events come out the same both ways, and no
    batch mixes one organization's figures into another's."""
    clock = books_clock()
    async with (
        opened_books(subscriptions_service, clock) as one_by_one,
        opened_books(subscriptions_service, clock) as other_one_by_one,
        opened_books(subscriptions_service, clock) as batched,
        opened_books(subscriptions_service, clock) as other_batched,
    ):
        seeds = [await seed(one_by_one), await seed(batched)]
        others = [await seed(other_one_by_one, "7"), await seed(other_batched, "7")]
        clock.advance(MONTH + dt.timedelta(days=1))
        plain = one_by_one.scheduler(OneByOneSeen, batched=False)
        bulk = batched.scheduler(OneByOneSeen)
        # A scheduler claims across organizations: each pair is renewed
        # while the other pair's subscriptions are parked (due at no time).
        parked = {**await park(batched), **await park(other_batched)}
        await renew_all(one_by_one, plain)
        await unpark(batched, parked)
        parked = {**await park(one_by_one), **await park(other_one_by_one)}
        await renew_all(batched, bulk)
        await unpark(one_by_one, parked)

        other_expected = await books_state(other_one_by_one, others[0])
        other_found = await books_state(other_batched, others[1])
        for part in other_expected:
            assert other_found[part] == other_expected[part], part
        other_orders = other_expected["orders"]
        taxed_other = other_orders[next(k for k in other_orders if "sub:taxed" in k)]
        assert (taxed_other["tax_minor"], taxed_other["total_minor"]) == (140, 2140)
        expected = await books_state(one_by_one, seeds[0])
        found = await books_state(batched, seeds[1])
        for part in expected:
            assert found[part] == expected[part], part
        # Not a comparison of two empty books: every kind of renewal happened.
        orders = expected["orders"]
        assert len(orders) == 17
        taxed = orders[next(k for k in orders if "sub:taxed" in k)]
        assert (taxed["tax_minor"], taxed["total_minor"]) == (380, 2380)
        gone = orders[next(k for k in orders if "sub:gone" in k)]
        assert (gone["tax_minor"], gone["total_minor"]) == (0, 2000)
        first, second = (
            orders[next(k for k in orders if f"sub:{label}" in k)]
            for label in ("credit_first", "credit_second")
        )
        assert sorted([first["amount_due_minor"], second["amount_due_minor"]]) == [0, 1000]
        tiny = orders[next(k for k in orders if "sub:tiny" in k)]
        assert (tiny["amount_due_minor"], tiny["status"]) == (0, "paid")
        assert expected["balances"]["customer:tiny"]["credit_minor"] == -10
        pending = orders[next(k for k in orders if "sub:pending" in k)]
        assert pending["subtotal_minor"] == 2400
        percent = sorted(
            (o["period_start"], o["discount_minor"])
            for k, o in orders.items()
            if "percent_once" in k
        )
        assert [d for _, d in percent] == [500, 0]
        # The past-due renewal, due first, took the shared credit.
        shared = {
            label: orders[next(k for k in orders if f"sub:{label}:" in k)]["amount_due_minor"]
            for label in ("shared_past_due", "shared_plain")
        }
        assert shared == {"shared_past_due": 500, "shared_plain": 2000}
        # The batch took every plain renewal but the one sharing a balance;
        # the past-due and canceling subscriptions went one by one in both.
        apart = {
            seeds[1].subscriptions[label]
            for label in ("past_due", "canceling", "shared_past_due", "shared_plain")
        }
        apart |= {
            others[1].subscriptions[label]
            for label in ("past_due", "canceling", "shared_past_due", "shared_plain")
        }
        assert set(bulk.one_by_one) == apart
        assert len(plain.one_by_one) == 30


@pytest.mark.parametrize("shared_customer", [False, True])
async def test_a_batch_that_finds_an_order_made_already_tries_again_without_it(
    books: Books, shared_customer: bool
) -> None:
    start = books.clock.now()
    customer = uuid.uuid4()
    subs = [
        await books.subscription(
            start=start + dt.timedelta(minutes=n),
            customer_id=customer if shared_customer else uuid.uuid4(),
        )
        for n in range(3)
    ]
    taken = subs[1]
    async with books.billing() as billing:
        made = new_order(
            taken,
            BillingReason.SUBSCRIPTION_CYCLE,
            period_billing_key(
                taken.id, taken.current_period_end, BillingReason.SUBSCRIPTION_CYCLE
            ),
            books.clock,
            books.clock.now(),
        )
        assert await OrderRepository(billing.scope).insert_once(made)
    books.clock.advance(MONTH + dt.timedelta(days=1))
    scheduler = books.scheduler(OneByOneSeen)
    await scheduler.run_once()

    # The first try rolled back whole; the second left out the renewal whose
    # order exists (and, sharing its customer's balance, the others too),
    # which one by one was refused and put off, its order the only one.
    apart = {sub.id for sub in subs} if shared_customer else {taken.id}
    assert set(scheduler.one_by_one) == apart
    for sub in (subs[0], subs[2]):
        [order] = await books.orders(sub.id)
        assert order.period_start == sub.current_period_end
        assert (await books.current(sub.id)).period_number == 1
        assert len(await books.attempts(order.id)) == 1
    assert [o.id for o in await books.orders(taken.id)] == [made.id]
    now = await books.current(taken.id)
    assert now.period_number == 0
    assert now.next_action_at is not None
    assert now.next_action_at > books.clock.now()


async def test_a_batch_killed_midway_writes_nothing(books: Books) -> None:
    subs = [await books.subscription() for _ in range(3)]
    books.clock.advance(MONTH + dt.timedelta(days=1))

    class Killed(BaseException):
        pass

    original = RenewalRows.insert_lines

    async def dies_after_the_orders(self: RenewalRows, *args: Any) -> None:
        raise Killed

    RenewalRows.insert_lines = dies_after_the_orders  # type: ignore[method-assign]
    try:
        try:
            await books.scheduler().run_once()
        except Killed:
            pass
        else:
            raise AssertionError("the batch was not killed")
    finally:
        RenewalRows.insert_lines = original  # type: ignore[method-assign]
    assert await books.orders() == []
    for sub in subs:
        assert (await books.current(sub.id)).period_number == 0
    # Restarted, it renews each once.
    await books.scheduler().run_once()
    for sub in subs:
        [order] = await books.orders(sub.id)
        assert (await books.current(sub.id)).latest_order_id == order.id


async def test_a_batch_cancelled_midway_writes_nothing(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = [await books.subscription() for _ in range(3)]
    books.clock.advance(MONTH + dt.timedelta(days=1))
    hanging = asyncio.Event()

    async def hangs(self: RenewalRows, *args: Any) -> None:
        hanging.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(RenewalRows, "insert_attempts", hangs)
    task = asyncio.create_task(books.scheduler(database=books.own_database()).run_once())
    await asyncio.wait_for(hanging.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    assert await books.orders() == []
    assert await books.scheduler().run_once() == 3
    for sub in subs:
        assert len(await books.orders(sub.id)) == 1


async def test_a_batch_whose_connection_dies_writes_nothing(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = [await books.subscription() for _ in range(3)]
    books.clock.advance(MONTH + dt.timedelta(days=1))

    async def dies(self: RenewalRows, *args: Any) -> None:
        (await self.connection()).terminate()

    monkeypatch.setattr(RenewalRows, "insert_attempts", dies)
    with pytest.raises(asyncpg.InterfaceError, match="connection is closed"):
        await books.scheduler(database=books.own_database()).run_once()
    monkeypatch.undo()
    assert await books.orders() == []
    assert await books.scheduler(database=books.own_database()).run_once() == 3
    for sub in subs:
        assert len(await books.orders(sub.id)) == 1


async def test_two_batching_schedulers_take_disjoint_rows(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first holds its batch (its row locks) midway; the second takes
    the other rows meanwhile, skipping the locked ones, not waiting."""
    start = books.clock.now()
    subs = [await books.subscription(start=start + dt.timedelta(minutes=n)) for n in range(6)]
    books.clock.advance(MONTH + dt.timedelta(days=1))
    paused, release = asyncio.Event(), asyncio.Event()
    original = RenewalRows.insert_attempts

    async def first_pauses(self: RenewalRows, rows_: list[Any]) -> None:
        await original(self, rows_)
        if not paused.is_set():
            paused.set()
            await release.wait()

    monkeypatch.setattr(RenewalRows, "insert_attempts", first_pauses)
    first = books.scheduler(database=books.own_database(), batch_size=3)
    second = books.scheduler(database=books.own_database(), batch_size=10)
    holding = asyncio.create_task(first.run_once())
    try:
        await asyncio.wait_for(paused.wait(), BOUND)
        assert await asyncio.wait_for(second.run_once(), BOUND) == 3
        for sub in subs[:3]:
            assert await books.orders(sub.id) == []
        for sub in subs[3:]:
            assert len(await books.orders(sub.id)) == 1
    finally:
        release.set()
    assert await asyncio.wait_for(holding, BOUND) == 3
    assert list(await asyncio.gather(first.run_once(), second.run_once())) == [0, 0]
    for sub in subs:
        [order] = await books.orders(sub.id)
        assert order.period_start == sub.current_period_end
        assert len(await books.attempts(order.id)) == 1


async def test_batching_schedulers_racing_renew_each_once(books: Books) -> None:
    """Four schedulers in batches of three over thirty due subscriptions,
    some sharing a customer (and so a balance row): one order and one
    attempt each, whoever took it."""
    customers = [uuid.uuid4() for _ in range(5)]
    start = books.clock.now()
    subs = [
        await books.subscription(
            start=start + dt.timedelta(seconds=n), customer_id=customers[n % len(customers)]
        )
        for n in range(30)
    ]
    books.clock.advance(MONTH + dt.timedelta(days=1))
    schedulers = [books.scheduler(database=books.own_database(), batch_size=3) for _ in range(4)]
    for _ in range(30):
        done = await asyncio.wait_for(asyncio.gather(*(s.run_once() for s in schedulers)), BOUND)
        if not any(done):
            break
    else:
        raise AssertionError("the schedulers never ran out of work")
    for sub in subs:
        [order] = await books.orders(sub.id)
        assert len(await books.attempts(order.id)) == 1
        assert (await books.current(sub.id)).latest_order_id == order.id


async def test_a_scheduler_works_its_batches_at_once(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round's writes wait for another round's: rounds worked one after
    the other would never finish."""
    start = books.clock.now()
    subs = [await books.subscription(start=start + dt.timedelta(minutes=n)) for n in range(7)]
    books.clock.advance(MONTH + dt.timedelta(days=1))
    original = RenewalRows.insert_attempts
    arrived = 0
    all_arrived = asyncio.Event()

    async def waits_for_the_others(self: RenewalRows, rows_: list[Any]) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            all_arrived.set()
        await all_arrived.wait()
        await original(self, rows_)

    monkeypatch.setattr(RenewalRows, "insert_attempts", waits_for_the_others)
    scheduler = books.scheduler(database=books.own_database(), batch_size=3, rounds_at_once=3)
    assert await asyncio.wait_for(scheduler.run_once(), BOUND) == 7
    monkeypatch.undo()
    for sub in subs:
        [order] = await books.orders(sub.id)
        assert len(await books.attempts(order.id)) == 1
    assert await scheduler.run_once() == 0


async def test_a_round_failing_beside_another_rolls_both_back(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = books.clock.now()
    subs = [await books.subscription(start=start + dt.timedelta(minutes=n)) for n in range(4)]
    books.clock.advance(MONTH + dt.timedelta(days=1))
    claim, write = WorkClaims.due_subscriptions, RenewalRows.insert_attempts
    claims = 0
    written, failed = asyncio.Event(), asyncio.Event()
    # The session's own service schedules in this process too: only this
    # test's rounds (which see the variable set) take part.
    ours: contextvars.ContextVar[bool] = contextvars.ContextVar("ours", default=False)

    async def second_claim_fails(self: WorkClaims, *args: Any) -> Any:
        nonlocal claims
        if not ours.get():
            return await claim(self, *args)
        claims += 1
        if claims == 2:
            await written.wait()
            failed.set()
            raise RuntimeError("the second round's claim failed")
        return await claim(self, *args)

    async def holds_until_the_other_fails(self: RenewalRows, rows_: list[Any]) -> None:
        if not ours.get():
            return await write(self, rows_)
        await write(self, rows_)
        written.set()
        await failed.wait()
        await asyncio.sleep(BOUND)  # cancelled by the other's failure

    monkeypatch.setattr(WorkClaims, "due_subscriptions", second_claim_fails)
    monkeypatch.setattr(RenewalRows, "insert_attempts", holds_until_the_other_fails)
    scheduler = books.scheduler(database=books.own_database(), batch_size=2, rounds_at_once=2)
    ours.set(True)
    with pytest.raises(RuntimeError, match="second round's claim failed"):
        await asyncio.wait_for(scheduler.run_once(), BOUND)
    ours.set(False)
    monkeypatch.undo()
    assert await books.orders() == []
    assert await scheduler.run_once() == 4
    for sub in subs:
        assert len(await books.orders(sub.id)) == 1


async def test_a_test_clock_row_that_keeps_failing_rests_instead_of_spinning(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its clock's time cannot be put off, so the scheduler leaves it alone
    a while (one failure, not one per round); real-clock work goes on."""
    now = books.clock.now()
    clock = models.TestClock(
        id=new_id(books.clock),
        organization_id=books.organization_id,
        name="far",
        frozen_time=now + 2 * MONTH,
        status="advancing",
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    async with books.database.transaction() as connection:
        await ClockRepository(OnConnection(connection, books.organization_id)).insert(clock)
    broken = await books.subscription(start=now, test_clock_id=clock.id)
    fine = await books.subscription(start=now)
    books.clock.advance(MONTH + dt.timedelta(days=1))
    tried: list[uuid.UUID] = []
    original = Scheduler._subscription

    async def fails_for_broken(
        self: Scheduler, subs: Subscriptions, subscription_id: uuid.UUID, at: dt.datetime
    ) -> None:
        if subscription_id == broken.id:
            # The session's own service runs a scheduler too (test clocks'
            # rows are due to any): count this test's.
            if self is scheduler:
                tried.append(subscription_id)
            raise RuntimeError("this renewal cannot be made")
        await original(self, subs, subscription_id, at)

    monkeypatch.setattr(Scheduler, "_subscription", fails_for_broken)
    monkeypatch.setattr(RenewalBatch, "_renewal", _fails_for(broken.id, RenewalBatch._renewal))
    scheduler = books.scheduler()
    for _ in range(4):
        await scheduler.run_once()
    assert tried == [broken.id]
    assert len(await books.orders(fine.id)) == 1
    assert (await books.current(broken.id)).period_number == 0
    assert await books.orders(broken.id) == []


def _fails_for(subscription_id: uuid.UUID, renewal: Any) -> Any:
    def fails(self: RenewalBatch, sub: Subscription, *args: Any) -> Any:
        if sub.id == subscription_id:
            raise RuntimeError("this renewal cannot be made")
        return renewal(self, sub, *args)

    return fails
