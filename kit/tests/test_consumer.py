"""Idempotent consumers (DESIGN §4) on real Postgres and JetStream: a handler's
effect happens once however often its event is delivered, a failing handler is
redelivered until it succeeds, events nobody handles are acknowledged and
ignored, the processed id commits with the effect or not at all, and a
consumer of the latest-state stream started late learns every entity."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import BigInteger, Column, Identity, Table, Text, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from billingos.common.v1 import event_pb2
from billingos.common.v1.options_pb2 import event as event_option
from billingos_kit import consumer as consumer_module
from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database, async_url, service_metadata
from billingos_kit.ids import new_id
from billingos_kit.relay import ensure_streams
from billingos_kit.sql import Query
from billingos_kit.streams import events_stream, state_stream
from billingos_kit.tables import KitTables, define_kit_tables
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.eventtypes import event_message

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
        label: str = getattr(data, "value")  # noqa: B009
        self.runs.append(label)
        insert = Query.of(
            self.effects.insert().values(event_id=bindparam("event_id"), label=bindparam("label"))
        )
        await insert.execute(
            await scope.connection(), event_id=uuid.UUID(scope.envelope.event_id), label=label
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
    engine = create_async_engine(async_url(kit_database.url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.create)
    finally:
        await engine.dispose()
    return table


@pytest.fixture
async def stream(jetstream: JetStreamContext, source: str) -> str:
    await ensure_streams(jetstream, source)
    return events_stream(source)


@pytest.fixture
def quick_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "REDELIVERY_BACKOFF", QUICK_BACKOFF)


def envelope_for(clock: FrozenClock, source: str, event_type: str, label: str) -> bytes:
    """An event as a producing context's relay would publish it."""
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(clock.now())
    data = any_pb2.Any()
    data.Pack(event_message(source, event_type)(value=label))
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
    subject = f"billingos.{source}.{subject_type or envelope.type}"
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
        database=database,
        tables=tables,
        clock=clock,
        own_source=OWN_SOURCE,
        fetch_timeout=0.2,
    )
    consumer.on(event_message(source, HANDLED), handler)
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
    found = await rows(database, select(effects.c.label).order_by(effects.c.row))
    return [row["label"] for row in found]


async def processed_ids(database: Database, tables: KitTables, consumer: str) -> list[uuid.UUID]:
    table = tables.processed_events
    found = await rows(database, select(table.c.event_id).where(table.c.consumer == consumer))
    return [row["event_id"] for row in found]


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
        f"billingos.{source}.{HANDLED}", b"\xff\xffnot an envelope", headers={"Nats-Msg-Id": "junk"}
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
    processed_at = await scalar(
        kit_database, select(table.c.processed_at).where(table.c.event_id == event_id)
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
        noticed = event_message(OWN_SOURCE, "widget.noticed")
        await scope.outbox.add(noticed(value=getattr(data, "value")))  # noqa: B009

    published = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "n"))
    consumer = new_consumer("emitter", source, kit_database, kit_tables, clock, notice)
    async with running(consumer, jetstream):
        await settled(jetstream, stream, "emitter", published.seq)

    assert seen == [ORGANIZATION]
    outbox = kit_tables.outbox
    emitted = await rows(kit_database, select(outbox.c.subject, outbox.c.organization_id))
    assert [(row["subject"], row["organization_id"]) for row in emitted] == [
        (f"billingos.{OWN_SOURCE}.widget.noticed", ORGANIZATION)
    ]


async def ignore(_scope: EventScope, _data: Message) -> None:
    """A handler with no effect."""


def test_the_consumer_config_filters_handled_types_and_allows_every_backoff_step() -> None:
    consumer = EventConsumer(
        name="config",
        database=Database("postgresql://nobody@127.0.0.1:1/never_connected"),
        tables=define_kit_tables(service_metadata("never_created")),
        clock=FrozenClock(START),
        own_source=OWN_SOURCE,
    )
    consumer.on(event_message("elsewhere", "b.two"), ignore)
    consumer.on(event_message("elsewhere", "a.one"), ignore)
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


def test_a_consumer_reads_one_context_and_only_whole_states_from_the_state_stream() -> None:
    consumer = EventConsumer.of_state(
        "mixed",
        Database("postgresql://nobody@127.0.0.1:1/never_connected"),
        define_kit_tables(service_metadata("never_created")),
        FrozenClock(START),
        OWN_SOURCE,
    )
    consumer.on(event_message("ctxone", "widget.created", with_state=True), ignore)
    with pytest.raises(ValueError, match="reads ctxone"):
        consumer.on(event_message("ctxtwo", "widget.created", with_state=True), ignore)
    with pytest.raises(ValueError, match="carries no whole state"):
        consumer.on(event_message("ctxone", "widget.noticed"), ignore)
    assert consumer.config().filter_subjects == ["billingos.state.ctxone.widget.>"]


async def test_a_read_copy_started_after_1000_entities_exist_learns_every_one(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    effects: Table,
) -> None:
    """The event stream keeps 14 days; the state stream keeps the latest event
    of every entity for ever. A consumer that starts late reads it whole."""
    await ensure_streams(jetstream, source)
    created = event_message(source, "widget.created", with_state=True)
    updated = event_message(source, "widget.updated", with_state=True)
    for index in range(1000):
        await publish_state(jetstream, source, created, f"w{index}", "v1", clock)
    # A second change of the first 10: only the latest state of each is kept.
    for index in range(10):
        await publish_state(jetstream, source, updated, f"w{index}", "v2", clock)

    recorder = Recorder(effects)
    consumer = EventConsumer.of_state(
        "latecomer", kit_database, kit_tables, clock, OWN_SOURCE, batch_size=256
    )
    consumer.on(created, recorder)
    consumer.on(updated, recorder)
    last = (await jetstream.stream_info(state_stream(source))).state.last_seq
    async with running(consumer, jetstream):
        await settled(jetstream, state_stream(source), "latecomer", last)

    assert len(recorder.runs) == 1000
    assert sorted(recorder.runs).count("v2") == 10


async def publish_state(
    js: JetStreamContext,
    source: str,
    kind: type[Message],
    entity_id: str,
    value: str,
    clock: FrozenClock,
) -> None:
    message = kind(value=value)
    getattr(message, "state").id = entity_id  # noqa: B009
    data = any_pb2.Any()
    data.Pack(message)
    envelope = event_pb2.EventEnvelope(
        event_id=str(new_id(clock)),
        type=kind.DESCRIPTOR.GetOptions().Extensions[event_option].type,
        organization_id=str(ORGANIZATION),
        source=source,
        data=data,
    )
    await js.publish(
        f"billingos.state.{source}.widget.{entity_id}",
        envelope.SerializeToString(deterministic=True),
        headers={"Nats-Msg-Id": envelope.event_id},
    )


async def test_a_handler_sees_when_the_stream_stored_the_event_not_only_its_clock_time(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    stream: str,
    effects: Table,
) -> None:
    """`published_at` is JetStream's timestamp on the real clock: an event of
    a frozen clock (its envelope says June 2026) was stored just now, and a
    consumer reading it a second later still sees when it was stored."""
    before = dt.datetime.now(UTC)
    published = await publish(jetstream, source, envelope_for(clock, source, HANDLED, "when"))
    after = dt.datetime.now(UTC)
    await asyncio.sleep(1.0)
    seen: list[dt.datetime | None] = []
    recorder = Recorder(effects)

    async def handler(scope: EventScope, data: Message) -> None:
        seen.append(scope.published_at)
        await recorder(scope, data)

    consumer = new_consumer("when", source, kit_database, kit_tables, clock, handler)
    async with running(consumer, jetstream):
        await settled(jetstream, stream, "when", published.seq)
    (stored,) = seen
    assert stored is not None
    slack = dt.timedelta(seconds=2)  # the NATS server's clock against ours
    assert before - slack <= stored <= after + slack
    assert published.envelope.occur_time.ToDatetime(tzinfo=UTC) < before - dt.timedelta(days=30)
