"""Consuming other contexts' events, idempotently.

A durable JetStream pull consumer with explicit ack, of one context. Handlers
are registered per event message type (`consumer.on(CustomerCreatedEvent,
handler)`); the subjects and the stream come from the types (streams.py).

Two kinds:
- `EventConsumer.of_events(...)` follows the context's event stream (the
  last 14 days, then what happens): for reacting to what happens.
- `EventConsumer.of_state(...)` reads the context's latest-state stream: the
  latest event of every entity, however old, then every new one. For read
  copies: a consumer that starts after 1,000 customers exist learns all of
  them. Only events that carry an entity's whole state can be read so.

For each message the handler runs inside one transaction that also records
the event id in the consumer's own `processed_events` table; a redelivered
event finds its id there and is acknowledged without running again. Acks are
sent only after commit, so a crash at any point means a redelivery, never a
lost or doubled effect. Those records are purged after 30 days (housekeeping)
while the state stream keeps its messages for ever, so a state handler must
also be idempotent by itself: upsert, and keep the newer state (compare the
entity's `update_time`), never append.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert

from billingos.common.v1 import event_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.outbox import Outbox
from billingos_kit.relay import ensure_streams
from billingos_kit.sql import Query
from billingos_kit.streams import EventKind, event_kind, events_stream, state_stream
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)

# Seconds between redeliveries of a message whose handler failed.
REDELIVERY_BACKOFF = (1.0, 5.0, 30.0, 120.0, 600.0)
# How long a delivered message may be in handling before JetStream resends it.
ACK_WAIT_SECONDS = 60.0

Event = TypeVar("Event", bound=Message)


@dataclass(frozen=True)
class EventScope:
    """What a handler works with: the consumer's transaction, clock and outbox,
    and the event's organization (from the envelope, never the payload)."""

    connection_now: Connection
    clock: Clock
    outbox: Outbox
    envelope: event_pb2.EventEnvelope
    # When JetStream stored the event, on the real clock (the envelope's
    # occur_time is the emitter's clock: a test clock's, maybe days away).
    # None for a message that did not come from a stream.
    published_at: dt.datetime | None = None

    @property
    def organization_id(self) -> uuid.UUID:
        return uuid.UUID(self.envelope.organization_id)

    async def connection(self) -> Connection:
        return self.connection_now


Handler = Callable[[EventScope, Any], Awaitable[None]]


@dataclass
class EventConsumer:
    """One durable consumer of one context's events or latest states."""

    name: str
    database: Database
    tables: KitTables
    clock: Clock
    own_source: str  # this service's context, for events the handlers emit
    from_state: bool = False
    batch_size: int = 64
    fetch_timeout: float = 1.0
    handlers: dict[str, tuple[type[Message], Handler]] = field(default_factory=dict)
    kinds: list[EventKind] = field(default_factory=list)

    @classmethod
    def of_events(
        cls,
        name: str,
        database: Database,
        tables: KitTables,
        clock: Clock,
        own_source: str,
        **options: Any,
    ) -> EventConsumer:
        """Follows what happens (the last 14 days, then on)."""
        return cls(name, database, tables, clock, own_source, from_state=False, **options)

    @classmethod
    def of_state(
        cls,
        name: str,
        database: Database,
        tables: KitTables,
        clock: Clock,
        own_source: str,
        **options: Any,
    ) -> EventConsumer:
        """Reads every entity's latest state, however old, then every change."""
        return cls(name, database, tables, clock, own_source, from_state=True, **options)

    def on(
        self, data_type: type[Event], handler: Callable[[EventScope, Event], Awaitable[None]]
    ) -> None:
        """Runs `handler` for every event of `data_type` (e.g. CustomerCreatedEvent)."""
        kind = event_kind(data_type.DESCRIPTOR)
        if self.kinds and kind.context != self.kinds[0].context:
            raise ValueError(
                f"{self.name} reads {self.kinds[0].context}'s events, not {kind.context}'s"
            )
        if self.from_state and not kind.state_field:
            raise ValueError(f"{kind.type} carries no whole state; consume it with of_events")
        self.kinds.append(kind)
        self.handlers[kind.type] = (data_type, handler)

    @property
    def context(self) -> str:
        if not self.kinds:
            raise ValueError(f"{self.name} has no handlers")
        return self.kinds[0].context

    @property
    def stream(self) -> str:
        return state_stream(self.context) if self.from_state else events_stream(self.context)

    def config(self) -> ConsumerConfig:
        subjects = {kind.states if self.from_state else kind.subject for kind in self.kinds}
        return ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=sorted(subjects),
            # Never give up on an event: a handler failing for an hour (its
            # database down) must not lose it. A poison event is retried every
            # 10 minutes and logged each time.
            max_deliver=-1,
            # No server-side `backoff`: JetStream would use its first step as
            # the ack wait, redelivering messages still being handled. Failed
            # handlers are nak'ed with REDELIVERY_BACKOFF delays instead.
            ack_wait=ACK_WAIT_SECONDS,
        )

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Fetches and handles messages until `stop` is set, surviving outages
        of NATS at start-up or later."""
        failures = 0
        while not stop.is_set():
            try:
                await self._consume(js, stop)
                failures = 0
            except Exception:
                failures += 1
                log.warning(
                    "consumer interrupted; retrying",
                    extra={"consumer": self.name, "attempt": failures},
                    exc_info=True,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(30.0, 0.5 * 2**failures))

    async def _consume(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        await ensure_streams(js, self.context)
        await js.add_consumer(self.stream, self.config())
        subscription = await js.pull_subscribe_bind(self.name, stream=self.stream)
        try:
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(self.batch_size, timeout=self.fetch_timeout)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except Exception:
                    log.exception("fetch failed", extra={"consumer": self.name})
                    await asyncio.sleep(1.0)
                    continue
                for message in messages:
                    await self.handle(message)
        finally:
            await subscription.unsubscribe()

    async def handle(self, message: Msg) -> None:
        """Handles one message at most once, then acknowledges it."""
        try:
            envelope = event_pb2.EventEnvelope.FromString(message.data)
            event_id = uuid.UUID(envelope.event_id)
        except (DecodeError, ValueError):
            log.error("dropping a malformed event", extra={"subject": message.subject})
            await message.term()
            return
        registered = self.handlers.get(envelope.type)
        if registered is None:
            await message.ack()
            return
        data_type, handler = registered
        try:
            await self._apply(envelope, event_id, data_type, handler, _stored_at(message))
        except Exception:
            attempt = message.metadata.num_delivered if message.metadata else 1
            delay = REDELIVERY_BACKOFF[min(attempt, len(REDELIVERY_BACKOFF)) - 1]
            log.exception(
                "event handler failed",
                extra={"consumer": self.name, "event_id": str(event_id), "attempt": attempt},
            )
            await message.nak(delay=delay)
            return
        await message.ack()

    async def _apply(
        self,
        envelope: event_pb2.EventEnvelope,
        event_id: uuid.UUID,
        data_type: type[Message],
        handler: Handler,
        published_at: dt.datetime | None = None,
    ) -> None:
        async with self.database.transaction() as connection:
            claimed = await _claim(self.tables).fetch_one(
                connection, consumer=self.name, event_id=event_id, processed_at=self.clock.now()
            )
            if claimed is None:
                return  # a redelivery: the effect is already committed
            data = data_type()
            if not envelope.data.Unpack(data):
                raise ValueError(
                    f"event {event_id} does not carry {data_type.DESCRIPTOR.full_name}"
                )

            async def current() -> Connection:
                return connection

            organization_id = (
                uuid.UUID(envelope.organization_id) if envelope.organization_id else None
            )
            outbox = Outbox(current, self.tables, self.clock, self.own_source, organization_id)
            scope = EventScope(connection, self.clock, outbox, envelope, published_at)
            await handler(scope, data)


def _stored_at(message: Msg) -> dt.datetime | None:
    """The stream's timestamp of the message, from its reply subject."""
    try:
        stored: dt.datetime = message.metadata.timestamp
    except NotJSMessageError:  # a core NATS message: no stream, no timestamp
        return None
    return stored


@cache
def _claim(tables: KitTables) -> Query:
    processed = tables.processed_events
    return Query.of(
        insert(processed)
        .values(
            consumer=bindparam("consumer"),
            event_id=bindparam("event_id"),
            processed_at=bindparam("processed_at"),
        )
        .on_conflict_do_nothing()
        .returning(processed.c.event_id)
    )
