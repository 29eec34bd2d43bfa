"""Consuming other contexts' events, idempotently.

A durable JetStream pull consumer with explicit ack. For each message the
handler runs inside one transaction that also records the event id in the
consumer's own `processed_events` table; a redelivered event finds its id there
and is acknowledged without running again. Acks are sent only after commit, so
a crash at any point means a redelivery, never a lost or doubled effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billingos.common.v1 import event_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.outbox import Outbox, stream_for
from billingos_kit.relay import ensure_stream
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)

# Seconds between redeliveries of a message whose handler failed.
REDELIVERY_BACKOFF = (1.0, 5.0, 30.0, 120.0, 600.0)
# How long a delivered message may be in handling before JetStream resends it.
ACK_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class EventScope:
    """What a handler works with: the consumer's transaction and outbox."""

    session: AsyncSession
    clock: Clock
    outbox: Outbox
    envelope: event_pb2.EventEnvelope

    @property
    def organization_id(self) -> uuid.UUID:
        return uuid.UUID(self.envelope.organization_id)


Handler = Callable[[EventScope, Message], Awaitable[None]]


@dataclass
class EventConsumer:
    """One durable consumer of one context's stream."""

    name: str
    source: str  # the context whose events are read, e.g. "payments"
    database: Database
    tables: KitTables
    clock: Clock
    own_source: str  # this service's context, for events the handlers emit
    handlers: dict[str, tuple[type[Message], Handler]] = field(default_factory=dict)
    batch_size: int = 64
    fetch_timeout: float = 1.0

    def on(self, event_type: str, data_type: type[Message], handler: Handler) -> None:
        """Runs `handler` for events of `event_type` (e.g. "customer.created")."""
        self.handlers[event_type] = (data_type, handler)

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=[f"billingos.{self.source}.{t}" for t in sorted(self.handlers)],
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
        await ensure_stream(js, self.source)
        await js.add_consumer(stream_for(self.source), self.config())
        subscription = await js.pull_subscribe_bind(self.name, stream=stream_for(self.source))
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
            await self._apply(envelope, event_id, data_type, handler)
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
    ) -> None:
        processed = self.tables.processed_events
        async with self.database.transaction() as session:
            claimed = await session.execute(
                insert(processed)
                .values(consumer=self.name, event_id=event_id, processed_at=self.clock.now())
                .on_conflict_do_nothing()
                .returning(processed.c.event_id)
            )
            if claimed.first() is None:
                return  # a redelivery: the effect is already committed
            data = data_type()
            if not envelope.data.Unpack(data):
                raise ValueError(
                    f"event {event_id} does not carry {data_type.DESCRIPTOR.full_name}"
                )
            outbox = Outbox(session, self.tables, self.clock, self.own_source)
            await handler(EventScope(session, self.clock, outbox, envelope), data)
