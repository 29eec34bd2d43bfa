"""From events to webhook deliveries: one durable consumer per context whose
events are posted (webhook_vocabulary.POSTED_EVENTS), each enqueueing, in
the consumer's transaction, one delivery per enabled endpoint of the
event's organization that takes its type. `webhook_sender.py` posts them.

Each delivery takes its endpoint's next `sequence` from the counter on the
endpoint's row, under that row's lock, so an endpoint's numbers have no
gaps or repeats however many dispatchers run. A delivery is unique per
endpoint and event: the kit drops a redelivered event already handled, and
the unique index covers what it cannot (an event read again after its
record was purged), so an event is enqueued once per endpoint.

Nothing here depends on the rest of the process but the database and
NATS: these consumers (and the sender) can run as a deployment of their own.
"""

from __future__ import annotations

import datetime as dt
import uuid

from google.protobuf.message import Message

from billingos_customers.models import WebhookDelivery, kit_tables
from billingos_customers.repository import WebhookDeliveryRepository, WebhookEndpointRepository
from billingos_customers.webhook_envelope import envelope_body
from billingos_customers.webhook_vocabulary import NAMED_ONLY_TYPES, POSTED_EVENTS, DeliveryStatus
from billingos_kit.clock import UTC, Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import new_id

SOURCE = "customers"
CONSUMER_PREFIX = "customers-webhooks-"
CLOCK_SKEW_ALLOWANCE = dt.timedelta(seconds=60)


async def enqueue_deliveries(scope: EventScope, data: Message) -> None:
    """One delivery of this event per endpoint that takes it. Endpoints made
    after the event was published get nothing (a consumer catching up never
    posts an old event to a new endpoint). Published, not occurred: an
    event of a test clock occurs at the clock's time, which may be long
    before or after the endpoint was made on the real one."""
    envelope = scope.envelope
    if not envelope.organization_id:
        return  # nobody's event: no endpoint can take it
    endpoints = WebhookEndpointRepository(scope)
    deliveries = WebhookDeliveryRepository(scope)
    published = scope.published_at or envelope.occur_time.ToDatetime(tzinfo=UTC)
    now = scope.clock.now()
    # The stream's clock against ours: an endpoint made up to a minute after
    # the event was published gets it too (rather than miss one published
    # just after it was made on a host whose clock runs behind).
    made_by = published + CLOCK_SKEW_ALLOWANCE
    catch_all = envelope.type not in NAMED_ONLY_TYPES
    for endpoint in await endpoints.matching(envelope.type, made_by, catch_all=catch_all):
        sequence = endpoint.last_sequence + 1
        delivery = WebhookDelivery(
            id=new_id(scope.clock),
            organization_id=endpoint.organization_id,
            endpoint_id=endpoint.id,
            event_id=uuid.UUID(envelope.event_id),
            event_type=envelope.type,
            sequence=sequence,
            body=envelope_body(envelope, data, sequence),
            status=DeliveryStatus.PENDING,
            attempts=0,
            series_attempts=0,
            series_started_at=None,
            next_attempt_at=now,
            last_response_status=None,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
        if await deliveries.insert_once(delivery):
            endpoint.last_sequence = sequence
            await endpoints.update(endpoint, ["last_sequence"])


def webhook_dispatchers(database: Database, clock: Clock) -> list[EventConsumer]:
    """The consumers, one per context (a consumer reads one context's stream)."""
    consumers = []
    for context, messages in POSTED_EVENTS.items():
        consumer = EventConsumer.of_events(
            CONSUMER_PREFIX + context, database, kit_tables, clock, SOURCE
        )
        for message in messages:
            consumer.on(message, enqueue_deliveries)
        consumers.append(consumer)
    return consumers
