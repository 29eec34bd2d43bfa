"""The customer portal's cards through the real Envoy gateway, the whole
suite running: the merchant (API key) makes a customer and a customer
session; the customer's page (session token) starts a SetupIntent, confirms
it against the Stripe stand-in as Stripe.js would (publishable key and
client secret only), syncs it, lists its cards (no Stripe ids), makes one
the default and removes them. Hostile tries: an API key on a portal route,
the token on the merchant's routes, another customer's card and
SetupIntent, of the same merchant or another."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from billingos_cli.suite import Suite
from billingos_kit.testing.http import error_of

from .conftest import Merchant

pytestmark = pytest.mark.e2e

CARDS = "/v1/customer-portal/payment-methods"
SETUP_INTENTS = "/v1/customer-portal/setup-intents"


async def session_for(merchant: Merchant, email: str = "ada@example.com") -> tuple[str, str]:
    """A new customer of the merchant's and a session for it: (id, token)."""
    created = await merchant.client.post("/v1/customers", json={"email": email, "name": "Ada"})
    assert created.status_code == 200, created.text
    customer_id = str(created.json()["id"])
    session = await merchant.client.post("/v1/customer-sessions", json={"customer_id": customer_id})
    assert session.status_code == 200, session.text
    return customer_id, str(session.json()["token"])


def browser(suite: Suite, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=suite.rest_url, headers={"Authorization": f"Bearer {token}"}, timeout=20
    )


async def confirm_with_stripe_js(suite: Suite, intent: dict[str, Any]) -> None:
    """What Stripe.js's confirmCardSetup does against the stand-in: the
    page, with only what the portal gave it, confirms the SetupIntent."""
    secret = intent["client_secret"]
    async with httpx.AsyncClient(timeout=10) as stripe:
        confirmed = await stripe.post(
            f"{suite.stripe_api_base}/v1/setup_intents/{secret.split('_secret_')[0]}/confirm",
            json={
                "key": intent["publishable_key"],
                "client_secret": secret,
                "use_stripe_sdk": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {
                        "number": "4242424242424242",
                        "exp_month": "12",
                        "exp_year": "2034",
                        "cvc": "123",
                    },
                },
            },
        )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded", confirmed.text


async def add_card(suite: Suite, page: httpx.AsyncClient) -> str:
    """A card saved through the portal; its id."""
    started = await page.post(SETUP_INTENTS, json={})
    assert started.status_code == 200, started.text
    await confirm_with_stripe_js(suite, started.json())
    synced = await page.post(f"{SETUP_INTENTS}/{started.json()['id']}:sync", json={})
    assert synced.status_code == 200, synced.text
    assert synced.json()["status"] == "SETUP_INTENT_STATUS_SUCCEEDED", synced.text
    return str(synced.json()["payment_method_id"])


async def defaults(page: httpx.AsyncClient) -> dict[str, bool]:
    listed = await page.get(CARDS)
    assert listed.status_code == 200, listed.text
    return {
        card["id"]: card.get("is_default", False)
        for card in listed.json().get("payment_methods", [])
    }


async def test_a_customer_adds_chooses_and_removes_its_cards(
    suite: Suite, merchant: Merchant
) -> None:
    customer_id, token = await session_for(merchant)
    async with browser(suite, token) as page:
        assert await defaults(page) == {}
        retry_safe = {"Idempotency-Key": f"add-card-{uuid.uuid4()}"}
        started = await page.post(SETUP_INTENTS, json={}, headers=retry_safe)
        assert started.status_code == 200, started.text
        intent = started.json()
        assert intent["status"] == "SETUP_INTENT_STATUS_REQUIRES_PAYMENT_METHOD"
        assert intent["publishable_key"] == suite.stripe_publishable_key
        assert intent["stripe_js_url"] == suite.stripe_js_url
        assert intent["client_secret"].startswith("seti_")
        # A retry with the same key (an answer lost on the way) gets the same
        # SetupIntent, its secret too.
        replayed = await page.post(SETUP_INTENTS, json={}, headers=retry_safe)
        assert replayed.json() == intent
        await confirm_with_stripe_js(suite, intent)
        synced = await page.post(f"{SETUP_INTENTS}/{intent['id']}:sync", json={})
        assert synced.status_code == 200, synced.text
        first = synced.json()["payment_method_id"]

        listed = (await page.get(CARDS)).json()["payment_methods"]
        assert [
            (c["id"], c["brand"], c["last4"], c["exp_month"], c["exp_year"]) for c in listed
        ] == [(first, "visa", "4242", 12, 2034)]
        assert listed[0]["is_default"] is True
        assert not any("stripe" in name for name in listed[0])
        assert "pm_" not in str(listed)
        # The merchant sees the same card on its customer.
        merchants = await merchant.client.get(f"/v1/customers/{customer_id}/payment-methods")
        assert [c["id"] for c in merchants.json()["payment_methods"]] == [first]

        second = await add_card(suite, page)
        assert await defaults(page) == {first: True, second: False}
        made = await page.post(f"{CARDS}/{second}:set-default", json={})
        assert made.status_code == 200, made.text
        assert await defaults(page) == {first: False, second: True}

        # Removing the default card: the other one takes its place.
        removed = await page.post(f"{CARDS}/{second}:detach", json={})
        assert removed.status_code == 200, removed.text
        assert removed.json()["detach_time"]
        assert await defaults(page) == {first: True}
        # The last one may go too (see the proto: a renewal then fails for
        # want of a card until the customer adds one).
        last = await page.post(f"{CARDS}/{first}:detach", json={})
        assert last.status_code == 200, last.text
        assert await defaults(page) == {}
        again = await page.post(f"{CARDS}/{first}:detach", json={})
        assert again.json()["detach_time"] == last.json()["detach_time"]


async def test_the_portal_refuses_keys_foreign_ids_and_merchant_routes(
    suite: Suite, merchant: Merchant, other_merchant: Merchant
) -> None:
    mine, token = await session_for(merchant)
    neighbour_id, neighbours_token = await session_for(merchant, "grace@example.com")
    _, strangers_token = await session_for(other_merchant)
    async with (
        browser(suite, token) as page,
        browser(suite, neighbours_token) as neighbour,
        browser(suite, strangers_token) as stranger,
    ):
        card = await add_card(suite, page)
        pending = (await page.post(SETUP_INTENTS, json={})).json()["id"]

        for other in (neighbour, stranger):
            assert await defaults(other) == {}
            for path in (
                f"{CARDS}/{card}:set-default",
                f"{CARDS}/{card}:detach",
                f"{SETUP_INTENTS}/{pending}:sync",
            ):
                refused = await other.post(path, json={})
                assert refused.status_code == 404, (path, refused.text)
        assert await defaults(page) == {card: True}

        # The request has no field naming a customer: one sent anyway is
        # dropped, and the SetupIntent is the session's customer's.
        naming = await page.post(SETUP_INTENTS, json={"customer_id": neighbour_id})
        assert naming.status_code == 200, naming.text
        made = await merchant.client.get(f"/v1/setup-intents/{naming.json()['id']}")
        assert made.json()["customer_id"] == mine

        # The token opens none of the merchant's payment routes.
        for method, path in (
            ("GET", f"/v1/payment-methods/{card}"),
            ("POST", f"/v1/payment-methods/{card}:detach"),
            ("POST", "/v1/setup-intents"),
        ):
            response = await page.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 401, (path, response.text)
            assert error_of(response)[:2] == (16, "CUSTOMER_SESSION_NOT_ACCEPTED")

    # The merchant's API key opens no portal route.
    for method, path in (
        ("GET", CARDS),
        ("POST", SETUP_INTENTS),
        ("POST", f"{CARDS}/{card}:detach"),
    ):
        response = await merchant.client.request(
            method, path, json={} if method == "POST" else None
        )
        assert response.status_code == 401, (path, response.text)
        assert error_of(response)[:2] == (16, "CUSTOMER_SESSION_REQUIRED")
