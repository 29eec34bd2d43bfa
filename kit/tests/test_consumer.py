"""Idempotent consumers (DESIGN §4) on real Postgres and JetStream: a handler's
effect happens once however often its event is delivered, a failing handler is
redelivered until it succeeds, events nobody handles are acknowledged and
ignored, and the processed id commits with the effect or not at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from google.protobuf import any_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import BigInteger, Column, Identity, Table, Text, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession

from billingos.common.v1 import event_pb2
from billingos_kit import consumer as consumer_module
from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database, service_metadata
from billingos_kit.ids import new_id
from billingos_kit.outbox import stream_for, subject_for
from billingos_kit.relay import ensure_stream
from billingos_kit.tables import KitTables, define_kit_tables

START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ORGANIZATION = uuid.UUID("01900000-0000-7000-8000-0000000000aa")
HANDLED = "widget.created"
UNHANDLED = "widget.polished"
# Where the consumer's handlers emit their own events.
OWN_SOURCE = "kitconsumer"
# Short redelivery delays for the tests; max_deliver (len + 5) still exceeds them.
QUICK_BACKOFF = (0.1, 0.2, 0.4)
SETTLE_SECONDS = 10.0


class HandlerFailed(Exception):
    """A handler's deliberate failure."""


@dataclass
class Recorder:
    """A handler that writes one effect row per run, failing its first `fail_times` runs."""

    effects: Table
    fail_times: int = 0
    runs: list[str] = field(default_factory=list)

    async def __call__(self, scope: EventScope, data: Message) -> None:
        assert isinstance(data, wrappers_pb2.StringValue)
        self.runs.append(data.value)
        await scope.session.execute(
            self.effects.insert().values(
                event_id=uuid.UUID(scope.envelope.event_id), label=data.value
            )
        )
        if len(self.runs) <= self.fail_times:
            raise HandlerFailed(f"run {len(self.runs)} fails")


@dataclass(frozen=True)
class Published:
    envelope: event_pb2.EventEnvelope
    seq: int  # stream sequence


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def effects(kit_database: Database, kit_tables: KitTables) -> Table:
    """A table in the scratch schema where handlers leave their effects."""
    table = Table(
        "effects",
        kit_tables.outbox.metadata,
        Column("row", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False),
        Column("label", Text, nullable=False),
    )
    async with kit_database.engine.begin() as connection:
        await connection.run_sync(table.create)
    return table


@pytest.fixture
async def stream(jetstream: JetStreamContext, source: str) -> str:
    await ensure_stream(jetstream, source)
    return stream_for(source)


@pytest.fixture
def quick_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "REDELIVERY_BACKOFF", QUICK_BACKOFF)


def envelope_for(clock: FrozenClock, source: str, event_type: str, label: str) -> bytes:
    """An event as a producing context's relay would publish it."""
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(clock.now())
    data = any_pb2.Any()
    data.Pack(wrappers_pb2.StringValue(value=label))
    return event_pb2.EventEnvelope(
        event_id=str(new_id(clock)),
        type=event_type,
        organization_id=str(ORGANIZATION),
        occur_time=occurred,
        source=source,
        data=data,
    ).SerializeToString(deterministic=True)


async def publish(
    js: JetStreamContext, source: str, payload: bytes, *, subject_type: str | None = None
) -> Published:
    """Publishes under a fresh `Nats-Msg-Id`, so even identical payloads are kept."""
    envelope = event_pb2.EventEnvelope.FromString(payload)
    subject = subject_for(source, subject_type or envelope.type)
    ack = await js.publish(subject, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    assert not ack.duplicate
    return Published(envelope, ack.seq)


def new_consumer(
    name: str,
    source: str,
    database: Database,
    tables: KitTables,
    clock: FrozenClock,
    handler: Callable[[EventScope, Message], Awaitable[None]],
) -> EventConsumer:
    consumer = EventConsumer(
        name=name,
        source=source,
        database=database,
        tables=tables,
        clock=clock,
        own_source=OWN_SOURCE,
        fetch_timeout=0.2,
    )
    consumer.on(HANDLED, wrappers_pb2.StringValue, handler)
    return consumer


@asynccontextmanager
async def running(consumer: EventConsumer, js: JetStreamContext) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(js, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=SETTLE_SECONDS)


async def settled(
    js: JetStreamContext, stream: str, durable: str, through_seq: int
) -> ConsumerInfo:
    """Waits until the durable consumer has acknowledged everything up to `through_seq`."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            info = None
        if (
            info is not None
            and info.ack_floor is not None
            and (info.ack_floor.stream_seq or 0) >= through_seq
            and not info.num_ack_pending
            and not info.num_pending
        ):
            return info
        assert time.monotonic() < deadline, f"consumer did not settle: {info}"
        await asyncio.sleep(0.05)


async def effect_labels(database: Database, effects: Table) -> list[str]:
    async with database.transaction() as session:
        rows = await session.execute(select(effects.c.label).order_by(effects.c.row))
        return [row.label for row in rows]


async def processed_ids(database: Database, tables: KitTables, consumer: str) -> list[uuid.UUID]:
    table = tables.processed_events
    async with database.transaction() as session:
        rows = await session.execute(select(table.c.event_id).where(table.c.consumer == consumer))
        return [row.event_id for row in rows]


async def test_an_event_delivered_twice_has_its_effect_once(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    payload = envelope_for(clock, source, HANDLED, "once")
    first = await publish(jetstream, source, payload)
    again = await publish(jetstream, source, payload)
    assert again.seq == first.seq + 1  # the stream holds both copies

    recorder = Recorder(effects)
    consumer = new_consumer("twice", source, kit_database, kit_tables, clock, recorder)
    async with running(consumer, jetstream):
        info = await settled(jetstream, stream, "twice", again.seq)

    assert info.delivered.stream_seq == again.seq
    assert recorder.runs == ["once"]
    assert await effect_labels(kit_database, effects) == ["once"]
    assert await processed_ids(kit_database, kit_tables, "twice") == [
        uuid.UUID(first.envelope.event_id)
    ]


async def test_a_failing_handler_is_redelivered_and_its_effect_happens_once(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
    quick_redelivery: None,
) -> None:
    published = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "retry"))

    recorder = Recorder(effects, fail_times=1)
    consumer = new_consumer("retrying", source, kit_database, kit_tables, clock, recorder)
    assert consumer.config().max_deliver == -1  # never gives up on an event
    async with running(consumer, jetstream):
        info = await settled(jetstream, stream, "retrying", published.seq)

    assert recorder.runs == ["retry", "retry"]
    assert info.num_redelivered == 0  # nothing left waiting for another try
    assert await effect_labels(kit_database, effects) == ["retry"]
    assert await processed_ids(kit_database, kit_tables, "retrying") == [
        uuid.UUID(published.envelope.event_id)
    ]


async def test_a_consumer_is_not_sent_events_it_has_no_handler_for(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    await publish(jetstream, source, envelope_for(clock, source, HANDLED, "before"))
    await publish(jetstream, source, envelope_for(clock, source, UNHANDLED, "ignored"))
    last = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "after"))

    recorder = Recorder(effects)
    consumer = new_consumer("selective", source, kit_database, kit_tables, clock, recorder)
    async with running(consumer, jetstream):
        await settled(jetstream, stream, "selective", last.seq)

    assert recorder.runs == ["before", "after"]
    assert await effect_labels(kit_database, effects) == ["before", "after"]


async def test_an_event_of_an_unregistered_type_that_arrives_anyway_is_acked_and_ignored(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    # Published on a handled subject, but the envelope names another type.
    published = await publish(
        jetstream,
        source,
        envelope_for(clock, source, UNHANDLED, "stray"),
        subject_type=HANDLED,
    )
    recorder = Recorder(effects)
    consumer = new_consumer("strays", source, kit_database, kit_tables, clock, recorder)
    async with running(consumer, jetstream):
        info = await settled(jetstream, stream, "strays", published.seq)

    assert info.num_redelivered == 0
    assert recorder.runs == []
    assert await effect_labels(kit_database, effects) == []
    assert await processed_ids(kit_database, kit_tables, "strays") == []


async def test_a_malformed_message_is_dropped_without_blocking_the_next(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    garbage = await jetstream.publish(
        subject_for(source, HANDLED), b"\xff\xffnot an envelope", headers={"Nats-Msg-Id": "junk"}
    )
    good = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "good"))
    assert good.seq == garbage.seq + 1

    recorder = Recorder(effects)
    consumer = new_consumer("robust", source, kit_database, kit_tables, clock, recorder)
    async with running(consumer, jetstream):
        info = await settled(jetstream, stream, "robust", good.seq)

    assert info.num_redelivered == 0
    assert recorder.runs == ["good"]


class ManualDelivery:
    """A pull subscription of the test's own, so it can hand single deliveries
    to `EventConsumer.handle` and look between them."""

    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self.subscription = subscription

    async def next(self) -> Msg:
        (message,) = await self.subscription.fetch(1, timeout=SETTLE_SECONDS)
        return message

    async def wait_until_acked(self, seq: int) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            info = await self.subscription.consumer_info()
            if (info.ack_floor.stream_seq or 0) >= seq and not info.num_ack_pending:
                return
            assert time.monotonic() < deadline, f"not acknowledged: {info}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def manual(jetstream: JetStreamContext, source: str, stream: str) -> ManualDelivery:
    subscription = await jetstream.pull_subscribe(
        f"billingos.{source}.>",
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
            inactive_threshold=60,
        ),
    )
    return ManualDelivery(subscription)


async def test_handle_acks_an_unregistered_type_without_running_anything(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    effects: Table,
    manual: ManualDelivery,
) -> None:
    published = await publish(jetstream, source, envelope_for(clock, source, UNHANDLED, "x"))
    recorder = Recorder(effects)
    consumer = new_consumer("direct", source, kit_database, kit_tables, clock, recorder)

    await consumer.handle(await manual.next())

    await manual.wait_until_acked(published.seq)
    assert recorder.runs == []
    assert await processed_ids(kit_database, kit_tables, "direct") == []


async def test_the_processed_id_commits_with_the_effect_or_not_at_all(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    effects: Table,
    manual: ManualDelivery,
    quick_redelivery: None,
) -> None:
    published = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "atomic"))
    recorder = Recorder(effects, fail_times=1)
    consumer = new_consumer("atomic", source, kit_database, kit_tables, clock, recorder)

    first = await manual.next()
    await consumer.handle(first)
    # The handler wrote its effect, then failed: neither the effect nor the id remains.
    assert recorder.runs == ["atomic"]
    assert await effect_labels(kit_database, effects) == []
    assert await processed_ids(kit_database, kit_tables, "atomic") == []

    redelivered = await manual.next()  # the nak asked for this, after QUICK_BACKOFF[0]
    assert redelivered.metadata.sequence.stream == published.seq
    assert redelivered.metadata.num_delivered == 2
    await consumer.handle(redelivered)
    await manual.wait_until_acked(published.seq)

    assert await effect_labels(kit_database, effects) == ["atomic"]
    event_id = uuid.UUID(published.envelope.event_id)
    assert await processed_ids(kit_database, kit_tables, "atomic") == [event_id]
    table = kit_tables.processed_events
    async with kit_database.transaction() as session:
        processed_at = await session.scalar(
            select(table.c.processed_at).where(table.c.event_id == event_id)
        )
    assert processed_at == clock.now()


async def test_events_a_handler_emits_commit_with_its_effect(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    seen: list[uuid.UUID] = []

    async def notice(scope: EventScope, data: Message) -> None:
        seen.append(scope.organization_id)
        assert isinstance(scope.session, AsyncSession)
        await scope.outbox.add("widget.noticed", scope.organization_id, data)

    published = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "n"))
    consumer = new_consumer("emitter", source, kit_database, kit_tables, clock, notice)
    async with running(consumer, jetstream):
        await settled(jetstream, stream, "emitter", published.seq)

    assert seen == [ORGANIZATION]
    outbox = kit_tables.outbox
    async with kit_database.transaction() as session:
        rows = (await session.execute(select(outbox.c.subject, outbox.c.organization_id))).all()
    assert [(row.subject, row.organization_id) for row in rows] == [
        (subject_for(OWN_SOURCE, "widget.noticed"), ORGANIZATION)
    ]


async def ignore(_scope: EventScope, _data: Message) -> None:
    """A handler with no effect."""


def test_the_consumer_config_filters_handled_types_and_allows_every_backoff_step() -> None:
    consumer = EventConsumer(
        name="config",
        source="elsewhere",
        database=Database("postgresql://nobody@127.0.0.1:1/never_connected"),
        tables=define_kit_tables(service_metadata("never_created")),
        clock=FrozenClock(START),
        own_source=OWN_SOURCE,
    )
    consumer.on("b.two", wrappers_pb2.StringValue, ignore)
    consumer.on("a.one", wrappers_pb2.StringValue, ignore)
    config = consumer.config()
    assert config.durable_name == "config"
    assert config.ack_policy == AckPolicy.EXPLICIT
    assert config.deliver_policy == DeliverPolicy.ALL
    # Unlimited: an event whose handler keeps failing is retried, never dropped.
    assert config.max_deliver == -1
    # The ack wait is not shortened by a server-side backoff (see consumer.py).
    assert not config.backoff
    assert config.ack_wait is not None
    assert config.ack_wait >= 30
    assert config.filter_subjects == ["billingos.elsewhere.a.one", "billingos.elsewhere.b.two"]
