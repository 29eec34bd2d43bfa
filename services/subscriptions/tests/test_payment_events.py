"""Payment results as events: the consumer's handler (consumers.py) fed real
JetStream messages — the same event twice, the same payment told by two
events, an event for an attempt whose transaction has not committed yet
(nak'ed, then applied on its redelivery) — and the running service hearing
payments' events from the stream itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from google.protobuf import any_pb2
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import select

from billingos.common.v1 import event_pb2, money_pb2
from billingos.payments.v1 import events_pb2 as payment_events
from billingos.payments.v1 import payments_pb2
from billingos_kit.consumer import EventConsumer
from billingos_kit.protoconv import timestamp
from billingos_kit.streams import kind_of
from billingos_kit.testing.db import rows
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.waiting import eventually
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.consumers import payment_results
from billingos_subscriptions.models import Order, kit_tables

from .conftest import Books, outbox_types

CONSUMER = "subscriptions-payments"


def payment_of(order: Order, attempt: int = 1, **fields: object) -> payments_pb2.Payment:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "organization_id": str(order.organization_id),
        "customer_id": str(order.customer_id),
        "order_id": str(order.id),
        "attempt_number": attempt,
        "amount": money_pb2.Money(amount_minor=order.amount_due_minor, currency=order.currency),
        "status": payments_pb2.PAYMENT_STATUS_SUCCEEDED,
    }
    values.update(fields)
    return payments_pb2.Payment(**values)


def envelope_of(books: Books, payment: payments_pb2.Payment) -> event_pb2.EventEnvelope:
    """The event as payments' relay would publish it."""
    data = payment_events.PaymentSucceededEvent(payment=payment)
    packed = any_pb2.Any()
    packed.Pack(data)
    kind = kind_of(data)
    return event_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        type=kind.type,
        organization_id=str(books.organization_id),
        source=kind.context,
        occur_time=timestamp(books.clock.now()),
        data=packed,
    )


@dataclass
class Feed:
    """A stream of the test's own: what is published there reaches only the
    handler the test feeds (not the running service's consumer)."""

    js: JetStreamContext
    subject: str
    subscription: Any

    async def publish(self, envelope: event_pb2.EventEnvelope) -> None:
        await self.js.publish(self.subject, envelope.SerializeToString(deterministic=True))

    async def next(self) -> Any:
        """The next message delivered (a redelivery included)."""
        [message] = await self.subscription.fetch(1, timeout=20)
        return message


@pytest.fixture
async def feed(servers: SessionServers) -> AsyncIterator[Feed]:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    tag = uuid.uuid4().hex[:12]
    stream, subject = f"SUBTEST_{tag.upper()}", f"subtest.{tag}"
    await js.add_stream(name=stream, subjects=[subject])
    subscription = await js.pull_subscribe(
        subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    try:
        yield Feed(js, subject, subscription)
    finally:
        await subscription.unsubscribe()
        await js.delete_stream(stream)
        await client.close()


def handler(books: Books) -> EventConsumer:
    return payment_results(books.database, books.clock)


async def processed(books: Books, event_id: str) -> int:
    table = kit_tables.processed_events
    found = await rows(
        books.database,
        select(table.c.event_id)
        .where(table.c.consumer == CONSUMER)
        .where(table.c.event_id == uuid.UUID(event_id)),
    )
    return len(found)


async def test_the_same_event_handled_twice_applies_once(books: Books, feed: Feed) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    consumer = handler(books)
    envelope = envelope_of(books, payment_of(order))
    await feed.publish(envelope)
    await feed.publish(envelope)  # a redelivery: the same event id
    await consumer.handle(await feed.next())
    await consumer.handle(await feed.next())

    # The same payment told by a second event (payments' relay publishing
    # twice): a new event id, the same answer.
    again = payment_events.PaymentSucceededEvent()
    envelope.data.Unpack(again)
    told_again = envelope_of(books, again.payment)
    await feed.publish(told_again)
    await consumer.handle(await feed.next())

    assert await processed(books, envelope.event_id) == 1
    assert await processed(books, told_again.event_id) == 1
    [row] = await books.orders(sub.id)
    assert (row.status, row.amount_paid_minor) == ("paid", 2000)
    [attempt] = await books.attempts(order.id)
    assert (attempt.status, str(attempt.payment_id)) == ("succeeded", again.payment.id)
    events = await outbox_types(books.database, books.organization_id)
    assert events == ["order.created", "order.paid", "subscription.activated"]


async def test_an_event_before_its_attempt_commits_is_applied_on_redelivery(
    books: Books, feed: Feed
) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    consumer = handler(books)
    envelope = envelope_of(books, payment_of(order, attempt=2))
    await feed.publish(envelope)

    async with books.database.transaction() as connection:
        billing = Billing(books.work(connection), books.clock)
        row = await billing.orders.require(order.id, for_update=True)
        current = await billing.subscriptions.require(sub.id, for_update=True)
        await billing.request_attempt(row, current.payment_method_id, books.clock.now())
        # Payments answers before this transaction commits.
        await consumer.handle(await feed.next())
        assert await processed(books, envelope.event_id) == 0

    # Nak'ed with a backoff: JetStream delivers it again.
    redelivered = await feed.next()
    assert redelivered.metadata.num_delivered == 2
    await consumer.handle(redelivered)
    assert await processed(books, envelope.event_id) == 1
    [row] = await books.orders(sub.id)
    assert row.status == "paid"
    assert [a.status for a in await books.attempts(order.id)] == ["requested", "succeeded"]


async def test_the_running_service_applies_a_payment_told_twice_once(
    books: Books, servers: SessionServers
) -> None:
    sub = await books.subscription(status="incomplete")
    order = await books.open_order(sub)
    payment = payment_of(order)
    event = payment_events.PaymentSucceededEvent(payment=payment)
    first = await publish_event(servers.nats_url, event, books.organization_id)
    second = await publish_event(servers.nats_url, event, books.organization_id)

    async def both_handled() -> bool | None:
        done = await processed(books, first.event_id) + await processed(books, second.event_id)
        return True if done == 2 else None

    await eventually(both_handled, seconds=30)
    [row] = await books.orders(sub.id)
    assert (row.status, row.amount_paid_minor) == ("paid", 2000)
    [attempt] = await books.attempts(order.id)
    assert (attempt.status, str(attempt.payment_id)) == ("succeeded", payment.id)
    assert (await books.current(sub.id)).status == "active"
    events = await outbox_types(books.database, books.organization_id)
    assert events == ["order.created", "order.paid", "subscription.activated"]
