"""Reads events back from JetStream, the way a consumer in another service
would see them, filtered to one organization so tests do not see each other's.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import nats
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from billingos.common.v1 import event_pb2
from billingos_kit.clock import SystemClock
from billingos_kit.relay import ensure_streams
from billingos_kit.streams import kind_of, state_subject_of


async def published_events(
    nats_url: str,
    subject: str,
    organization_id: object,
    *,
    at_least: int = 1,
    wait_seconds: float = 10.0,
) -> list[event_pb2.EventEnvelope]:
    """Every event on `subject` (wildcards allowed) for the organization.

    Waits until at least `at_least` are there (0 reads what is there now,
    after waiting `wait_seconds` for stragglers), then returns them in stream order.
    """
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        stream = await js.find_stream_name_by_subject(subject)
        subscription = await js.pull_subscribe(
            subject,
            stream=stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=30,
            ),
        )
        found: list[event_pb2.EventEnvelope] = []
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            try:
                messages = await subscription.fetch(256, timeout=0.3)
            except (TimeoutError, NatsTimeoutError):
                if at_least and len(found) >= at_least:
                    break
                continue
            for message in messages:
                envelope = event_pb2.EventEnvelope.FromString(message.data)
                if envelope.organization_id == str(organization_id):
                    found.append(envelope)
        await subscription.unsubscribe()
        return found
    finally:
        await client.close()


async def publish_event(
    nats_url: str,
    data: Message,
    organization_id: object,
    *,
    event_id: str | None = None,
    occur_time: dt.datetime | None = None,
) -> event_pb2.EventEnvelope:
    """Publishes `data` the way its context's relay would (event subject, and
    the state subject when the event carries a whole state), so a service's
    consumers can be tested without running the context that owns the event."""
    kind = kind_of(data)
    packed = any_pb2.Any()
    packed.Pack(data)
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(occur_time or SystemClock().now())
    envelope = event_pb2.EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        type=kind.type,
        organization_id=str(organization_id),
        source=kind.context,
        occur_time=occurred,
        data=packed,
    )
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, kind.context)
        raw = envelope.SerializeToString(deterministic=True)
        await js.publish(kind.subject, raw, headers={"Nats-Msg-Id": envelope.event_id})
        state = state_subject_of(data)
        if state is not None:
            await js.publish(state, raw, headers={"Nats-Msg-Id": f"{envelope.event_id}.state"})
    finally:
        await client.close()
    return envelope
