"""Charges: off-session, once per (order, attempt), whatever happens."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
import stripe
from sqlalchemy import func, insert, select, update

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import payments_pb2, payments_pb2_grpc
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import execute, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import running_service
from billingos_payments.app import MIGRATIONS_DIR, build_app
from billingos_payments.models import payments
from billingos_payments.settings import PaymentsSettings

from .conftest import CARD_DECLINED_ON_CHARGE, Shop, saved_card


def charge_request(
    shop: Shop, amount: int = 1999, *, order_id: uuid.UUID | None = None, attempt: int = 1
) -> payments_pb2.ChargeOrderRequest:
    return payments_pb2.ChargeOrderRequest(
        customer_id=shop.customer.id,
        order_id=str(order_id or uuid.uuid4()),
        attempt_number=attempt,
        amount=money_pb2.Money(amount_minor=amount, currency="USD"),
    )


async def attempts_of(shop: Shop, order_id: str) -> int:
    count = await scalar(
        shop.service.app.database,
        select(func.count())
        .select_from(payments)
        .where(payments.c.order_id == uuid.UUID(order_id)),
    )
    return int(count)


async def test_a_charge_with_the_default_card_succeeds_once(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    card = await saved_card(shop, stripe_client)
    assert card.is_default
    assert card.last4 == "4242"
    assert card.brand == "visa"
    request = charge_request(shop)
    paid = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert paid.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    assert paid.payment_method_id == card.id
    intent = await stripe_client.v1.payment_intents.retrieve_async(paid.stripe_payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1999, "usd")
    assert intent.metadata["billingos_payment_id"] == paid.id

    again = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert (again.id, again.stripe_payment_intent_id) == (paid.id, paid.stripe_payment_intent_id)
    assert await attempts_of(shop, request.order_id) == 1


async def test_the_same_charge_asked_for_concurrently_makes_one_payment_intent(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    await saved_card(shop, stripe_client)
    request = charge_request(shop)
    answers = await asyncio.gather(
        *(shop.admin().ChargeOrder(request, metadata=shop.metadata) for _ in range(6))
    )
    assert {answer.id for answer in answers} == {answers[0].id}
    assert {answer.stripe_payment_intent_id for answer in answers} == {
        answers[0].stripe_payment_intent_id
    }
    assert {answer.status for answer in answers} == {payments_pb2.PAYMENT_STATUS_SUCCEEDED}


async def test_a_declined_card_is_a_failed_payment_that_says_why(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    await saved_card(shop, stripe_client, CARD_DECLINED_ON_CHARGE)
    failed = await shop.admin().ChargeOrder(charge_request(shop), metadata=shop.metadata)
    assert failed.status == payments_pb2.PAYMENT_STATUS_FAILED
    assert failed.failure_code == "card_declined"
    assert failed.failure_message
    assert failed.retryable


async def test_no_payment_method_is_a_failed_attempt_without_stripe(shop: Shop) -> None:
    request = charge_request(shop)
    failed = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert failed.status == payments_pb2.PAYMENT_STATUS_FAILED
    assert failed.failure_code == "no_payment_method"
    assert failed.stripe_payment_intent_id == ""
    assert await attempts_of(shop, request.order_id) == 1


async def test_an_unknown_customer_is_a_failed_attempt_without_stripe(shop: Shop) -> None:
    request = charge_request(shop)
    request.customer_id = str(uuid.uuid4())
    failed = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert (failed.status, failed.failure_code) == (
        payments_pb2.PAYMENT_STATUS_FAILED,
        "customer_not_found",
    )
    assert not failed.retryable
    assert failed.stripe_payment_intent_id == ""


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "AMOUNT_NOT_POSITIVE"),
        (49, "AMOUNT_BELOW_MINIMUM"),
        (100_000_000, "AMOUNT_ABOVE_MAXIMUM"),
    ],
)
async def test_amounts_stripe_would_refuse_are_refused_before_anything_is_recorded(
    shop: Shop, amount: int, reason: str
) -> None:
    request = charge_request(shop, amount)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == reason
    assert error.fields == ["amount.amount_minor"]
    assert await attempts_of(shop, request.order_id) == 0


async def test_another_attempt_number_with_another_amount_is_refused(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    await saved_card(shop, stripe_client)
    request = charge_request(shop)
    await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    request.amount.amount_minor += 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert call_error(refused.value).reason == "PAYMENT_ATTEMPT_MISMATCH"


async def test_an_attempt_interrupted_after_stripe_charged_is_recorded_not_charged_again(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    """The process died after Stripe confirmed the PaymentIntent and before
    our commit: the row holds the PaymentIntent's id and says PENDING."""
    await saved_card(shop, stripe_client)
    request = charge_request(shop)
    paid = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    database = shop.service.app.database
    await execute(
        database,
        update(payments).where(payments.c.id == uuid.UUID(paid.id)).values(status="pending"),
    )
    recovered = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert recovered.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    assert recovered.stripe_payment_intent_id == paid.stripe_payment_intent_id
    assert await attempts_of(shop, request.order_id) == 1


async def test_an_attempt_interrupted_before_confirming_is_confirmed_once(
    shop: Shop, stripe_client: stripe.StripeClient
) -> None:
    """The process died after committing the unconfirmed PaymentIntent's id
    (step 2) and before confirming it: the next ask confirms that one and
    makes no other."""
    card = await saved_card(shop, stripe_client)
    stripe_card = await stripe_client.v1.payment_methods.retrieve_async(
        card.stripe_payment_method_id
    )
    intent = await stripe_client.v1.payment_intents.create_async(
        params={
            "amount": 1999,
            "currency": "usd",
            "customer": str(stripe_card.customer),
            "payment_method": card.stripe_payment_method_id,
        }
    )
    request = charge_request(shop)
    now = shop.service.app.clock.now()
    await execute(
        shop.service.app.database,
        insert(payments).values(
            id=uuid.uuid4(),
            organization_id=shop.organization_id,
            customer_id=uuid.UUID(shop.customer.id),
            order_id=uuid.UUID(request.order_id),
            attempt_number=1,
            amount_minor=1999,
            currency="USD",
            payment_method_id=uuid.UUID(card.id),
            stripe_payment_intent_id=intent.id,
            status="pending",
            retryable=True,
            amount_refunded_minor=0,
            created_at=now,
            updated_at=now,
        ),
    )
    resumed = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert resumed.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    assert resumed.stripe_payment_intent_id == intent.id
    confirmed = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert confirmed.status == "succeeded"
    assert await attempts_of(shop, request.order_id) == 1


async def test_stripe_unreachable_leaves_the_attempt_pending_and_it_resumes_once(
    shop: Shop,
    stripe_client: stripe.StripeClient,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    await saved_card(shop, stripe_client)
    request = charge_request(shop)
    async with running_service(
        PaymentsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        stripe_api_base="http://127.0.0.1:9",  # nothing listens there
        stripe_secret_key=servers.stripe_secret_key,
        stripe_timeout_seconds=2.0,
    ) as cut_off:
        admin = payments_pb2_grpc.PaymentAdminServiceStub(cut_off.channel)
        with pytest.raises(grpc.aio.AioRpcError) as unavailable:
            await admin.ChargeOrder(request, metadata=shop.metadata)
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
        assert call_error(unavailable.value).reason == "STRIPE_UNAVAILABLE"
    pending = await scalar(
        shop.service.app.database,
        select(payments.c.status).where(payments.c.order_id == uuid.UUID(request.order_id)),
    )
    assert pending == "pending"
    paid = await shop.admin().ChargeOrder(request, metadata=shop.metadata)
    assert paid.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    assert await attempts_of(shop, request.order_id) == 1
