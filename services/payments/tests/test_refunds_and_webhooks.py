"""Refunds never exceed what was paid; webhooks are verified, stored once,
and applied whatever their order."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import grpc
import pytest
import stripe
from google.api import httpbody_pb2
from sqlalchemy import func, select

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import (
    payment_methods_pb2,
    payments_pb2,
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata
from billingos_payments.models import payment_methods, stripe_events
from billingos_payments.signatures import SIGNATURE_HEADER, sign

from .conftest import CARD_OK, Shop, eventually, saved_card
from .test_charges import charge_request


async def paid(
    shop: Shop, stripe_client: stripe.StripeClient, amount: int = 5000
) -> payments_pb2.Payment:
    await saved_card(shop, stripe_client)
    payment: payments_pb2.Payment = await shop.admin().ChargeOrder(
        charge_request(shop, amount), metadata=shop.metadata
    )
    assert payment.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    return payment


def refund_request(payment_id: str, amount: int | None = None) -> payments_pb2.CreateRefundRequest:
    refund = payments_pb2.Refund(payment_id=payment_id, reason="requested")
    if amount is not None:
        refund.amount.CopyFrom(money_pb2.Money(amount_minor=amount, currency="USD"))
    return payments_pb2.CreateRefundRequest(refund=refund)


async def test_partial_then_full_refunds_stop_at_what_was_paid(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    payment = await paid(shop, stripe_client)
    first = await shop.payments().CreateRefund(
        refund_request(payment.id, 1500), metadata=shop.metadata
    )
    assert first.status == payments_pb2.REFUND_STATUS_SUCCEEDED
    assert first.stripe_refund_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.payments().CreateRefund(refund_request(payment.id, 3501), metadata=shop.metadata)
    assert call_error(refused.value).reason == "REFUND_EXCEEDS_REFUNDABLE"
    rest = await shop.payments().CreateRefund(refund_request(payment.id), metadata=shop.metadata)
    assert rest.amount.amount_minor == 3500
    after = await shop.payments().GetPayment(
        payments_pb2.GetPaymentRequest(id=payment.id), metadata=shop.metadata
    )
    assert after.amount_refunded.amount_minor == 5000
    listed = await shop.payments().ListRefunds(
        payments_pb2.ListRefundsRequest(payment_id=payment.id), metadata=shop.metadata
    )
    assert [refund.id for refund in listed.refunds] == [rest.id, first.id]


async def test_concurrent_refunds_never_exceed_the_payment(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    payment = await paid(shop, stripe_client, 3000)
    answers = await asyncio.gather(
        *(
            shop.payments().CreateRefund(refund_request(payment.id, 1000), metadata=shop.metadata)
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    made = [answer for answer in answers if isinstance(answer, payments_pb2.Refund)]
    refused = [answer for answer in answers if isinstance(answer, grpc.aio.AioRpcError)]
    assert len(made) == 3
    assert len(refused) == 2
    assert {call_error(error).reason for error in refused} == {"REFUND_EXCEEDS_REFUNDABLE"}


async def test_another_organizations_payment_and_card_are_not_found(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    payment = await paid(shop, stripe_client)
    stranger = call_metadata(uuid.uuid4())
    for call in (
        shop.payments().GetPayment(
            payments_pb2.GetPaymentRequest(id=payment.id), metadata=stranger
        ),
        shop.payments().CreateRefund(refund_request(payment.id), metadata=stranger),
        shop.methods().GetPaymentMethod(
            payment_methods_pb2.GetPaymentMethodRequest(id=payment.payment_method_id),
            metadata=stranger,
        ),
        shop.methods().DetachPaymentMethod(
            payment_methods_pb2.DetachPaymentMethodRequest(id=payment.payment_method_id),
            metadata=stranger,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await call
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await shop.payments().ListPayments(
        payments_pb2.ListPaymentsRequest(customer_id=shop.customer.id), metadata=stranger
    )
    assert list(listed.payments) == []


async def test_a_second_card_is_not_the_default_until_made_so_and_detach_is_once(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    first = await saved_card(shop, stripe_client)
    second = await saved_card(shop, stripe_client, CARD_OK)
    assert first.is_default
    assert not second.is_default
    made = await shop.methods().SetDefaultPaymentMethod(
        payment_methods_pb2.SetDefaultPaymentMethodRequest(id=second.id), metadata=shop.metadata
    )
    assert made.is_default
    listed = await shop.methods().ListPaymentMethods(
        payment_methods_pb2.ListPaymentMethodsRequest(customer_id=shop.customer.id),
        metadata=shop.metadata,
    )
    assert {(m.id, m.is_default) for m in listed.payment_methods} == {
        (first.id, False),
        (second.id, True),
    }
    detached = await shop.methods().DetachPaymentMethod(
        payment_methods_pb2.DetachPaymentMethodRequest(id=second.id), metadata=shop.metadata
    )
    again = await shop.methods().DetachPaymentMethod(
        payment_methods_pb2.DetachPaymentMethodRequest(id=second.id), metadata=shop.metadata
    )
    assert detached.HasField("detach_time")
    assert again.detach_time == detached.detach_time
    failed = await shop.admin().ChargeOrder(charge_request(shop), metadata=shop.metadata)
    assert failed.failure_code == "no_payment_method"  # no default left


# ---- webhooks ---------------------------------------------------------------


def webhook(body: bytes, signature: str | None) -> dict[str, Any]:
    metadata = call_metadata()
    if signature is not None:
        metadata = (*metadata, (SIGNATURE_HEADER, signature))
    request = webhooks_pb2.ReceiveStripeWebhookRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )
    return {"request": request, "metadata": metadata}


def event_body(event_type: str, obj: dict[str, object], event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": 1_767_225_600,
            "data": {"object": obj},
        }
    ).encode()


async def stored(service: RunningService, event_id: str) -> int:
    count = await scalar(
        service.app.database,
        select(func.count()).select_from(stripe_events).where(stripe_events.c.id == event_id),
    )
    return int(count)


@pytest.mark.parametrize(
    ("signature_of", "why"),
    [
        (lambda body, secret, now: None, "missing"),
        (lambda body, secret, now: sign(body, "whsec_wrong", now), "wrong"),
        (lambda body, secret, now: sign(body, secret, now - dt.timedelta(minutes=6)), "stale"),
        (lambda body, secret, now: sign(body + b" ", secret, now), "another body"),
        (lambda body, secret, now: "t=abc,v1=", "malformed"),
    ],
)
async def test_a_webhook_without_a_valid_recent_signature_is_refused_and_not_stored(
    payments_service: RunningService,
    servers: SessionServers,
    session_clock: FrozenClock,
    signature_of: object,
    why: str,
) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = event_body("payment_intent.succeeded", {"id": "pi_x"}, event_id)
    signature = signature_of(body, servers.stripe_webhook_secret, session_clock.now())  # type: ignore[operator]
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(payments_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ReceiveStripeWebhook(**webhook(body, signature))
    error = call_error(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "WEBHOOK_SIGNATURE_INVALID",
    ), why
    assert await stored(payments_service, event_id) == 0


async def test_a_webhook_is_stored_once_and_unknown_types_are_kept_and_ignored(
    payments_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = event_body("invoice.created", {"id": "in_1"}, event_id)
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(payments_service.channel)
    signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
    first = await stub.ReceiveStripeWebhook(**webhook(body, signature))
    second = await stub.ReceiveStripeWebhook(**webhook(body, signature))
    assert (first.event_id, first.duplicate, second.duplicate) == (event_id, False, True)
    assert await stored(payments_service, event_id) == 1

    async def outcome() -> str | None:
        found = await scalar(
            payments_service.app.database,
            select(stripe_events.c.outcome).where(stripe_events.c.id == event_id),
        )
        return found if isinstance(found, str) else None

    assert await eventually(outcome) == "ignored"


async def test_a_setup_intent_webhook_and_a_sync_record_the_card_once(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    intent = await shop.methods().CreateSetupIntent(
        payment_methods_pb2.CreateSetupIntentRequest(
            setup_intent=payment_methods_pb2.SetupIntent(customer_id=shop.customer.id)
        ),
        metadata=shop.metadata,
    )
    card = await stripe_client.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": CARD_OK, "exp_month": 1, "exp_year": 2035, "cvc": "123"},
        }
    )
    confirmed = await stripe_client.v1.setup_intents.confirm_async(
        intent.stripe_setup_intent_id, params={"payment_method": card.id}
    )
    body = event_body("setup_intent.succeeded", confirmed.to_dict())
    stub = webhooks_pb2_grpc.StripeWebhookServiceStub(shop.service.channel)
    signature = sign(body, servers.stripe_webhook_secret, session_clock.now())
    await asyncio.gather(
        stub.ReceiveStripeWebhook(**webhook(body, signature)),
        shop.methods().SyncSetupIntent(
            payment_methods_pb2.SyncSetupIntentRequest(id=intent.id), metadata=shop.metadata
        ),
    )

    async def recorded() -> int | None:
        count = await scalar(
            shop.service.app.database,
            select(func.count())
            .select_from(payment_methods)
            .where(payment_methods.c.stripe_payment_method_id == card.id),
        )
        return int(count) or None

    assert await eventually(recorded) == 1
    await asyncio.sleep(1.0)  # the webhook's processing, if it were to add one
    assert await recorded() == 1
