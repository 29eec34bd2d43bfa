"""Refunds that an interruption left half done are finished or settled,
never made twice; refunds made outside BillingOS become known; failed
PaymentIntents are closed; webhook retries back off."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
import stripe
from sqlalchemy import insert, select

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import (
    payment_methods_pb2,
    payments_pb2,
    payments_pb2_grpc,
    webhooks_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import execute, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service
from billingos_payments.app import MIGRATIONS_DIR, build_app
from billingos_payments.models import kit_tables, payments, refunds, stripe_events
from billingos_payments.refund_sweep import UnsentRefundSweep
from billingos_payments.settings import PaymentsSettings
from billingos_payments.signatures import sign
from billingos_payments.stripe_gateway import StripeGateway
from billingos_payments.webhooks import RETRY_BASE

from .conftest import CARD_DECLINED_ON_CHARGE, Shop, eventually, saved_card
from .test_charges import charge_request
from .test_refunds_and_webhooks import event_body, paid, refund_request, webhook


def keyed(shop: Shop, key: str) -> tuple[tuple[str, str], ...]:
    return call_metadata(shop.organization_id, idempotency_key=key)


async def stripe_refunds_of(stripe_client: stripe.StripeClient, intent: str) -> list[stripe.Refund]:
    page = await stripe_client.v1.refunds.list_async(params={"payment_intent": intent})
    return list(page.data)


async def refundable(shop: Shop, payment_id: str) -> int:
    payment = await shop.payments().GetPayment(
        payments_pb2.GetPaymentRequest(id=payment_id), metadata=shop.metadata
    )
    return int(payment.amount.amount_minor - payment.amount_refunded.amount_minor)


@asynccontextmanager
async def stripe_cut_off(
    servers: SessionServers, clock: FrozenClock
) -> AsyncIterator[RunningService]:
    """A second payments process, on the same database, that cannot reach Stripe."""
    async with running_service(
        PaymentsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        clock,
        stripe_api_base="http://127.0.0.1:9",  # nothing listens there
        stripe_secret_key=servers.stripe_secret_key,
        stripe_timeout_seconds=2.0,
    ) as service:
        yield service


async def unsent_refund(
    shop: Shop, servers: SessionServers, clock: FrozenClock, payment_id: str, key: str | None
) -> str:
    """A refund recorded while Stripe could not be reached: its id."""
    async with stripe_cut_off(servers, clock) as cut_off:
        stub = payments_pb2_grpc.PaymentServiceStub(cut_off.channel)
        metadata = keyed(shop, key) if key else shop.metadata
        with pytest.raises(grpc.aio.AioRpcError) as unavailable:
            await stub.CreateRefund(refund_request(payment_id, 1200), metadata=metadata)
    assert call_error(unavailable.value).reason == "STRIPE_UNAVAILABLE"
    found = await scalar(
        shop.service.app.database,
        select(refunds.c.id)
        .where(refunds.c.payment_id == uuid.UUID(payment_id), refunds.c.status == "pending")
        .order_by(refunds.c.id.desc())  # the newest: UUIDv7
        .limit(1),
    )
    assert isinstance(found, uuid.UUID)
    return str(found)


async def test_twins_with_one_idempotency_key_make_one_refund(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    """The refund commits midway (before Stripe is asked); the key is held
    across that commit, so a twin waits and gets the first one's answer."""
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    answers = await asyncio.gather(
        *(
            shop.payments().CreateRefund(refund_request(payment.id, 700), metadata=keyed(shop, key))
            for _ in range(4)
        )
    )
    assert len({answer.id for answer in answers}) == 1
    assert len(await stripe_refunds_of(stripe_client, payment.stripe_payment_intent_id)) == 1
    assert await refundable(shop, payment.id) == 5000 - 700


async def test_a_refund_stripe_never_answered_is_finished_by_its_retry_with_the_key(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    refund_id = await unsent_refund(shop, servers, session_clock, payment.id, key)
    assert await refundable(shop, payment.id) == 5000 - 1200  # reserved meanwhile
    finished = await shop.payments().CreateRefund(
        refund_request(payment.id, 1200), metadata=keyed(shop, key)
    )
    again = await shop.payments().CreateRefund(
        refund_request(payment.id, 1200), metadata=keyed(shop, key)
    )
    assert finished.id == again.id == refund_id
    assert finished.status == payments_pb2.REFUND_STATUS_SUCCEEDED
    made = await stripe_refunds_of(stripe_client, payment.stripe_payment_intent_id)
    assert [refund.id for refund in made] == [finished.stripe_refund_id]
    assert await refundable(shop, payment.id) == 5000 - 1200


async def test_a_refund_whose_answer_was_lost_is_found_at_stripe_not_made_again(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """Stripe made the refund and the answer never came back: the retry
    finds it by our id in its metadata."""
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    refund_id = await unsent_refund(shop, servers, session_clock, payment.id, key)
    at_stripe = await stripe_client.v1.refunds.create_async(
        params={
            "payment_intent": payment.stripe_payment_intent_id,
            "amount": 1200,
            "metadata": {"billingos_refund_id": refund_id},
        }
    )
    finished = await shop.payments().CreateRefund(
        refund_request(payment.id, 1200), metadata=keyed(shop, key)
    )
    assert (finished.id, finished.stripe_refund_id) == (refund_id, at_stripe.id)
    assert len(await stripe_refunds_of(stripe_client, payment.stripe_payment_intent_id)) == 1


async def test_the_same_key_for_another_refund_is_refused(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    await unsent_refund(shop, servers, session_clock, payment.id, key)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.payments().CreateRefund(
            refund_request(payment.id, 900), metadata=keyed(shop, key)
        )
    assert call_error(refused.value).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_the_sweep_cancels_a_refund_that_never_reached_stripe_and_takes_one_that_did(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    payment = await paid(shop, stripe_client, 6000)
    never_sent = await unsent_refund(shop, servers, session_clock, payment.id, None)
    answer_lost = await unsent_refund(shop, servers, session_clock, payment.id, None)
    at_stripe = await stripe_client.v1.refunds.create_async(
        params={
            "payment_intent": payment.stripe_payment_intent_id,
            "amount": 1200,
            "metadata": {"billingos_refund_id": answer_lost},
        }
    )
    assert await refundable(shop, payment.id) == 6000 - 2400
    gateway = StripeGateway(servers.stripe_secret_key, servers.stripe_api_base, timeout_seconds=10)
    sweep = UnsentRefundSweep(
        shop.service.app.database,
        kit_tables,
        FrozenClock(session_clock.now() + dt.timedelta(hours=1)),
        gateway,
        unsent_after=dt.timedelta(minutes=15),
        poll_seconds=60,
    )
    assert await sweep.sweep() >= 1
    canceled = await shop.payments().GetRefund(
        payments_pb2.GetRefundRequest(id=never_sent), metadata=shop.metadata
    )
    assert canceled.status == payments_pb2.REFUND_STATUS_CANCELED
    assert canceled.failure_reason == "never_reached_stripe"
    taken = await shop.payments().GetRefund(
        payments_pb2.GetRefundRequest(id=answer_lost), metadata=shop.metadata
    )
    assert (taken.status, taken.stripe_refund_id) == (
        payments_pb2.REFUND_STATUS_SUCCEEDED,
        at_stripe.id,
    )
    assert await refundable(shop, payment.id) == 6000 - 1200
    await sweep.sweep()  # a second round changes nothing of ours
    again = await shop.payments().GetRefund(
        payments_pb2.GetRefundRequest(id=never_sent), metadata=shop.metadata
    )
    assert again.status == payments_pb2.REFUND_STATUS_CANCELED
    assert await refundable(shop, payment.id) == 6000 - 1200


async def test_a_refund_made_in_stripes_dashboard_is_learnt_from_its_webhook(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """The stand-in announces `refund.created` as Stripe does; payments
    reads the PaymentIntent's refunds and records the one it did not make."""
    payment = await paid(shop, stripe_client)
    outside = await stripe_client.v1.refunds.create_async(
        params={"payment_intent": payment.stripe_payment_intent_id, "amount": 800}
    )
    # What the stand-in sends the suite's gateway, sent here straight to the service.
    body = event_body("refund.created", outside.to_dict())
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(shop.service.channel)
    signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
    await stub.ReceiveStripeWebhook(**webhook(body, signature))

    async def learnt() -> payments_pb2.Refund | None:
        listed = await shop.payments().ListRefunds(
            payments_pb2.ListRefundsRequest(payment_id=payment.id), metadata=shop.metadata
        )
        found = [r for r in listed.refunds if r.stripe_refund_id == outside.id]
        return found[0] if found else None

    refund = await eventually(learnt)
    assert refund.amount.amount_minor == 800
    assert refund.status == payments_pb2.REFUND_STATUS_SUCCEEDED
    assert await refundable(shop, payment.id) == 5000 - 800
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.payments().CreateRefund(refund_request(payment.id, 4201), metadata=shop.metadata)
    assert call_error(refused.value).reason == "REFUND_EXCEEDS_REFUNDABLE"


async def test_a_refund_amount_needs_the_payments_currency(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    payment = await paid(shop, stripe_client)
    for currency, why in (("", "is required"), ("EUR", "payment's currency"), ("ZZZ", "ISO")):
        request = payments_pb2.CreateRefundRequest(
            refund=payments_pb2.Refund(
                payment_id=payment.id,
                amount=money_pb2.Money(amount_minor=100, currency=currency),
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.payments().CreateRefund(request, metadata=shop.metadata)
        error = call_error(refused.value)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.fields == ["refund.amount.currency"]
        assert why in error.message
    lower = payments_pb2.CreateRefundRequest(
        refund=payments_pb2.Refund(
            payment_id=payment.id, amount=money_pb2.Money(amount_minor=100, currency="usd")
        )
    )
    made = await shop.payments().CreateRefund(lower, metadata=shop.metadata)
    assert made.amount.currency == "USD"


async def test_a_declined_attempts_payment_intent_is_canceled_at_stripe(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    await saved_card(shop, stripe_client, CARD_DECLINED_ON_CHARGE)
    failed = await shop.admin().ChargeOrder(charge_request(shop), metadata=shop.metadata)
    assert failed.status == payments_pb2.PAYMENT_STATUS_FAILED
    intent = await stripe_client.v1.payment_intents.retrieve_async(failed.stripe_payment_intent_id)
    assert intent.status == "canceled"


async def test_another_organizations_customer_has_no_payment_methods_to_list(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    await saved_card(shop, stripe_client)
    for metadata, customer_id in (
        (call_metadata(uuid.uuid4()), shop.customer.id),
        (shop.metadata, str(uuid.uuid4())),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await shop.methods().ListPaymentMethods(
                payment_methods_pb2.ListPaymentMethodsRequest(customer_id=customer_id),
                metadata=metadata,
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    mine = await shop.methods().ListPaymentMethods(
        payment_methods_pb2.ListPaymentMethodsRequest(customer_id=shop.customer.id),
        metadata=shop.metadata,
    )
    assert len(mine.payment_methods) == 1


async def test_a_webhook_that_fails_waits_out_its_backoff(
    shop: Shop, servers: SessionServers, session_clock: FrozenClock
) -> None:
    """A PaymentIntent Stripe does not know (its read fails): the event is
    kept with its error and not tried again before its backoff ends (the
    session's clock does not move)."""
    now = session_clock.now()
    ghost = f"pi_{uuid.uuid4().hex[:24]}"
    await execute(
        shop.service.app.database,
        insert(payments).values(
            id=uuid.uuid4(),
            organization_id=shop.organization_id,
            customer_id=uuid.UUID(shop.customer.id),
            order_id=uuid.uuid4(),
            attempt_number=1,
            amount_minor=1000,
            currency="USD",
            stripe_payment_intent_id=ghost,
            status="pending",
            retryable=True,
            amount_refunded_minor=0,
            created_at=now,
            updated_at=now,
        ),
    )
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = event_body("payment_intent.succeeded", {"id": ghost}, event_id)
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(shop.service.channel)
    await stub.ReceiveStripeWebhook(**webhook(body, sign(body, servers.stripe_webhook_secret, now)))

    async def tried() -> tuple[int, str, dt.datetime] | None:
        database = shop.service.app.database
        row = await scalar(
            database,
            select(stripe_events.c.attempts).where(stripe_events.c.id == event_id),
        )
        if not row:
            return None
        error = await scalar(
            database, select(stripe_events.c.last_error).where(stripe_events.c.id == event_id)
        )
        due = await scalar(
            database,
            select(stripe_events.c.next_attempt_at).where(stripe_events.c.id == event_id),
        )
        return int(row), str(error), due

    attempts, error, due = await eventually(tried)
    assert attempts == 1
    assert error
    assert due == now + RETRY_BASE
    await asyncio.sleep(1.5)  # several polling rounds
    later = await tried()
    assert later is not None
    assert later[0] == 1


async def test_without_a_signing_secret_webhooks_are_a_server_error_stripe_retries(
    servers: SessionServers, session_clock: FrozenClock
) -> None:
    async with running_service(
        PaymentsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        stripe_api_base=servers.stripe_api_base,
        stripe_secret_key=servers.stripe_secret_key,
    ) as unconfigured:
        body = event_body("payment_intent.succeeded", {"id": "pi_x"})
        signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
        stub = webhooks_pb2_grpc.StripeWebhookServiceStub(unconfigured.channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.ReceiveStripeWebhook(**webhook(body, signature))
    error = call_error(failed.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "WEBHOOK_SECRET_UNSET")


async def test_a_retry_asking_for_more_or_for_everything_with_the_key_is_refused(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """The first run failed midway, so no response was stored for the kit
    to compare: the refund's own digest of the request does it."""
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    await unsent_refund(shop, servers, session_clock, payment.id, key)
    for changed in (refund_request(payment.id), refund_request(payment.id, 1200)):
        changed.refund.reason = changed.refund.reason + " (edited)"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.payments().CreateRefund(changed, metadata=keyed(shop, key))
        assert call_error(refused.value).reason == "IDEMPOTENCY_KEY_REUSED"
    whole = refund_request(payment.id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.payments().CreateRefund(whole, metadata=keyed(shop, key))
    assert call_error(refused.value).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_a_refund_the_sweep_canceled_answers_so_on_its_retry(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    refund_id = await unsent_refund(shop, servers, session_clock, payment.id, key)
    await later_sweep(shop, servers, session_clock).sweep()
    for _ in range(2):  # the same answer every time
        with pytest.raises(grpc.aio.AioRpcError) as canceled:
            await shop.payments().CreateRefund(
                refund_request(payment.id, 1200), metadata=keyed(shop, key)
            )
        assert call_error(canceled.value).reason == "REFUND_CANCELED"
    assert await refundable(shop, payment.id) == 5000
    assert await stripe_refunds_of(stripe_client, payment.stripe_payment_intent_id) == []
    assert refund_id


async def test_stripes_record_wins_over_our_cancel_and_is_counted_once(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    """The sweep canceled a refund it could not find at Stripe; Stripe then
    shows it made (it was in flight): money went back, so it counts again,
    once, however often it is reconciled."""
    payment = await paid(shop, stripe_client)
    refund_id = await unsent_refund(shop, servers, session_clock, payment.id, None)
    sweep = later_sweep(shop, servers, session_clock)
    await sweep.sweep()
    assert await refundable(shop, payment.id) == 5000
    at_stripe = await stripe_client.v1.refunds.create_async(
        params={
            "payment_intent": payment.stripe_payment_intent_id,
            "amount": 1200,
            "metadata": {"billingos_refund_id": refund_id},
        }
    )
    for _ in range(2):
        await deliver(shop, servers, session_clock, "refund.created", at_stripe.to_dict())
    refund = await eventually(lambda: refund_with_stripe_id(shop, refund_id, at_stripe.id))
    assert refund.status == payments_pb2.REFUND_STATUS_SUCCEEDED
    await asyncio.sleep(1.0)  # the second delivery's processing
    assert await refundable(shop, payment.id) == 5000 - 1200


async def test_a_dashboard_refund_that_leaves_no_room_fails_our_unsent_one(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    payment = await paid(shop, stripe_client)
    key = f"refund-{uuid.uuid4()}"
    unsent = await unsent_refund(shop, servers, session_clock, payment.id, key)
    outside = await stripe_client.v1.refunds.create_async(
        params={"payment_intent": payment.stripe_payment_intent_id, "amount": 5000}
    )
    await deliver(shop, servers, session_clock, "refund.created", outside.to_dict())

    async def failed() -> payments_pb2.Refund | None:
        found = await shop.payments().GetRefund(
            payments_pb2.GetRefundRequest(id=unsent), metadata=shop.metadata
        )
        return found if found.status == payments_pb2.REFUND_STATUS_FAILED else None

    assert (await eventually(failed)).failure_reason == "refunded_elsewhere"
    assert await refundable(shop, payment.id) == 0
    with pytest.raises(grpc.aio.AioRpcError) as answer:
        await shop.payments().CreateRefund(
            refund_request(payment.id, 1200), metadata=keyed(shop, key)
        )
    assert call_error(answer.value).reason == "REFUND_FAILED"
    assert len(await stripe_refunds_of(stripe_client, payment.stripe_payment_intent_id)) == 1


def later_sweep(shop: Shop, servers: SessionServers, clock: FrozenClock) -> UnsentRefundSweep:
    """The sweep as it runs an hour after the session's clock."""
    return UnsentRefundSweep(
        shop.service.app.database,
        kit_tables,
        FrozenClock(clock.now() + dt.timedelta(hours=1)),
        StripeGateway(servers.stripe_secret_key, servers.stripe_api_base, timeout_seconds=10),
        unsent_after=dt.timedelta(minutes=15),
        poll_seconds=60,
    )


async def deliver(
    shop: Shop, servers: SessionServers, clock: FrozenClock, event_type: str, obj: dict[str, object]
) -> None:
    """A Stripe event, signed, straight to the service (the gateway's part)."""
    body = event_body(event_type, obj)
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(shop.service.channel)
    await stub.ReceiveStripeWebhook(
        **webhook(body, sign(body, servers.stripe_webhook_secret, clock.now()))
    )


async def refund_with_stripe_id(
    shop: Shop, refund_id: str, stripe_id: str
) -> payments_pb2.Refund | None:
    found = await shop.payments().GetRefund(
        payments_pb2.GetRefundRequest(id=refund_id), metadata=shop.metadata
    )
    return found if found.stripe_refund_id == stripe_id else None


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "evt_nan", "type": "x", "created": NaN}',
        b'{"id": "evt_nul", "type": "x", "data": {"object": {"id": "a\\u0000b"}}}',
        b'{"id": "evt_sur", "type": "x", "data": {"object": {"id": "\\ud800"}}}',
        b'{"id": "evt_deep", "type": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'["evt_list"]',
    ],
    ids=["nan", "nul", "lone-surrogate", "deep", "not-an-object"],
)
async def test_signed_bodies_postgres_cannot_store_are_a_400_not_a_500(
    payments_service: RunningService,
    servers: SessionServers,
    session_clock: FrozenClock,
    body: bytes,
) -> None:
    signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(payments_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReceiveStripeWebhook(**webhook(body, signature))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_signed_event_with_a_huge_created_is_stored(
    payments_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = (
        b'{"id": "'
        + event_id.encode()
        + b'", "type": "invoice.created", "created": '
        + str(2**70).encode()
        + b', "data": {"object": {"id": "in_1"}}}'
    )
    signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(payments_service.channel)
    answer = await stub.ReceiveStripeWebhook(**webhook(body, signature))
    assert answer.event_id == event_id


@pytest.mark.parametrize("stamp", ["99999999999999999999", "253402300800", "-99999999999"])
async def test_a_signature_timestamp_past_any_date_is_outside_the_tolerance(
    payments_service: RunningService, stamp: str
) -> None:
    body = event_body("payment_intent.succeeded", {"id": "pi_x"})
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(payments_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReceiveStripeWebhook(**webhook(body, f"t={stamp},v1=00"))
    assert call_error(refused.value).reason == "WEBHOOK_SIGNATURE_INVALID"
