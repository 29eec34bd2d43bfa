"""A checkout confirmed through the real gateway, payments and the Stripe
stand-in, as a customer's page does it: the session's details, the payment
started (a new customer and a SetupIntent), the card saved with Stripe as
Stripe.js would (the stand-in's own confirm call, with the publishable key),
then the confirmation: one subscription and one first order, paid, and the
session completed; a declined card opens the session again with the
decline and another card pays the same order; a trial completes at once;
and the refusals (no card yet, a double confirmation, changes once
confirmed, an expired session)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from billingos_cli.suite import Suite
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242424242424242"
# Saved without complaint; every charge on it is declined.
DECLINED_ON_CHARGE = "4000000000000341"
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}

OPEN = "CHECKOUT_SESSION_STATUS_OPEN"
PROCESSING = "CHECKOUT_SESSION_STATUS_PROCESSING"
COMPLETED = "CHECKOUT_SESSION_STATUS_COMPLETED"


async def offer(merchant: Merchant, **product: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A product with a monthly and a yearly price, and a link to it that
    accepts a 10% code; returns the link and the yearly price."""
    created = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Team",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [
                {"currency": "USD", "fixed": {"amount_minor": 1500}},
                {
                    "currency": "USD",
                    "fixed": {"amount_minor": 15000},
                    "recurring": {"interval": "INTERVAL_YEAR"},
                },
            ],
            **product,
        },
    )
    assert created.status_code == 200, created.text
    made = created.json()
    discount = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Ten",
            "code": "TEN",
            "percent_off": {"basis_points": 1000},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    assert discount.status_code == 200, discount.text
    link = await merchant.client.post(
        "/v1/checkout-links",
        json={
            "product_ids": [made["id"]],
            "allowed_discount_ids": [discount.json()["id"]],
            "success_url": "http://127.0.0.1:9/thanks",
        },
    )
    assert link.status_code == 200, link.text
    yearly = next(p for p in made["prices"] if p["recurring"]["interval"] == "INTERVAL_YEAR")
    return link.json(), yearly


async def open_session(
    http: httpx.AsyncClient, merchant: Merchant, link: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    opened = await http.post(
        f"/v1/public/organizations/{merchant.organization_id}/checkout-links/{link['id']}/sessions",
        json=fields,
    )
    assert opened.status_code == 200, opened.text
    return dict(opened.json())


async def patch(http: httpx.AsyncClient, secret: str, **fields: Any) -> httpx.Response:
    return await http.patch(
        f"/v1/public/checkout-sessions/{secret}",
        params={"update_mask": ",".join(fields)},
        json=fields,
    )


async def start_payment(http: httpx.AsyncClient, secret: str) -> dict[str, Any]:
    started = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
    assert started.status_code == 200, started.text
    return dict(started.json())


async def confirm(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await http.post(f"/v1/public/checkout-sessions/{secret}:confirm", json={})


async def save_card(suite: Suite, payment: dict[str, Any], number: str) -> None:
    """What Stripe.js's confirmCardSetup does against the stand-in: the
    browser, with only the publishable key, confirms the SetupIntent."""
    secret = payment["setup_intent_client_secret"]
    intent = secret.split("_secret_")[0]
    async with httpx.AsyncClient(timeout=10) as stripe:
        confirmed = await stripe.post(
            f"{suite.stripe_api_base}/v1/setup_intents/{intent}/confirm",
            json={
                "key": payment["publishable_key"],
                "client_secret": secret,
                "use_stripe_sdk": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
                },
            },
        )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded", confirmed.text


async def settled(http: httpx.AsyncClient, secret: str) -> dict[str, Any]:
    """The session once its first payment has settled (no longer processing)."""

    async def done() -> dict[str, Any] | None:
        found = await http.get(f"/v1/public/checkout-sessions/{secret}")
        assert found.status_code == 200, found.text
        body = dict(found.json())
        return None if body["status"] == PROCESSING else body

    result: dict[str, Any] = await eventually(done, seconds=30, every=0.2)
    return result


def reason_of(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if "reason" in detail:
            return str(detail["reason"])
    return ""


async def outbox_count(suite: Suite, organization_id: str, event_type: str) -> int:
    connection = await asyncpg.connect(suite.database_url)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM subscriptions.outbox_events"
            " WHERE organization_id = $1 AND event_type = $2",
            uuid.UUID(organization_id),
            event_type,
        )
    finally:
        await connection.close()
    return int(count)


async def test_a_customer_checks_out_with_a_code_and_a_card_exactly_once(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, yearly = await offer(merchant)
    session = await open_session(http, merchant, link)
    secret = session["client_secret"]
    # Stripe.js's parameters come with every answer while the session is open.
    assert session["payment"]["publishable_key"].startswith("pk_")
    assert session["payment"]["stripe_js_url"].endswith("/js.stripe.com/v3/")
    assert not session["payment"]["setup_intent_client_secret"]

    no_email = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
    assert no_email.status_code == 400, no_email.text
    assert "checkout_session.customer_email" in no_email.text

    changed = await patch(
        http,
        secret,
        price_id=yearly["id"],
        customer_email="ada@example.com",
        customer_name="Ada Lovelace",
        billing_address=ADDRESS,
        discount_code="TEN",
    )
    assert changed.status_code == 200, changed.text
    totals = changed.json()["totals"]
    assert (totals["subtotal_minor"], totals["discount_minor"]) == ("15000", "1500")

    too_soon = await confirm(http, secret)
    assert too_soon.status_code == 400, too_soon.text
    assert reason_of(too_soon) == "CHECKOUT_PAYMENT_NOT_STARTED"

    started = await start_payment(http, secret)
    again = await start_payment(http, secret)
    # The same SetupIntent while it waits for the card.
    assert (
        again["payment"]["setup_intent_client_secret"]
        == started["payment"]["setup_intent_client_secret"]
    )
    unsaved = await confirm(http, secret)
    assert unsaved.status_code == 400, unsaved.text
    assert reason_of(unsaved) == "PAYMENT_METHOD_REQUIRED"

    await save_card(suite, started["payment"], GOOD_CARD)
    # A double click: two confirmations at once make one subscription.
    first, second = await asyncio.gather(confirm(http, secret), confirm(http, secret))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert {first.json()["status"], second.json()["status"]} <= {PROCESSING, COMPLETED}

    done = await settled(http, secret)
    assert done["status"] == COMPLETED, done
    assert "payment" not in done
    replay = await confirm(http, secret)
    assert replay.status_code == 200
    assert replay.json()["status"] == COMPLETED

    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert kept["status"] == COMPLETED
    assert kept["subscription_id"]
    assert kept["order_id"]
    subscription = (
        await merchant.client.get(f"/v1/subscriptions/{kept['subscription_id']}")
    ).json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    assert subscription["price_id"] == yearly["id"]
    customer_id = subscription["customer_id"]
    customer = (await merchant.client.get(f"/v1/customers/{customer_id}")).json()
    assert (customer["email"], customer["name"]) == ("ada@example.com", "Ada Lovelace")
    orders = (await merchant.client.get("/v1/orders", params={"customer_id": customer_id})).json()
    assert [o["id"] for o in orders["orders"]] == [kept["order_id"]]
    order = orders["orders"][0]
    assert order["status"] == "ORDER_STATUS_PAID"
    # The first order is what the page showed, to the cent.
    assert order["total_minor"] == kept["totals"]["total_minor"] == totals["total_minor"]
    payments = (
        await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    ).json()
    assert [p["status"] for p in payments["payments"]] == ["PAYMENT_STATUS_SUCCEEDED"]
    assert await outbox_count(suite, merchant.organization_id, "checkout.completed") == 1

    fixed = await patch(http, secret, customer_name="Someone Else")
    assert fixed.status_code == 400
    assert reason_of(fixed) == "CHECKOUT_SESSION_COMPLETED"


async def test_a_declined_card_opens_the_session_again_and_another_pays_the_same_order(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await offer(merchant)
    session = await open_session(
        http, merchant, link, customer_email="grace@example.com", billing_address=ADDRESS
    )
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    confirmed = await confirm(http, secret)
    assert confirmed.status_code == 200, confirmed.text

    declined = await settled(http, secret)
    assert declined["status"] == OPEN, declined
    assert declined["payment_error"]["code"] == "card_declined", declined
    assert declined["payment_error"]["message"]
    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    subscription_id, order_id = kept["subscription_id"], kept["order_id"]
    subscription = (await merchant.client.get(f"/v1/subscriptions/{subscription_id}")).json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_INCOMPLETE"
    customer_id = subscription["customer_id"]
    payments = (
        await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    ).json()["payments"]
    assert [p["status"] for p in payments] == ["PAYMENT_STATUS_FAILED"]  # nothing charged

    # Once confirmed, only another card can be tried.
    refused = await patch(http, secret, seats=0, customer_name="Grace")
    assert refused.status_code == 400
    assert reason_of(refused) == "CHECKOUT_SESSION_CONFIRMED"

    retried = await start_payment(http, secret)
    assert (
        retried["payment"]["setup_intent_client_secret"]
        != started["payment"]["setup_intent_client_secret"]
    )
    await save_card(suite, retried["payment"], GOOD_CARD)
    assert (await confirm(http, secret)).status_code == 200
    done = await settled(http, secret)
    assert done["status"] == COMPLETED, done
    assert "payment_error" not in done

    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert (kept["subscription_id"], kept["order_id"]) == (subscription_id, order_id)
    orders = (await merchant.client.get("/v1/orders", params={"customer_id": customer_id})).json()
    assert [(o["id"], o["status"]) for o in orders["orders"]] == [(order_id, "ORDER_STATUS_PAID")]
    payments = (
        await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    ).json()["payments"]
    assert sorted(p["status"] for p in payments) == [
        "PAYMENT_STATUS_FAILED",
        "PAYMENT_STATUS_SUCCEEDED",
    ]
    assert await outbox_count(suite, merchant.organization_id, "checkout.completed") == 1


async def test_a_trial_completes_at_once_with_the_card_saved_for_later(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await offer(merchant, trial={"interval": "INTERVAL_DAY", "count": 14})
    session = await open_session(http, merchant, link, customer_email="lin@example.com")
    secret = session["client_secret"]
    assert session["totals"]["amount_due_now_minor"] == "0"
    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], GOOD_CARD)
    confirmed = await confirm(http, secret)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == COMPLETED

    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert not kept["order_id"]  # the first order comes at the trial's end
    subscription = (
        await merchant.client.get(f"/v1/subscriptions/{kept['subscription_id']}")
    ).json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_TRIALING"
    assert subscription["payment_method_id"]


async def test_details_changed_after_the_payment_started_make_a_new_customer(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="typo@example.con")
    secret = session["client_secret"]
    await start_payment(http, secret)
    first = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert (await patch(http, secret, customer_email="right@example.com")).status_code == 200
    started = await start_payment(http, secret)
    second = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert first["customer_id"]
    assert second["customer_id"] != first["customer_id"]
    await save_card(suite, started["payment"], GOOD_CARD)
    assert (await confirm(http, secret)).status_code == 200
    done = await settled(http, secret)
    assert done["status"] == COMPLETED
    buyer = (await merchant.client.get(f"/v1/customers/{second['customer_id']}")).json()
    assert buyer["email"] == "right@example.com"


async def test_an_expired_session_cannot_start_a_payment_or_be_confirmed(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    link, _ = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="late@example.com")
    secret = session["client_secret"]
    expired = await merchant.client.post(f"/v1/checkout-sessions/{session['id']}:expire", json={})
    assert expired.status_code == 200, expired.text
    for call in (
        http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={}),
        confirm(http, secret),
    ):
        refused = await call
        assert refused.status_code == 400, refused.text
        assert reason_of(refused) == "CHECKOUT_SESSION_EXPIRED"
    gone = await http.post("/v1/public/checkout-sessions/bcx_nothing:confirm", json={})
    assert gone.status_code == 404


async def test_three_declines_expire_the_session_and_the_page_never_sees_decline_codes(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    """A page that takes card after card is a card tester's: the third failed
    first payment expires the session (and its subscription ends unpaid as
    any does); the merchant reads the decline, the page only the message."""
    link, _ = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="tester@example.com")
    secret = session["client_secret"]
    for attempt in range(3):
        started = await start_payment(http, secret)
        await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
        assert (await confirm(http, secret)).status_code == 200
        after = await settled(http, secret)
        public_error = after.get("payment_error", {})
        assert not public_error.get("decline_code"), after
        if attempt < 2:
            assert after["status"] == OPEN, after
            assert public_error["message"], after
    assert after["status"] == "CHECKOUT_SESSION_STATUS_EXPIRED", after
    refused = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
    assert reason_of(refused) == "CHECKOUT_SESSION_EXPIRED", refused.text
    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert kept["payment_error"]["code"] == "card_declined", kept
    assert await outbox_count(suite, merchant.organization_id, "checkout.expired") >= 1


async def test_a_session_makes_a_bounded_number_of_customers_and_setup_intents(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    link, _ = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="churn0@example.com")
    secret = session["client_secret"]
    for index in range(1, 6):
        await start_payment(http, secret)
        changed = await patch(http, secret, customer_email=f"churn{index}@example.com")
        assert changed.status_code == 200, changed.text
    refused = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
    assert refused.status_code == 400, refused.text
    assert reason_of(refused) == "CHECKOUT_PAYMENT_LIMIT"


async def test_a_subscription_ended_before_it_started_expires_its_session(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="ends@example.com")
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    assert (await confirm(http, secret)).status_code == 200
    assert (await settled(http, secret))["status"] == OPEN
    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    canceled = await merchant.client.post(
        f"/v1/subscriptions/{kept['subscription_id']}/cancel", json={"immediately": True}
    )
    assert canceled.status_code == 200, canceled.text
    after = (await http.get(f"/v1/public/checkout-sessions/{secret}")).json()
    assert after["status"] == "CHECKOUT_SESSION_STATUS_EXPIRED", after


async def test_a_merchants_customer_is_quoted_and_taxed_by_its_own_address(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    link, _ = await offer(merchant)
    customer = await merchant.client.post(
        "/v1/customers", json={"email": "known@example.com", "billing_address": ADDRESS}
    )
    assert customer.status_code == 200, customer.text
    both = await merchant.client.post(
        "/v1/checkout-sessions",
        json={
            "checkout_link_id": link["id"],
            "customer_id": customer.json()["id"],
            "billing_address": {"country": "FR"},
        },
    )
    assert both.status_code == 400, both.text
    assert "checkout_session.billing_address" in both.text
    made = await merchant.client.post(
        "/v1/checkout-sessions",
        json={"checkout_link_id": link["id"], "customer_id": customer.json()["id"]},
    )
    assert made.status_code == 200, made.text
    moved = await patch(http, made.json()["client_secret"], billing_address={"country": "FR"})
    assert moved.status_code == 400, moved.text
    assert "checkout_session.billing_address" in moved.text


async def test_a_price_archived_since_refuses_the_payment_before_anything_is_made(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    link, yearly = await offer(merchant)
    session = await open_session(http, merchant, link, customer_email="late-price@example.com")
    secret = session["client_secret"]
    chosen = await patch(http, secret, price_id=yearly["id"])
    assert chosen.status_code == 200, chosen.text
    archived = await merchant.client.patch(
        f"/v1/prices/{yearly['id']}", params={"update_mask": "archived"}, json={"archived": True}
    )
    assert archived.status_code == 200, archived.text

    async def refused_for_the_price() -> httpx.Response | None:
        answer = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
        return answer if reason_of(answer) == "PRICE_ARCHIVED" else None

    refused = await eventually(refused_for_the_price, seconds=15, every=0.2)
    assert refused.status_code == 400, refused.text
    kept = (await merchant.client.get(f"/v1/checkout-sessions/{session['id']}")).json()
    assert not kept["customer_id"]  # no customer made for nothing
