"""Payments down during a renewal: the charger keeps the attempt requested
and asks again with backoff, never before its time; when payments is back
(the real payments service, on the Stripe stand-in) it is asked for the same
attempt, which is charged once."""

from __future__ import annotations

import datetime as dt
import socket
import uuid

import stripe

from billingos.payments.v1 import payment_methods_pb2, payment_methods_pb2_grpc
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import TEST_SERVICE_TOKEN, call_metadata
from billingos_subscriptions.charger import Charger
from billingos_subscriptions.clients import PaymentsClient
from billingos_subscriptions.models import kit_tables

from .conftest import Books, Neighbour

GOOD_CARD = "4242424242424242"


def closed_address() -> str:
    """An address nothing listens on: payments down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


async def customer_with_card(
    books: Books, payments: Neighbour, servers: SessionServers
) -> uuid.UUID:
    """A customer payments knows (its read copy, as the customers events
    leave it) with a default card saved through a SetupIntent."""
    customer_id = uuid.uuid4()
    now = books.clock.now()
    async with payments.database.transaction() as connection:
        await connection.execute(
            "INSERT INTO payments.customers (id, organization_id, email, name,"
            " source_updated_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5)",
            customer_id,
            books.organization_id,
            f"{customer_id.hex[:12]}@example.com",
            "Ada",
            now,
        )
    methods = payment_methods_pb2_grpc.PaymentMethodServiceStub(payments.channel)
    metadata = call_metadata(books.organization_id)
    intent = await methods.CreateSetupIntent(
        payment_methods_pb2.CreateSetupIntentRequest(
            setup_intent=payment_methods_pb2.SetupIntent(customer_id=str(customer_id))
        ),
        metadata=metadata,
    )
    browser = stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    card = await browser.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": GOOD_CARD, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    await browser.v1.setup_intents.confirm_async(
        intent.stripe_setup_intent_id, params={"payment_method": card.id}
    )
    synced = await methods.SyncSetupIntent(
        payment_methods_pb2.SyncSetupIntentRequest(id=intent.id), metadata=metadata
    )
    assert synced.status == payment_methods_pb2.SETUP_INTENT_STATUS_SUCCEEDED
    return customer_id


def charger(books: Books, address: str) -> tuple[Charger, PaymentsClient]:
    client = PaymentsClient(address, TEST_SERVICE_TOKEN)
    return (
        Charger(books.database, kit_tables, books.clock, client, batch_size=100, poll_seconds=0.05),
        client,
    )


async def test_a_renewal_charged_while_payments_is_down_is_charged_once_when_it_is_back(
    books: Books, payments_service: Neighbour, servers: SessionServers
) -> None:
    customer_id = await customer_with_card(books, payments_service, servers)
    start = books.clock.now() - dt.timedelta(days=40)
    sub = await books.subscription(start=start, customer_id=customer_id)
    assert await books.scheduler().run_once() == 1
    [order] = await books.orders(sub.id)
    renewed_at = books.clock.now()

    down, down_client = charger(books, closed_address())
    try:
        assert await down.run_once() == 1
        [attempt] = await books.attempts(order.id)
        assert (attempt.status, attempt.send_tries) == ("requested", 1)
        assert attempt.send_at == renewed_at + dt.timedelta(seconds=2)
        assert await down.run_once() == 0  # not asked again before its time
        books.clock.advance(dt.timedelta(seconds=2))
        assert await down.run_once() == 1
        [attempt] = await books.attempts(order.id)
        assert (attempt.attempt_number, attempt.status, attempt.send_tries) == (1, "requested", 2)
        assert attempt.send_at == books.clock.now() + dt.timedelta(seconds=4)
    finally:
        await down_client.close()
    [pending] = await books.orders(sub.id)
    assert (pending.status, pending.amount_paid_minor) == ("pending", 0)

    books.clock.advance(dt.timedelta(seconds=4))
    back, back_client = charger(books, payments_service.address)
    try:
        assert await back.run_once() == 1
        assert await back.run_once() == 0
    finally:
        await back_client.close()

    [paid] = await books.orders(sub.id)
    assert (paid.status, paid.amount_paid_minor) == ("paid", 2000)
    [attempt] = await books.attempts(order.id)
    assert (attempt.attempt_number, attempt.status, attempt.send_at) == (1, "succeeded", None)
    async with payments_service.database.connection() as connection:
        charges = await connection.fetch(
            "SELECT id, attempt_number, status, amount_minor FROM payments.payments"
            " WHERE order_id = $1",
            order.id,
        )
    assert [(c["attempt_number"], c["status"], c["amount_minor"]) for c in charges] == [
        (1, "succeeded", 2000)
    ]
    assert attempt.payment_id == charges[0]["id"]
