"""Webhooks from event to receiver: the dispatchers (running in the service,
on real JetStream) enqueue deliveries; a WebhookSender on a test clock of
its own posts them to real HTTP receivers on loopback. The clock starts at
the wall clock's time because `standardwebhooks`' verify checks the
signed timestamp against it (5 minutes of tolerance). Retention (the purge of
old deliveries and replaced secrets) is tested last, on the rows they made."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import nats
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import delete, func, select, update
from standardwebhooks import Webhook, WebhookVerificationError

from billingos.customers.v1 import (
    customers_pb2,
    portal_sign_in_pb2,
    portal_sign_in_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)
from billingos.subscriptions.v1 import checkout_pb2, subscriptions_pb2
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos_customers.models import (
    kit_tables,
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from billingos_customers.webhook_dispatch import CONSUMER_PREFIX
from billingos_customers.webhook_retention import WebhookRetention
from billingos_customers.webhook_sender import RETRY_FOR, WebhookSender, retry_delay
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import execute, rows, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import publish_event, published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, gateway_metadata
from billingos_kit.testing.waiting import eventually

pb = webhook_endpoints_pb2
Stub = webhook_endpoints_pb2_grpc.WebhookEndpointServiceStub
Status = pb.WebhookDeliveryStatus
SENDER_BATCH = 10_000


@pytest.fixture
def endpoints(customers_service: RunningService) -> Stub:
    return Stub(customers_service.channel)


@pytest.fixture(autouse=True)
async def nothing_else_open(customers_service: RunningService) -> AsyncIterator[None]:
    """Every test's sender claims across the session's database: open
    deliveries of earlier tests (to receivers long stopped, whose ports the
    system may hand to this test's) are closed before and after each test."""

    async def close() -> None:
        await execute(
            customers_service.app.database,
            update(webhook_deliveries)
            .where(
                (webhook_deliveries.c.status == "pending")
                | (webhook_deliveries.c.status == "retrying")
            )
            .values(status="failed", next_attempt_at=None, claimed_until=None),
        )

    await close()
    yield
    await close()


@pytest.fixture
def sender_clock() -> FrozenClock:
    return FrozenClock(dt.datetime.now(dt.UTC))


@pytest.fixture
async def sender(
    customers_service: RunningService, sender_clock: FrozenClock
) -> AsyncIterator[WebhookSender]:
    made = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=1.0,
        development_mode_allowed=True,
        # Every endpoint's due head in one round: the session's database holds
        # other tests' endpoints (with deliveries older than this test's), and
        # a round of the default 20 could leave this test's for later.
        batch_size=SENDER_BATCH,
    )
    yield made
    await made.close()


async def new_endpoint(
    endpoints: Stub, tenant, url: str, event_types: tuple[str, ...] = ()
) -> pb.WebhookEndpoint:
    return await endpoints.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            webhook_endpoint=pb.WebhookEndpoint(url=url, event_types=event_types)
        ),
        metadata=tenant.metadata(),
    )


async def new_customer(customers, tenant, email: str = "ada@example.com") -> customers_pb2.Customer:
    return await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email=email)),
        metadata=tenant.metadata(),
    )


async def deliveries(
    endpoints: Stub, tenant, endpoint_id: str, count: int = 1
) -> list[pb.WebhookDelivery]:
    """The endpoint's deliveries, newest first, once there are `count`."""

    async def check() -> list[pb.WebhookDelivery] | None:
        found = await endpoints.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id), metadata=tenant.metadata()
        )
        return list(found.webhook_deliveries) if len(found.webhook_deliveries) >= count else None

    return await eventually(check)


async def delivery(
    endpoints: Stub, tenant, endpoint_id: str, delivery_id: str
) -> pb.WebhookDelivery:
    for found in await deliveries(endpoints, tenant, endpoint_id):
        if found.id == delivery_id:
            return found
    raise AssertionError(f"no delivery {delivery_id}")


async def lease(service: RunningService, delivery_id: str, until: dt.datetime) -> None:
    """As if another sender had claimed the delivery and were posting it."""
    await execute(
        service.app.database,
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == uuid.UUID(delivery_id))
        .values(claimed_until=until),
    )


def verified(secret: str, received) -> dict:
    payload = Webhook(secret).verify(received.body, received.headers)
    assert isinstance(payload, dict)
    return payload


async def test_an_event_is_posted_signed_with_the_envelope_and_increasing_sequence(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    first = await new_customer(customers, dev_tenant, "one@example.com")
    second = await new_customer(customers, dev_tenant, "two@example.com")
    await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    await sender.send_due()  # one per endpoint per round: in sequence order
    await sender.send_due()
    assert len(receiver.received) == 2
    bodies = [verified(endpoint.secret, r) for r in receiver.received]
    assert [b["sequence"] for b in bodies] == [1, 2]
    assert [b["data"]["customer"]["id"] for b in bodies] == [first.id, second.id]
    envelope = bodies[0]
    assert set(envelope) == {"id", "type", "timestamp", "organization_id", "sequence", "data"}
    assert envelope["type"] == "customer.created"
    assert envelope["organization_id"] == str(dev_tenant.organization_id)
    assert envelope["data"]["customer"]["email"] == "one@example.com"
    assert envelope["data"]["customer"]["create_time"].endswith("Z")
    dt.datetime.fromisoformat(envelope["timestamp"])
    headers = receiver.received[0].headers
    assert headers["webhook-id"] == envelope["id"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "BillingOS-Webhooks/1"
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(receiver.received[0].body, headers)

    listed = await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    assert [d.sequence for d in listed] == [2, 1]  # newest first
    assert all(d.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED for d in listed)
    assert all((d.attempts, d.last_response_status) == (1, 200) for d in listed)
    assert listed[1].event_id == envelope["id"]
    assert listed[1].event_type == "customer.created"
    assert not listed[1].HasField("next_attempt_time")
    page = await endpoints.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint.id, page_size=1),
        metadata=dev_tenant.metadata(),
    )
    rest = await endpoints.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(
            endpoint_id=endpoint.id, page_size=1, page_token=page.next_page_token
        ),
        metadata=dev_tenant.metadata(),
    )
    assert [d.sequence for d in [*page.webhook_deliveries, *rest.webhook_deliveries]] == [2, 1]
    assert rest.next_page_token == ""


async def test_an_endpoint_gets_only_the_types_it_asked_for_and_other_contexts_events(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url, ("subscription.created",))
    await new_customer(customers, dev_tenant)
    subscription_id = str(uuid.uuid4())
    await publish_event(
        servers.nats_url,
        subscription_events.SubscriptionCreatedEvent(
            subscription=subscriptions_pb2.Subscription(
                id=subscription_id, organization_id=str(dev_tenant.organization_id)
            )
        ),
        dev_tenant.organization_id,
        occur_time=session_clock.now(),
    )
    (only,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    assert only.event_type == "subscription.created"
    await sender.send_due()
    (received,) = receiver.received
    body = verified(endpoint.secret, received)
    assert body["data"]["subscription"]["id"] == subscription_id


async def test_an_event_read_again_enqueues_once(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    customers_service: RunningService,
    servers: SessionServers,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (first,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    (envelope,) = await published_events(
        servers.nats_url, "billingos.customers.customer.created", dev_tenant.organization_id
    )
    database = customers_service.app.database
    processed = kit_tables.processed_events
    # As after the 30-day purge of processed_events: the kit no longer knows
    # the event, so only the delivery's unique index stands in the way.
    await execute(
        database,
        delete(processed).where(
            processed.c.consumer == CONSUMER_PREFIX + "customers",
            processed.c.event_id == uuid.UUID(envelope.event_id),
        ),
    )
    client = await nats.connect(servers.nats_url)
    try:
        await client.jetstream().publish(
            "billingos.customers.customer.created",
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.event_id + ".again"},
        )
    finally:
        await client.close()

    async def handled_again() -> bool | None:
        found = await scalar(
            database,
            select(processed.c.event_id).where(
                processed.c.consumer == CONSUMER_PREFIX + "customers",
                processed.c.event_id == uuid.UUID(envelope.event_id),
            ),
        )
        return True if found is not None else None

    await eventually(handled_again)
    listed = await deliveries(endpoints, dev_tenant, endpoint.id)
    assert [d.id for d in listed] == [first.id]
    sequence = await scalar(
        database,
        select(webhook_endpoints.c.last_sequence).where(
            webhook_endpoints.c.id == uuid.UUID(endpoint.id)
        ),
    )
    assert sequence == 1


async def test_a_receiver_that_hangs_times_out_and_the_delivery_is_retried_later(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    receiver = await receivers("hang")
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert (after.attempts, after.last_response_status) == (1, 0)
    assert "no answer within 1 s" in after.last_error
    next_at = after.next_attempt_time.ToDatetime(tzinfo=dt.UTC)
    assert sender_clock.now() + dt.timedelta(seconds=2.5) <= next_at
    assert next_at <= sender_clock.now() + dt.timedelta(seconds=5)
    (attempt,) = await rows(
        customers_service.app.database,
        select(webhook_delivery_attempts).where(
            webhook_delivery_attempts.c.delivery_id == uuid.UUID(queued.id)
        ),
    )
    assert attempt["response_status"] is None
    assert attempt["duration_ms"] >= 900
    await sender.send_due()  # not due yet
    assert len(receiver.received) == 1


async def test_a_failed_attempt_is_retried_and_later_deliveries_wait_for_it(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
) -> None:
    receiver = await receivers(500)
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant, "first@example.com")
    await new_customer(customers, dev_tenant, "second@example.com")
    later, earlier = await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    await sender.send_due()
    await sender.send_due()  # the second waits behind the first, retrying
    assert len(receiver.received) == 1
    failed = await delivery(endpoints, dev_tenant, endpoint.id, earlier.id)
    assert failed.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert (failed.last_response_status, failed.last_error) == (500, "answered 500")
    assert (await delivery(endpoints, dev_tenant, endpoint.id, later.id)).attempts == 0

    sender_clock.advance(dt.timedelta(seconds=5))
    await sender.send_due()
    await sender.send_due()
    assert [verified(endpoint.secret, r)["sequence"] for r in receiver.received] == [1, 1, 2]
    done = await delivery(endpoints, dev_tenant, endpoint.id, earlier.id)
    assert done.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED
    assert (done.attempts, done.last_response_status, done.last_error) == (2, 200, "")
    # The same event id on every attempt: receivers deduplicate on it.
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


async def test_gone_disables_the_endpoint_at_once_and_announces_it(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    servers: SessionServers,
) -> None:
    receiver = await receivers(410)
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant, "a@example.com")
    await new_customer(customers, dev_tenant, "b@example.com")
    await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    await sender.send_due()
    await sender.send_due()
    assert len(receiver.received) == 1  # nothing more once disabled
    got = await endpoints.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=dev_tenant.metadata()
    )
    assert (got.disabled, got.disabled_reason) == (True, "gone")
    later, first = await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    assert first.status == Status.WEBHOOK_DELIVERY_STATUS_FAILED
    assert later.status == Status.WEBHOOK_DELIVERY_STATUS_PENDING
    (disabled,) = await published_events(
        servers.nats_url,
        "billingos.customers.webhook_endpoint.disabled",
        dev_tenant.organization_id,
    )
    assert endpoint.id in str(disabled)

    # Enabled again, the waiting delivery goes out.
    await endpoints.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=pb.WebhookEndpoint(id=endpoint.id, disabled=False),
            update_mask={"paths": ["disabled"]},
        ),
        metadata=dev_tenant.metadata(),
    )
    await sender.send_due()
    assert [verified(endpoint.secret, r)["sequence"] for r in receiver.received] == [1, 2]


async def test_a_redirect_is_a_failed_attempt_and_never_followed(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
) -> None:
    inside = await receivers()  # stands for a private service
    receiver = await receivers(("redirect", inside.url))
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    assert len(receiver.received) == 1
    assert inside.received == []
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert after.last_response_status == 302
    assert "redirects are not followed" in after.last_error


async def test_an_address_turned_private_after_the_check_is_refused_at_delivery(
    endpoints: Stub,
    customers,
    tenant,
    sender: WebhookSender,
    customers_service: RunningService,
    receivers,
) -> None:
    """Outside development mode the sender vets the address at every
    attempt, in its connection step: a stored URL whose host is now a
    loopback address (as a rebinding name would answer) is not connected
    to. (A name like `localhost` is refused before any lookup.)"""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, tenant, "https://93.184.215.14/hooks")
    port = receiver.url.split(":")[2].split("/")[0]
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(endpoint.id))
        .values(url=f"https://127.0.0.1:{port}/hooks"),
    )
    await new_customer(customers, tenant)
    (queued,) = await deliveries(endpoints, tenant, endpoint.id)
    await sender.send_due()
    after = await delivery(endpoints, tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert after.last_response_status == 0
    assert "refused address" in after.last_error
    assert "loopback" in after.last_error
    assert receiver.received == []


async def test_during_a_rotation_both_secrets_verify_and_after_the_grace_only_the_new(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant, "before@example.com")
    await deliveries(endpoints, dev_tenant, endpoint.id)  # enqueued, not yet sent
    rotated = await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=endpoint.id, grace_seconds=120),
        metadata=dev_tenant.metadata(),
    )
    # The service's API runs on the session clock, the sender on one near
    # the wall clock's time: the same 120 s of grace, on the sender's clock.
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(endpoint.id))
        .values(previous_secret_expires_at=sender_clock.now() + dt.timedelta(seconds=120)),
    )
    await sender.send_due()
    (during,) = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verified(endpoint.secret, during) == verified(rotated.secret, during)

    sender_clock.advance(dt.timedelta(seconds=121))
    await new_customer(customers, dev_tenant, "after@example.com")
    await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    await sender.send_due()
    after = receiver.received[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verified(rotated.secret, after)["data"]["customer"]["email"] == "after@example.com"
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(after.body, after.headers)


async def test_a_manual_redelivery_posts_the_same_delivery_again(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    again = await endpoints.RedeliverWebhookDelivery(
        pb.RedeliverWebhookDeliveryRequest(endpoint_id=endpoint.id, id=queued.id),
        metadata=dev_tenant.metadata("redeliver-1"),
    )
    assert again.status == Status.WEBHOOK_DELIVERY_STATUS_PENDING
    await sender.send_due()
    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    done = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert (done.status, done.attempts) == (Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED, 2)


async def test_three_days_of_failures_fail_the_delivery_and_disable_the_endpoint(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
    servers: SessionServers,
) -> None:
    receiver = await receivers(*([503] * 500))
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    started = sender_clock.now()
    for _ in range(400):
        await sender.send_due()
        current = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
        if current.status != Status.WEBHOOK_DELIVERY_STATUS_RETRYING:
            break
        due = current.next_attempt_time.ToDatetime(tzinfo=dt.UTC)
        sender_clock.set(max(due, sender_clock.now()))
    assert current.status == Status.WEBHOOK_DELIVERY_STATUS_FAILED
    given_up_after = sender_clock.now() - started
    assert RETRY_FOR - dt.timedelta(hours=1) <= given_up_after <= RETRY_FOR
    assert current.attempts == len(receiver.received)
    assert current.attempts > 20
    got = await endpoints.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=dev_tenant.metadata()
    )
    # No success since the series began: disabled, and announced.
    assert (got.disabled, got.disabled_reason) == (True, "failing")
    (event,) = await published_events(
        servers.nats_url,
        "billingos.customers.webhook_endpoint.disabled",
        dev_tenant.organization_id,
    )
    assert endpoint.id in str(event)


async def test_a_delivery_given_up_does_not_disable_an_endpoint_that_answers_others(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    # As if the series had been failing for three days while the endpoint
    # kept answering: its last attempt is the one given up.
    await execute(
        customers_service.app.database,
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == uuid.UUID(queued.id))
        .values(
            status="retrying",
            series_attempts=90,
            series_started_at=sender_clock.now() - RETRY_FOR,
        ),
    )
    receiver.answers.append(500)
    await sender.send_due()
    current = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert current.status == Status.WEBHOOK_DELIVERY_STATUS_FAILED
    got = await endpoints.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=endpoint.id), metadata=dev_tenant.metadata()
    )
    # Its failing streak began with this attempt, after the series began.
    assert not got.disabled


def test_the_retry_schedule_doubles_from_five_seconds_to_an_hour_with_jitter() -> None:
    import random

    rng = random.Random(7)
    for attempt, full in [(1, 5), (2, 10), (3, 20), (10, 2560), (11, 3600), (50, 3600)]:
        delay = retry_delay(attempt, rng).total_seconds()
        assert full / 2 <= delay <= full, (attempt, delay)


async def test_an_attempt_that_fails_unforeseen_is_recorded_and_spares_the_others(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender, customers_service
) -> None:
    """One endpoint whose attempt raises what the sender did not foresee (a
    stored secret that is no key: signing fails) fails its own attempt;
    another endpoint's delivery in the same round is posted and recorded."""
    good_receiver = await receivers()
    good = await new_endpoint(endpoints, dev_tenant, good_receiver.url)
    odd = await new_endpoint(endpoints, dev_tenant, good_receiver.url)
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(odd.id))
        .values(secret="whsec_not*base64"),
    )
    await new_customer(customers, dev_tenant)
    (good_queued,) = await deliveries(endpoints, dev_tenant, good.id)
    (odd_queued,) = await deliveries(endpoints, dev_tenant, odd.id)
    await sender.send_due()
    posted = await delivery(endpoints, dev_tenant, good.id, good_queued.id)
    assert posted.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED
    failed = await delivery(endpoints, dev_tenant, odd.id, odd_queued.id)
    assert failed.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert failed.last_error.startswith("internal error")
    assert len(good_receiver.received) == 1


async def test_a_claimed_delivery_is_leased_until_its_attempt_could_have_ended(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service,
) -> None:
    """A sender that claimed a delivery and died before recording it (here:
    the lease set, nothing posted) keeps it from every other sender until
    the lease lapses; then it is posted again, once."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await lease(customers_service, queued.id, sender_clock.now() + dt.timedelta(minutes=1))
    await sender.send_due()  # other tests' due deliveries may go; not this one
    assert receiver.received == []
    sender_clock.advance(dt.timedelta(minutes=1, seconds=1))
    await sender.send_due()
    assert len(receiver.received) == 1
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED
    assert after.attempts == 1


async def test_a_stored_url_that_is_not_ascii_is_refused_at_delivery_too(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender, customers_service
) -> None:
    """What is posted to is what was checked: a URL httpcore would have to
    encode (or refuse with an error of its own) is a refused attempt."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(endpoint.id))
        .values(url=receiver.url + "/caf\u00e9"),
    )
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert "printable ASCII" in after.last_error
    assert receiver.received == []


async def test_a_deployment_that_does_not_allow_development_mode_vets_everyone(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    """An organization's development mode counts only where the deployment
    allows it (`webhook_development_mode_allowed`, off by default): a
    production sender refuses its loopback receiver at every attempt."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    production = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=1.0,
        batch_size=SENDER_BATCH,
    )
    try:
        await production.send_due()
    finally:
        await production.close()
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert after.last_error.startswith("refused URL: must use https")
    assert receiver.received == []


async def test_a_hanging_receiver_holds_one_slot_not_the_other_endpoints(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    """The running sender keeps a pool of attempts, not rounds: while one
    receiver hangs for the whole timeout, another endpoint's delivery is
    posted and recorded."""
    hanging = await receivers("hang")
    healthy = await receivers()
    slow = await new_endpoint(endpoints, dev_tenant, hanging.url)
    fine = await new_endpoint(endpoints, dev_tenant, healthy.url)
    await new_customer(customers, dev_tenant)
    (slow_queued,) = await deliveries(endpoints, dev_tenant, slow.id)
    (fine_queued,) = await deliveries(endpoints, dev_tenant, fine.id)
    running = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=3.0,
        poll_seconds=0.05,
        development_mode_allowed=True,
        batch_size=SENDER_BATCH,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:

        async def fine_posted() -> pb.WebhookDelivery | None:
            found = await delivery(endpoints, dev_tenant, fine.id, fine_queued.id)
            return found if found.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED else None

        await eventually(fine_posted)
        still = await delivery(endpoints, dev_tenant, slow.id, slow_queued.id)
        assert still.attempts == 0  # its POST has not ended: it holds its slot alone
        assert len(healthy.received) == 1
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await running.close()


async def test_a_redelivery_waits_while_a_delivery_of_its_endpoint_is_being_posted(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    """One at a time per endpoint, whatever is redelivered: while the second
    delivery is being posted (claimed by another sender), neither a
    redelivery of the first nor one of the second itself is posted beside
    it; once its lease ends they go one per round, the older first."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant, "one@example.com")
    (first,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    await new_customer(customers, dev_tenant, "two@example.com")
    second, _ = await deliveries(endpoints, dev_tenant, endpoint.id, 2)
    await lease(customers_service, second.id, sender_clock.now() + dt.timedelta(minutes=1))
    for queued in (first, second):
        await endpoints.RedeliverWebhookDelivery(
            pb.RedeliverWebhookDeliveryRequest(endpoint_id=endpoint.id, id=queued.id),
            metadata=dev_tenant.metadata(f"redeliver-{queued.id}"),
        )
    await sender.send_due()
    assert len(receiver.received) == 1  # only the first's first delivery
    sender_clock.advance(dt.timedelta(minutes=1, seconds=1))
    await sender.send_due()
    assert len(receiver.received) == 2
    await sender.send_due()
    sequences = [verified(endpoint.secret, r)["sequence"] for r in receiver.received]
    assert sequences == [1, 1, 2]


async def test_an_endpoint_enabled_again_gets_its_waiting_deliveries_on_a_new_series(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    """A delivery that was retrying when its endpoint was disabled is due at
    once when it is enabled again, with a whole new retry window: not the
    hour-long wait, nor the end of a series that began days ago."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)

    async def set_disabled(disabled: bool) -> None:
        await endpoints.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=pb.WebhookEndpoint(id=endpoint.id, disabled=disabled),
                update_mask=field_mask_pb2.FieldMask(paths=["disabled"]),
            ),
            metadata=dev_tenant.metadata(),
        )

    await set_disabled(True)
    await execute(
        customers_service.app.database,
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == uuid.UUID(queued.id))
        .values(
            status="retrying",
            series_attempts=40,
            series_started_at=sender_clock.now() - RETRY_FOR + dt.timedelta(minutes=30),
            next_attempt_at=sender_clock.now() + dt.timedelta(hours=1),
        ),
    )
    await set_disabled(False)
    restarted = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert restarted.status == Status.WEBHOOK_DELIVERY_STATUS_PENDING
    receiver.answers.append(500)
    sender_clock.set(max(sender_clock.now(), restarted.next_attempt_time.ToDatetime(tzinfo=dt.UTC)))
    await sender.send_due()
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    # One failure of a new series: retrying, not given up at the old window's end.
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert len(receiver.received) == 1


async def test_an_event_of_a_test_clock_reaches_an_endpoint_made_after_its_clock_time(
    endpoints: Stub,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """Whether an endpoint takes an event is decided by when the event was
    published, on the real clock: a test clock's event occurs at the test
    clock's time (here a month before the endpoint was made)."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url, ("subscription.created",))
    await publish_event(
        servers.nats_url,
        subscription_events.SubscriptionCreatedEvent(
            subscription=subscriptions_pb2.Subscription(
                id=str(uuid.uuid4()), organization_id=str(dev_tenant.organization_id)
            )
        ),
        dev_tenant.organization_id,
        occur_time=session_clock.now() - dt.timedelta(days=30),
    )
    (only,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    assert only.event_type == "subscription.created"


# ---- retention (webhook_retention.py) ----------------------------------------

KEEP_FOR = dt.timedelta(days=30)


async def count_rows(service: RunningService, table, delivery_id: str) -> int:
    column = table.c.id if table is webhook_deliveries else table.c.delivery_id
    found = await scalar(
        service.app.database,
        select(func.count()).select_from(table).where(column == uuid.UUID(delivery_id)),
    )
    return int(found)


async def test_finished_deliveries_past_the_retention_are_purged_open_ones_stay(
    endpoints, customers, dev_tenant, receivers, sender, sender_clock, customers_service
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    other = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (done,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    (waiting,) = await deliveries(endpoints, dev_tenant, other.id)
    await execute(  # the other endpoint is disabled: its delivery stays open
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(other.id))
        .values(disabled_at=sender_clock.now(), disabled_reason="by_request"),
    )
    await sender.send_due()
    assert await count_rows(customers_service, webhook_delivery_attempts, done.id) == 1

    recent = WebhookRetention(
        customers_service.app.database,
        FrozenClock(sender_clock.now() + KEEP_FOR - dt.timedelta(minutes=1)),
        keep_for=KEEP_FOR,
    )
    await recent.purge()
    assert await count_rows(customers_service, webhook_deliveries, done.id) == 1

    later = WebhookRetention(
        customers_service.app.database,
        FrozenClock(sender_clock.now() + KEEP_FOR + dt.timedelta(minutes=1)),
        keep_for=KEEP_FOR,
    )
    purged = await later.purge()
    assert purged.deliveries >= 1
    assert await count_rows(customers_service, webhook_deliveries, done.id) == 0
    assert await count_rows(customers_service, webhook_delivery_attempts, done.id) == 0
    assert await count_rows(customers_service, webhook_deliveries, waiting.id) == 1


async def test_a_replaced_secret_is_dropped_once_its_grace_is_over(
    endpoints, dev_tenant, customers_service, sender_clock
) -> None:
    endpoint = await new_endpoint(endpoints, dev_tenant, "http://127.0.0.1:9/hooks")
    await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=endpoint.id, grace_seconds=60),
        metadata=dev_tenant.metadata(),
    )

    async def previous() -> str | None:
        found: str | None = await scalar(
            customers_service.app.database,
            select(webhook_endpoints.c.previous_secret).where(
                webhook_endpoints.c.id == uuid.UUID(endpoint.id)
            ),
        )
        return found

    expires = await scalar(
        customers_service.app.database,
        select(webhook_endpoints.c.previous_secret_expires_at).where(
            webhook_endpoints.c.id == uuid.UUID(endpoint.id)
        ),
    )
    during = WebhookRetention(
        customers_service.app.database,
        FrozenClock(expires - dt.timedelta(seconds=1)),
        keep_for=KEEP_FOR,
    )
    await during.purge()
    assert await previous() == endpoint.secret
    after = WebhookRetention(
        customers_service.app.database, FrozenClock(expires), keep_for=KEEP_FOR
    )
    assert (await after.purge()).secrets >= 1
    assert await previous() is None


# ---- TLS through the vetted connection ------------------------------------------


@pytest.fixture
async def trusting_sender(
    customers_service: RunningService, sender_clock: FrozenClock, test_ca: Path
) -> AsyncIterator[WebhookSender]:
    """A sender that trusts the tests' certificate for `localhost`."""
    made = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=2.0,
        development_mode_allowed=True,
        batch_size=SENDER_BATCH,
        ssl_context=ssl.create_default_context(cafile=test_ca),
    )
    yield made
    await made.close()


async def test_https_goes_to_the_vetted_address_and_checks_the_urls_host_name(
    endpoints: Stub, customers, dev_tenant, receivers, trusting_sender: WebhookSender
) -> None:
    """The sender connects to the address it vetted (127.0.0.1 for
    `localhost`) and TLS still verifies the certificate for the URL's host:
    the delivery arrives, signed, over https."""
    receiver = await receivers(tls=True)
    assert receiver.url.startswith("https://localhost:")
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await trusting_sender.send_due()
    (received,) = receiver.received
    assert verified(endpoint.secret, received)["type"] == "customer.created"
    done = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert done.status == Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED


@pytest.mark.parametrize("wrong", ["untrusted certificate", "another host name"])
async def test_a_certificate_that_does_not_verify_fails_the_attempt(
    wrong: str,
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    trusting_sender: WebhookSender,
) -> None:
    """Nothing is posted to a receiver whose certificate the sender does not
    trust (the system's CAs do not know the test one), nor to one whose
    certificate names another host (the test one is for `localhost`, the
    URL names 127.0.0.1)."""
    receiver = await receivers(tls=True)
    if wrong == "untrusted certificate":
        url, chosen = receiver.url, sender
    else:
        url, chosen = receiver.url.replace("//localhost:", "//127.0.0.1:"), trusting_sender
    endpoint = await new_endpoint(endpoints, dev_tenant, url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await chosen.send_due()
    after = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert after.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    assert "CERTIFICATE_VERIFY_FAILED" in after.last_error, after.last_error
    assert receiver.received == []


async def test_deliveries_are_listed_by_status_and_event_type(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    """A merchant finds what failed (to redeliver it) or what one event type
    did; a filter that names no status or type webhooks post is refused."""
    receiver = await receivers(500)
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant, "one@example.com")
    (first,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()  # the first fails: retrying

    async def listed(**filters: object) -> list[str]:
        found = await endpoints.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint.id, **filters),
            metadata=dev_tenant.metadata(),
        )
        return [d.id for d in found.webhook_deliveries]

    assert await listed(status=Status.WEBHOOK_DELIVERY_STATUS_RETRYING) == [first.id]
    assert await listed(status=Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED) == []
    assert await listed(event_type="customer.created") == [first.id]
    assert await listed(event_type="order.paid") == []
    for bad, field in [({"status": 99}, "status"), ({"event_type": "nope"}, "event_type")]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await listed(**bad)
        error = call_error(refused.value)
        assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


# ---- receivers that take their time, rotations and deletions mid-flight --------


async def test_a_slow_receiver_within_the_timeout_succeeds(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    receiver = await receivers("slow")
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    done = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert (done.status, done.attempts) == (Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED, 1)


async def test_a_2xx_whose_body_never_ends_counts_as_received(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    """The receiver answered 200: it has the delivery, whatever its body
    does after (posting it again would only repeat it)."""
    receiver = await receivers("endless")
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    done = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert (done.status, done.last_response_status) == (
        Status.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
        200,
    )


async def test_a_rotation_while_an_attempt_is_in_flight_signs_its_retry_with_both_secrets(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    sender_clock: FrozenClock,
    customers_service: RunningService,
) -> None:
    """The merchant rotates while BillingOS is posting (the receiver hangs):
    the retry carries both signatures, so a receiver still holding the old
    secret verifies it, and so does one that already has the new one."""
    receiver = await receivers("hang")
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    posting = asyncio.create_task(sender.send_due())

    async def arrived() -> bool | None:
        return True if receiver.received else None

    await eventually(arrived)
    rotated = await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=endpoint.id), metadata=dev_tenant.metadata()
    )
    await posting  # the hanging attempt times out
    # The API runs on the session clock, the sender near the wall clock's
    # time: the default day of grace, counted on the sender's clock.
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(endpoint.id))
        .values(previous_secret_expires_at=sender_clock.now() + dt.timedelta(days=1)),
    )
    retrying = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert retrying.status == Status.WEBHOOK_DELIVERY_STATUS_RETRYING
    sender_clock.set(retrying.next_attempt_time.ToDatetime(tzinfo=dt.UTC))
    await sender.send_due()
    first, retry = receiver.received
    assert len(first.headers["webhook-signature"].split(" ")) == 1
    assert len(retry.headers["webhook-signature"].split(" ")) == 2
    assert verified(endpoint.secret, retry) == verified(rotated.secret, retry)


async def test_deleting_an_endpoint_fails_its_open_deliveries(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    receiver = await receivers(500)
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    await endpoints.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(id=endpoint.id), metadata=dev_tenant.metadata()
    )
    closed = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert closed.status == Status.WEBHOOK_DELIVERY_STATUS_FAILED
    assert closed.last_error == "its endpoint was deleted"
    assert not closed.HasField("next_attempt_time")


# ---- who gets what: dispatch rules ----------------------------------------------


async def test_a_disabled_endpoint_and_one_made_after_the_event_get_nothing(
    endpoints: Stub, customers, dev_tenant, receivers, customers_service: RunningService
) -> None:
    """While an endpoint is disabled its events are not enqueued, and an
    endpoint made after an event was published (here: as if made a day
    later) does not get it; a witness endpoint shows the event went out."""
    receiver = await receivers()
    witness = await new_endpoint(endpoints, dev_tenant, receiver.url)
    disabled = await new_endpoint(endpoints, dev_tenant, receiver.url)
    later = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await endpoints.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=pb.WebhookEndpoint(id=disabled.id, disabled=True),
            update_mask=field_mask_pb2.FieldMask(paths=["disabled"]),
        ),
        metadata=dev_tenant.metadata(),
    )
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(later.id))
        .values(created_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)),
    )
    await new_customer(customers, dev_tenant)
    await deliveries(endpoints, dev_tenant, witness.id)
    for endpoint in (disabled, later):
        found = await endpoints.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint.id),
            metadata=dev_tenant.metadata(),
        )
        assert list(found.webhook_deliveries) == []


async def test_an_endpoint_disabled_for_failing_is_announced_to_the_others(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    """The merchant's notice: `webhook_endpoint.disabled` is posted to the
    organization's endpoints that still receive."""
    gone = await receivers(410)
    listening = await receivers()
    dying = await new_endpoint(endpoints, dev_tenant, gone.url, ("customer.created",))
    other = await new_endpoint(endpoints, dev_tenant, listening.url, ("webhook_endpoint.disabled",))
    await new_customer(customers, dev_tenant)
    await deliveries(endpoints, dev_tenant, dying.id)
    await sender.send_due()  # 410: disabled, announced
    (notice,) = await deliveries(endpoints, dev_tenant, other.id)
    assert notice.event_type == "webhook_endpoint.disabled"
    await sender.send_due()
    (received,) = listening.received
    payload = verified(other.secret, received)
    assert payload["type"] == "webhook_endpoint.disabled"
    assert dying.id in str(payload["data"])
    assert "whsec_" not in received.body.decode()


# ---- senders side by side -----------------------------------------------------


async def test_two_senders_at_once_post_each_delivery_once_in_order(
    endpoints: Stub,
    customers,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    customers_service: RunningService,
    sender_clock: FrozenClock,
) -> None:
    """Replicas share the work: two senders claiming at the same moment
    never post one delivery twice, nor two of one endpoint at once (each
    endpoint still gets its sequence in order)."""
    receiver = await receivers()
    made = [await new_endpoint(endpoints, dev_tenant, receiver.url) for _ in range(3)]
    for index in range(3):
        await new_customer(customers, dev_tenant, f"c{index}@example.com")
    for endpoint in made:
        await deliveries(endpoints, dev_tenant, endpoint.id, 3)
    second = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=1.0,
        development_mode_allowed=True,
        batch_size=SENDER_BATCH,
    )
    try:
        for _ in range(6):
            await asyncio.gather(sender.send_due(), second.send_due())
    finally:
        await second.close()
    assert len(receiver.received) == 9
    by_endpoint: dict[str, list[int]] = {}
    for received in receiver.received:
        payload = None
        for endpoint in made:
            with contextlib.suppress(WebhookVerificationError):
                payload = Webhook(endpoint.secret).verify(received.body, received.headers)
                by_endpoint.setdefault(endpoint.id, []).append(payload["sequence"])
        assert payload is not None
    assert by_endpoint == {endpoint.id: [1, 2, 3] for endpoint in made}


async def test_one_organization_takes_at_most_its_share_of_the_attempts(
    endpoints: Stub,
    customers,
    dev_tenant,
    other_dev_tenant,
    receivers,
    customers_service: RunningService,
    sender_clock: FrozenClock,
) -> None:
    """With a share of two, one claim posts two of the busy organization's
    three due deliveries, and the other organization's one beside them."""
    receiver = await receivers()
    busy = [await new_endpoint(endpoints, dev_tenant, receiver.url) for _ in range(3)]
    quiet = await new_endpoint(endpoints, other_dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    await new_customer(customers, other_dev_tenant)
    for endpoint in busy:
        await deliveries(endpoints, dev_tenant, endpoint.id)
    await deliveries(endpoints, other_dev_tenant, quiet.id)
    shared = WebhookSender(
        customers_service.app.database,
        kit_tables,
        sender_clock,
        timeout_seconds=1.0,
        development_mode_allowed=True,
        batch_size=8,
        per_organization=2,
    )
    try:
        assert await shared.send_due() == 3
        assert await shared.send_due() == 1
    finally:
        await shared.close()
    organizations = [json.loads(r.body)["organization_id"] for r in receiver.received]
    assert organizations[:3].count(str(dev_tenant.organization_id)) == 2
    assert str(other_dev_tenant.organization_id) in organizations[:3]
    assert organizations[3] == str(dev_tenant.organization_id)


async def test_a_url_is_posted_to_exactly_as_stored(
    endpoints: Stub, customers, dev_tenant, receivers, sender: WebhookSender
) -> None:
    """Path parameters (`;v=1`) and the query reach the receiver as written."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url + ";v=1?source=billingos")
    await new_customer(customers, dev_tenant)
    await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    (received,) = receiver.received
    assert received.path == "/hooks;v=1?source=billingos"


async def test_a_disabled_endpoints_waiting_deliveries_fail_after_the_retention(
    endpoints: Stub, customers, dev_tenant, receivers, customers_service, sender_clock
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url)
    await new_customer(customers, dev_tenant)
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    await execute(
        customers_service.app.database,
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == uuid.UUID(endpoint.id))
        .values(disabled_at=sender_clock.now(), disabled_reason="by_request"),
    )
    kept = WebhookRetention(
        customers_service.app.database,
        FrozenClock(sender_clock.now() + KEEP_FOR - dt.timedelta(minutes=1)),
        keep_for=KEEP_FOR,
    )
    await kept.purge()
    still = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert still.status == Status.WEBHOOK_DELIVERY_STATUS_PENDING
    abandoned = WebhookRetention(
        customers_service.app.database,
        FrozenClock(sender_clock.now() + KEEP_FOR + dt.timedelta(minutes=1)),
        keep_for=KEEP_FOR,
    )
    await abandoned.purge()
    closed = await delivery(endpoints, dev_tenant, endpoint.id, queued.id)
    assert closed.status == Status.WEBHOOK_DELIVERY_STATUS_FAILED


async def test_a_checkout_event_is_posted_without_any_sensitive_field(
    endpoints: Stub,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """Whatever an emitting context left in its event, a field marked
    sensitive (a checkout session's client secret) never leaves BillingOS."""
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url, ("checkout.created",))
    await publish_event(
        servers.nats_url,
        subscription_events.CheckoutCreatedEvent(
            checkout_session=checkout_pb2.CheckoutSession(
                id=str(uuid.uuid4()),
                organization_id=str(dev_tenant.organization_id),
                client_secret="bcx_must_never_be_posted",
                customer_email="ada@example.com",
            )
        ),
        dev_tenant.organization_id,
        occur_time=session_clock.now(),
    )
    await deliveries(endpoints, dev_tenant, endpoint.id)
    await sender.send_due()
    (received,) = receiver.received
    payload = verified(endpoint.secret, received)
    assert payload["type"] == "checkout.created"
    assert payload["data"]["checkout_session"]["customer_email"] == "ada@example.com"
    assert "bcx_must_never_be_posted" not in received.body.decode()


async def test_a_completed_checkout_is_posted_without_its_client_secret(
    endpoints: Stub,
    dev_tenant,
    receivers,
    sender: WebhookSender,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    receiver = await receivers()
    endpoint = await new_endpoint(endpoints, dev_tenant, receiver.url, ("checkout.completed",))
    session_id = str(uuid.uuid4())
    await publish_event(
        servers.nats_url,
        subscription_events.CheckoutCompletedEvent(
            checkout_session=checkout_pb2.CheckoutSession(
                id=session_id,
                organization_id=str(dev_tenant.organization_id),
                status=checkout_pb2.CHECKOUT_SESSION_STATUS_COMPLETED,
                client_secret="bcx_must_never_be_posted",
                customer_email="ada@example.com",
            )
        ),
        dev_tenant.organization_id,
        occur_time=session_clock.now(),
    )
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    assert queued.event_type == "checkout.completed"
    await sender.send_due()
    (received,) = receiver.received
    payload = verified(endpoint.secret, received)
    assert payload["type"] == "checkout.completed"
    assert payload["data"]["checkout_session"]["id"] == session_id
    assert payload["data"]["checkout_session"]["status"] == "CHECKOUT_SESSION_STATUS_COMPLETED"
    assert "bcx_must_never_be_posted" not in received.body.decode()


async def test_a_portal_sign_in_link_is_posted_for_the_merchant_to_email(
    endpoints: Stub,
    customers,
    customers_service: RunningService,
    dev_tenant,
    receivers,
    sender: WebhookSender,
) -> None:
    """The one credential a webhook carries, on purpose: the merchant's
    endpoint is how the link reaches the customer; only to an endpoint that
    names the type (one taking every type never gets it). An address nobody
    has posts nothing."""
    receiver = await receivers()
    endpoint = await new_endpoint(
        endpoints, dev_tenant, receiver.url, ("customer.portal_sign_in_requested",)
    )
    catch_all = await new_endpoint(endpoints, dev_tenant, (await receivers()).url)
    customer = await new_customer(customers, dev_tenant)
    sign_in = portal_sign_in_pb2_grpc.PublicPortalSignInServiceStub(customers_service.channel)
    for email in ("nobody@example.com", "ada@example.com"):
        await sign_in.RequestPortalSignIn(
            portal_sign_in_pb2.RequestPortalSignInRequest(
                organization=dev_tenant.slug, email=email
            ),
            metadata=gateway_metadata(None),
        )
    (queued,) = await deliveries(endpoints, dev_tenant, endpoint.id)
    assert queued.event_type == "customer.portal_sign_in_requested"
    await sender.send_due()
    (received,) = receiver.received
    payload = verified(endpoint.secret, received)
    assert payload["type"] == "customer.portal_sign_in_requested"
    data = payload["data"]
    assert (data["customer_id"], data["email"]) == (customer.id, "ada@example.com")
    assert f"/portal/{dev_tenant.organization_id}/sign-in#token=bcm_" in data["sign_in_url"]
    assert data["expire_time"].endswith("Z")
    # The link works, once: the page exchanges its token.
    token = data["sign_in_url"].split("#token=", 1)[1]
    session = await sign_in.ExchangePortalSignIn(
        portal_sign_in_pb2.ExchangePortalSignInRequest(token=token),
        metadata=gateway_metadata(None),
    )
    assert session.customer_id == customer.id
    # Everything else reached the catch-all endpoint; the link did not.
    await new_customer(customers, dev_tenant, "grace@example.com")
    posted = await deliveries(endpoints, dev_tenant, catch_all.id, count=2)
    assert [d.event_type for d in posted] == ["customer.created", "customer.created"]
