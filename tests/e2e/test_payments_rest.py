"""Payments through the real Envoy gateway, with Stripe's stand-in: a
customer gets its Stripe customer (and `stripe_customer_id` shows on the
customer), a card is saved, charged off-session once, refunded; Stripe's
webhooks arrive through the gateway and are verified on their raw body."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import grpc
import httpx
import pytest
import stripe

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import payments_pb2, payments_pb2_grpc
from billingos_cli.suite import Suite
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER
from billingos_kit.testing.servers import SessionServers
from billingos_payments.signatures import sign

from .conftest import Merchant

pytestmark = pytest.mark.e2e


async def until(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.2)


async def charge(suite: Suite, merchant: Merchant, customer_id: str, amount: int) -> Any:
    """The internal charge subscriptions will make (not on the REST surface)."""
    async with grpc.aio.insecure_channel(suite.grpc_addresses["payments"]) as channel:
        admin = payments_pb2_grpc.PaymentAdminServiceStub(channel)
        return await admin.ChargeOrder(
            payments_pb2.ChargeOrderRequest(
                customer_id=customer_id,
                order_id=str(uuid.uuid4()),
                attempt_number=1,
                amount=money_pb2.Money(amount_minor=amount, currency="USD"),
            ),
            metadata=(
                (SERVICE_TOKEN_HEADER, suite.options.service_token),
                (ORGANIZATION_HEADER, merchant.organization_id),
            ),
        )


async def test_customer_card_charge_refund_through_rest(
    suite: Suite, merchant: Merchant, servers: SessionServers
) -> None:
    client = merchant.client
    created = await client.post(
        "/v1/customers", json={"email": "grace@example.com", "name": "Grace"}
    )
    assert created.status_code == 200, created.text
    customer_id = created.json()["id"]

    async def linked() -> str:
        found = await client.get(f"/v1/customers/{customer_id}")
        return str(found.json().get("stripe_customer_id") or "")

    stripe_customer_id = await until(linked)
    assert stripe_customer_id.startswith("cus_")

    intent = await client.post("/v1/setup-intents", json={"customer_id": customer_id})
    assert intent.status_code == 200, intent.text
    body = intent.json()
    assert body["client_secret"]
    assert body["status"] == "SETUP_INTENT_STATUS_REQUIRES_PAYMENT_METHOD"
    # What the checkout page's Stripe.js does with the client secret.
    browser = stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    card = await browser.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 4, "exp_year": 2033, "cvc": "123"},
        }
    )
    await browser.v1.setup_intents.confirm_async(
        body["stripe_setup_intent_id"], params={"payment_method": card.id}
    )
    synced = await client.post(f"/v1/setup-intents/{body['id']}:sync", json={})
    assert synced.status_code == 200, synced.text
    assert synced.json()["status"] == "SETUP_INTENT_STATUS_SUCCEEDED"
    methods = await client.get(f"/v1/customers/{customer_id}/payment-methods")
    [method] = methods.json()["payment_methods"]
    assert (method["brand"], method["last4"], method["is_default"]) == ("visa", "4242", True)
    assert (method["exp_month"], method["exp_year"]) == (4, 2033)

    paid = await charge(suite, merchant, customer_id, 4200)
    assert paid.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    shown = await client.get("/v1/payments", params={"customer_id": customer_id})
    [payment] = shown.json()["payments"]
    assert payment["status"] == "PAYMENT_STATUS_SUCCEEDED"
    assert payment["amount"] == {"amount_minor": "4200", "currency": "USD"}

    refunded = await client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": {"amount_minor": 1200, "currency": "USD"}, "reason": "goodwill"},
        headers={"Idempotency-Key": f"refund-{payment['id']}"},
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "REFUND_STATUS_SUCCEEDED"
    too_much = await client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": {"amount_minor": 3001, "currency": "USD"}},
    )
    assert too_much.status_code == 400
    assert too_much.json()["details"][0]["reason"] == "REFUND_EXCEEDS_REFUNDABLE"
    after = await client.get(f"/v1/payments/{payment['id']}")
    assert after.json()["amount_refunded"]["amount_minor"] == "1200"

    # The stand-in sent payment_intent.succeeded to the gateway: stored once.
    async def delivered() -> bool:
        events = await client.get(f"/v1/payments/{payment['id']}")
        return events.status_code == 200

    assert await until(delivered)


async def test_the_webhook_route_takes_a_signed_raw_body_and_refuses_a_bad_one(
    http: httpx.AsyncClient, servers: SessionServers
) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "invoice.created",
            "created": 1,
            "data": {"object": {"id": "in_1"}},
        },
        separators=(",", ":"),
    ).encode()
    from billingos_kit.clock import SystemClock

    now = SystemClock().now()
    good = sign(body, servers.stripe_webhook_secret, now)
    headers = {"Content-Type": "application/json", "Stripe-Signature": good}
    first = await http.post("/v1/stripe/webhook", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"event_id": event_id, "duplicate": False}
    again = await http.post("/v1/stripe/webhook", content=body, headers=headers)
    assert again.json()["duplicate"] is True

    for signature in ("", "t=1,v1=00", sign(body, "whsec_other", now)):
        refused = await http.post(
            "/v1/stripe/webhook",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["details"][0]["reason"] == "WEBHOOK_SIGNATURE_INVALID"
    # Bytes outside ASCII in the signature are no match, never a server error.
    stamp = int(now.timestamp())
    for raw in (
        f"t={stamp},v1=".encode() + b"\xc3\xa9\xc3\xa9",
        f"t={stamp},v1=".encode() + b"\xff",
    ):
        odd = await http.post(
            "/v1/stripe/webhook",
            content=body,
            headers=[(b"Content-Type", b"application/json"), (b"Stripe-Signature", raw)],
        )
        assert odd.status_code == 400, odd.text
    # Headers past gRPC's 8 KiB soft limit but within the gateway's 16 KiB:
    # the same answer every time (the key's own rule), never a random 429.
    long_key = "k" * 12_000
    answers = set()
    for _ in range(10):
        long = await http.post(
            "/v1/stripe/webhook", content=body, headers={**headers, "Idempotency-Key": long_key}
        )
        answers.add(long.status_code)
    assert answers <= {200, 400}, answers
    # One changed byte of the body and the signature no longer holds.
    tampered = await http.post(
        "/v1/stripe/webhook", content=body.replace(b"invoice", b"Invoice"), headers=headers
    )
    assert tampered.status_code == 400
