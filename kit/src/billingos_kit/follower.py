"""Following latest states in memory: a process's own view of entities of
other contexts (or its own), built from their latest-state streams and kept
current as they change — for reads that must not touch the database (the
entitlement check).

A `StateFollower` makes an ephemeral JetStream consumer of one context's
state stream, delivering the latest state of every entity of the kinds it
follows (`DeliverPolicy.LAST_PER_SUBJECT`), then every change, and calls the
handler registered for each message type, in stream order per entity. It is
`ready` once it has applied everything the stream held when it started: a
view read before then could answer from a partial picture. Nothing is
acknowledged or recorded: each process follows on its own, every time it
starts, and a handler must keep the newest state per entity (compare
`update_time`), since a state can arrive twice (after a reconnect the
follower starts over from every latest state).

How current it is, is known too (`confirmed_at`): the last moment the server
confirmed, for every subject, that the follower had everything its stream
held — a delivery that left nothing pending, or, while nothing arrives, a
look at the consumer once per idle fetch. A follower cut off from NATS
stops being confirmed, so a reader can refuse to answer from a view older
than it can stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from billingos.common.v1 import event_pb2
from billingos_kit.relay import ensure_streams
from billingos_kit.streams import event_kind, state_stream

log = logging.getLogger(__name__)

Event = TypeVar("Event", bound=Message)
StateHandler = Callable[[event_pb2.EventEnvelope, Any], None]

# An ephemeral consumer nobody reads from for this long is removed by the
# server (a process that died leaves nothing behind).
INACTIVE_SECONDS = 60.0
FETCH_BATCH = 512
FETCH_TIMEOUT_SECONDS = 1.0


class StateFollower:
    """Follows one context's latest states of the kinds registered with `on`."""

    def __init__(self, context: str, name: str) -> None:
        self.context = context
        self.name = name
        self.ready = asyncio.Event()
        self._handlers: dict[str, tuple[type[Message], StateHandler]] = {}
        self._subjects: set[str] = set()
        # Per subject: the monotonic time of the server's last confirmation
        # that nothing more was pending.
        self._confirmed: dict[str, float] = {}

    def confirmed_at(self) -> float | None:
        """When (time.monotonic) the view was last known to hold everything
        on every subject; None until it first caught up. An interruption
        keeps the last confirmation: the view it left is that old, and no
        older, while the follower starts over."""
        if len(self._confirmed) < len(self._subjects):
            return None
        return min(self._confirmed.values())

    def on(
        self, data_type: type[Event], handler: Callable[[event_pb2.EventEnvelope, Event], None]
    ) -> None:
        """Calls `handler(envelope, data)` for each state of this event type
        (an event that carries its entity's whole state)."""
        kind = event_kind(data_type.DESCRIPTOR)
        if kind.context != self.context or not kind.state_field:
            raise TypeError(f"{kind.type} is no state of {self.context}'s")
        self._handlers[kind.type] = (data_type, handler)
        self._subjects.add(kind.states)

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Follows until `stop` is set, starting over from every latest state
        after any interruption (NATS restarted, the consumer removed)."""
        failures = 0
        while not stop.is_set():
            try:
                await self._follow(js, stop)
                failures = 0
            except Exception:
                failures += 1
                log.warning(
                    "state follower interrupted; starting over",
                    extra={"follower": self.name, "attempt": failures},
                    exc_info=True,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(30.0, 0.5 * 2**failures))

    async def _follow(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        await ensure_streams(js, self.context)
        # Starting over: the view is rebuilt, and not ready until it has
        # applied what the stream holds now, on every subject it follows.
        self.ready.clear()
        subjects = sorted(self._subjects)
        caught_up: set[str] = set()

        def arrived(subject: str) -> None:
            caught_up.add(subject)
            if len(caught_up) == len(subjects):
                self.ready.set()

        await asyncio.gather(*(self._subject(js, stop, s, arrived) for s in subjects))

    async def _subject(
        self,
        js: JetStreamContext,
        stop: asyncio.Event,
        subject: str,
        arrived: Callable[[str], None],
    ) -> None:
        """One consumer per subject (`filter_subject`): several filter
        subjects on one consumer need nats-server 2.10, and a 2.9 server
        refuses them with last-per-subject delivery."""
        stream = state_stream(self.context)
        name = f"{self.name}-{uuid.uuid4().hex[:12]}"
        created = await js.add_consumer(
            stream,
            ConsumerConfig(
                name=name,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                filter_subject=subject,
                inactive_threshold=INACTIVE_SECONDS,
                mem_storage=True,
            ),
        )
        subscription = await js.pull_subscribe_bind(name, stream=stream)
        # What the stream held when the consumer was made: caught up once that
        # many are applied (a quiet second alone proves nothing: the first
        # delivery of a large stream may be slow).
        to_catch_up = created.num_pending or 0
        applied = 0
        if to_catch_up == 0:
            self._confirmed[subject] = time.monotonic()
            arrived(subject)
        try:
            while not stop.is_set():
                asked = time.monotonic()
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_SECONDS)
                except (TimeoutError, NatsTimeoutError):
                    messages = []
                if not messages:  # nothing arrived (a fetch may also return none)
                    await self._confirm(js, stream, name, subject, asked)
                    continue
                for message in messages:
                    self._apply(message.data)
                applied += len(messages)
                if messages[-1].metadata.num_pending == 0:
                    self._confirmed[subject] = asked
                if applied >= to_catch_up or messages[-1].metadata.num_pending == 0:
                    arrived(subject)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, name)

    async def _confirm(
        self, js: JetStreamContext, stream: str, name: str, subject: str, asked: float
    ) -> None:
        """Nothing arrived: current as of `asked` if the server says nothing
        is pending. A lost connection confirms nothing (the view ages); a
        consumer the server no longer has (NATS restarted) means starting over."""
        try:
            info = await js.consumer_info(stream, name)
        except NotFoundError:
            raise
        except Exception:
            return
        if not info.num_pending:
            self._confirmed[subject] = asked

    def _apply(self, raw: bytes) -> None:
        try:
            envelope = event_pb2.EventEnvelope.FromString(raw)
        except DecodeError:
            log.error("dropping a malformed state", extra={"follower": self.name})
            return
        registered = self._handlers.get(envelope.type)
        if registered is None:
            return
        data_type, handler = registered
        data = data_type()
        if not envelope.data.Unpack(data):
            log.error(
                "dropping a state of the wrong type",
                extra={"follower": self.name, "type": envelope.type},
            )
            return
        try:
            handler(envelope, data)
        except Exception:
            # One bad state must not stop the view; the next state of the
            # entity replaces it.
            log.exception(
                "a state handler failed",
                extra={"follower": self.name, "event_id": envelope.event_id},
            )
