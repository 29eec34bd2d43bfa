"""Reads events back from JetStream, the way a consumer in another service
would see them, filtered to one organization so tests do not see each other's.
"""

from __future__ import annotations

import time

import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from billingos.common.v1 import event_pb2


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
