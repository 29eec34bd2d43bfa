"""What voiding an unpaid order gives back, and which orders are voided when
their charge fails after the subscription ended, on the real database: the
customer's balance gets back the credit a voided order applied; the first
order of a subscription that never started is voided (and its purchase
abandoned), never dunned; a renewal's order, whose usage was delivered, is
dunned on its own."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from billingos_kit.testing.db import execute, rows
from billingos_subscriptions import models
from billingos_subscriptions.vocabulary import AttemptStatus, BillingReason, CancellationReason

from .conftest import Books, outbox_types, result

CREATE = BillingReason.SUBSCRIPTION_CREATE
CYCLE = BillingReason.SUBSCRIPTION_CYCLE


async def give_credit(books: Books, customer_id: uuid.UUID, credit_minor: int) -> None:
    now = books.clock.now()
    await execute(
        books.database,
        insert(models.customer_balances).values(
            organization_id=books.organization_id,
            customer_id=customer_id,
            currency=books.price.currency,
            credit_minor=credit_minor,
            updated_at=now,
        ),
    )


async def credit_of(books: Books, customer_id: uuid.UUID) -> int:
    table = models.customer_balances
    found = await rows(
        books.database,
        select(table.c.credit_minor).where(
            table.c.organization_id == books.organization_id, table.c.customer_id == customer_id
        ),
    )
    return int(found[0][0])


async def end(books: Books, subscription_id: uuid.UUID) -> None:
    async with books.billing() as billing:
        row = await billing.subscriptions.require(subscription_id, for_update=True)
        await billing.end(row, books.clock.now(), CancellationReason.REQUESTED)


async def test_a_voided_first_order_gives_its_applied_credit_back_and_abandons_its_purchase(
    books: Books,
) -> None:
    customer_id = uuid.uuid4()
    await give_credit(books, customer_id, 500)
    sub = await books.subscription(status="incomplete", customer_id=customer_id)
    await execute(
        books.database,
        models.subscriptions.update()
        .where(models.subscriptions.c.id == sub.id)
        .values(purchase_reference=f"subscription:{sub.id}"),
    )
    order = await books.open_order(sub)
    assert (order.credit_applied_minor, order.amount_due_minor) == (500, 1500)
    assert await credit_of(books, customer_id) == 0
    assert await books.apply(result(order.id, AttemptStatus.FAILED, payment_id=uuid.uuid4()))
    await end(books, sub.id)

    [voided] = await books.orders(sub.id)
    assert voided.status == "void"
    assert await credit_of(books, customer_id) == 500
    assert "purchase.abandoned" in await outbox_types(books.database, books.organization_id)
    # Voided once: ending again gives nothing more back.
    async with books.billing() as billing:
        row = await billing.subscriptions.require(sub.id, for_update=True)
        for open_order in await billing.orders.open_of_subscription(sub.id):
            await billing.void_open(row, open_order, books.clock.now())
    assert await credit_of(books, customer_id) == 500


async def test_a_first_charge_failing_after_its_subscription_ended_is_voided_never_dunned(
    books: Books,
) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)  # its attempt in flight
    await end(books, sub.id)
    [pending] = await books.orders(sub.id)
    assert pending.status == "pending"  # the charge in flight decides
    assert await books.apply(result(order.id, AttemptStatus.FAILED, payment_id=uuid.uuid4()))
    [voided] = await books.orders(sub.id)
    assert (voided.status, voided.next_charge_at) == ("void", None)


async def test_a_renewal_failing_after_its_subscription_ended_is_dunned_on_its_own(
    books: Books,
) -> None:
    sub = await books.subscription(status="active")
    order = await books.open_order(sub, CYCLE)
    await end(books, sub.id)
    assert await books.apply(result(order.id, AttemptStatus.FAILED, payment_id=uuid.uuid4()))
    [dunned] = await books.orders(sub.id)
    assert dunned.status == "pending"
    assert dunned.next_charge_at is not None
    assert "purchase.abandoned" not in await outbox_types(books.database, books.organization_id)
