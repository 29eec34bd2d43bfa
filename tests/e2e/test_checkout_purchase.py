"""One-time purchases through checkout, through the real gateway, payments
and the Stripe stand-in: a product without a billing period, bought once
with a code and a card (one PURCHASE order, no subscription, its benefit
granted by the entitlements service); a declined card reopens the session
and another pays the same order; the third decline expires the session and
voids its order; a session left after a decline and expired voids it too;
and what a one-time checkout refuses (a pay-what-you-want price, seats)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from billingos_cli.suite import Suite
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant
from .test_checkout_confirmation import (
    ADDRESS,
    COMPLETED,
    DECLINED_ON_CHARGE,
    GOOD_CARD,
    OPEN,
    confirm,
    open_session,
    outbox_count,
    patch,
    reason_of,
    save_card,
    settled,
    start_payment,
)

pytestmark = pytest.mark.e2e

EXPIRED = "CHECKOUT_SESSION_STATUS_EXPIRED"


async def one_time_offer(
    merchant: Merchant, *, prices: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A one-time product (a $49 e-book by default) and a link to it that
    accepts a 10% code; returns the link and the product."""
    created = await merchant.client.post(
        "/v1/products",
        json={
            "name": "E-book",
            "prices": prices or [{"currency": "USD", "fixed": {"amount_minor": 4900}}],
        },
    )
    assert created.status_code == 200, created.text
    product = dict(created.json())
    assert "recurring" not in product
    discount = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Ten once",
            "code": f"BOOK{time.monotonic_ns() % 10**9}",
            "percent_off": {"basis_points": 1000},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    assert discount.status_code == 200, discount.text
    link = await merchant.client.post(
        "/v1/checkout-links",
        json={
            "product_ids": [product["id"]],
            "allowed_discount_ids": [discount.json()["id"]],
            "success_url": "http://127.0.0.1:9/thanks",
        },
    )
    assert link.status_code == 200, link.text
    body = dict(link.json())
    body["code"] = discount.json()["code"]
    return body, product


async def session_of(merchant: Merchant, session_id: str) -> dict[str, Any]:
    found = await merchant.client.get(f"/v1/checkout-sessions/{session_id}")
    assert found.status_code == 200, found.text
    return dict(found.json())


async def orders_of(merchant: Merchant, customer_id: str) -> list[dict[str, Any]]:
    found = await merchant.client.get("/v1/orders", params={"customer_id": customer_id})
    assert found.status_code == 200, found.text
    return list(found.json().get("orders", []))


async def payment_statuses(merchant: Merchant, customer_id: str) -> list[str]:
    found = await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    assert found.status_code == 200, found.text
    return sorted(p["status"] for p in found.json().get("payments", []))


async def attach_feature(merchant: Merchant, product_id: str, key: str) -> None:
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_FEATURE_FLAG",
            "key": key,
            "description": "Downloads",
            "feature_flag": {},
        },
    )
    assert benefit.status_code == 200, benefit.text
    deadline = time.monotonic() + 20
    while True:  # the catalog learns the benefit from its event
        attached = await merchant.client.post(
            f"/v1/products/{product_id}/benefits", json={"benefit_id": benefit.json()["id"]}
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text


async def test_a_one_time_product_is_bought_once_with_a_code_and_its_benefit_granted(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, product = await one_time_offer(merchant)
    await attach_feature(merchant, product["id"], "ebook-download")
    session = await open_session(http, merchant, link)
    secret = session["client_secret"]
    assert session["price_id"] == product["prices"][0]["id"]
    changed = await patch(
        http,
        secret,
        customer_email="reader@example.com",
        customer_name="Reader",
        billing_address=ADDRESS,
        discount_code=link["code"],
    )
    assert changed.status_code == 200, changed.text
    totals = changed.json()["totals"]
    # One line, once: no period, no trial; the code's 10% off.
    assert [line["description"] for line in totals["lines"]] == ["E-book"]
    assert (totals["subtotal_minor"], totals["discount_minor"]) == ("4900", "490")
    assert totals["amount_due_now_minor"] == totals["total_minor"] == "4410"
    assert not totals.get("trial_end_time")

    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], GOOD_CARD)
    # A double click: two confirmations at once buy once.
    first, second = await asyncio.gather(confirm(http, secret), confirm(http, secret))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    done = await settled(http, secret)
    assert done["status"] == COMPLETED, done
    replay = await confirm(http, secret)
    assert replay.status_code == 200
    assert replay.json()["status"] == COMPLETED

    kept = await session_of(merchant, session["id"])
    assert kept["status"] == COMPLETED
    assert not kept["subscription_id"]
    assert kept["order_id"]
    customer_id = kept["customer_id"]
    orders = await orders_of(merchant, customer_id)
    assert [o["id"] for o in orders] == [kept["order_id"]]
    order = orders[0]
    assert order["billing_reason"] == "BILLING_REASON_PURCHASE"
    assert order["status"] == "ORDER_STATUS_PAID"
    assert not order.get("subscription_id")
    assert order["total_minor"] == totals["total_minor"]
    assert order["amount_paid_minor"] == "4410"
    assert await payment_statuses(merchant, customer_id) == ["PAYMENT_STATUS_SUCCEEDED"]
    subscriptions = await merchant.client.get(
        "/v1/subscriptions", params={"customer_id": customer_id}
    )
    assert subscriptions.json().get("subscriptions", []) == []
    assert await outbox_count(suite, merchant.organization_id, "checkout.completed") >= 1

    # The paid order grants the product's benefit.
    check = {"customer_id": customer_id, "feature": "ebook-download"}
    deadline = time.monotonic() + 30
    while True:
        allowed = (await merchant.client.get("/v1/entitlements/check", params=check)).json()
        if allowed.get("allowed") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert allowed["allowed"] is True, allowed

    fixed = await patch(http, secret, customer_name="Someone Else")
    assert fixed.status_code == 400
    assert reason_of(fixed) == "CHECKOUT_SESSION_COMPLETED"


async def test_a_declined_purchase_reopens_the_session_and_another_card_pays_the_same_order(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await one_time_offer(merchant)
    session = await open_session(
        http, merchant, link, customer_email="buyer@example.com", billing_address=ADDRESS
    )
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    assert (await confirm(http, secret)).status_code == 200
    declined = await settled(http, secret)
    assert declined["status"] == OPEN, declined
    assert declined["payment_error"]["message"], declined
    assert not declined["payment_error"].get("decline_code"), declined

    kept = await session_of(merchant, session["id"])
    order_id, customer_id = kept["order_id"], kept["customer_id"]
    pending = await orders_of(merchant, customer_id)
    assert [(o["id"], o["status"]) for o in pending] == [(order_id, "ORDER_STATUS_PENDING")]
    assert await payment_statuses(merchant, customer_id) == ["PAYMENT_STATUS_FAILED"]
    refused = await patch(http, secret, customer_name="Changed")
    assert reason_of(refused) == "CHECKOUT_SESSION_CONFIRMED", refused.text

    retried = await start_payment(http, secret)
    await save_card(suite, retried["payment"], GOOD_CARD)
    assert (await confirm(http, secret)).status_code == 200
    done = await settled(http, secret)
    assert done["status"] == COMPLETED, done

    orders = await orders_of(merchant, customer_id)
    assert [(o["id"], o["status"]) for o in orders] == [(order_id, "ORDER_STATUS_PAID")]
    assert await payment_statuses(merchant, customer_id) == [
        "PAYMENT_STATUS_FAILED",
        "PAYMENT_STATUS_SUCCEEDED",
    ]


async def test_three_declined_purchases_expire_the_session_and_void_its_order(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await one_time_offer(merchant)
    session = await open_session(http, merchant, link, customer_email="tries@example.com")
    secret = session["client_secret"]
    for _ in range(3):
        started = await start_payment(http, secret)
        await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
        assert (await confirm(http, secret)).status_code == 200
        after = await settled(http, secret)
    assert after["status"] == EXPIRED, after
    kept = await session_of(merchant, session["id"])
    orders = await orders_of(merchant, kept["customer_id"])
    assert [(o["id"], o["status"]) for o in orders] == [(kept["order_id"], "ORDER_STATUS_VOID")]
    assert await payment_statuses(merchant, kept["customer_id"]) == ["PAYMENT_STATUS_FAILED"] * 3


async def test_a_purchase_left_after_a_decline_is_voided_when_its_session_expires(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    link, _ = await one_time_offer(merchant)
    session = await open_session(http, merchant, link, customer_email="left@example.com")
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    assert (await confirm(http, secret)).status_code == 200
    assert (await settled(http, secret))["status"] == OPEN
    expired = await merchant.client.post(f"/v1/checkout-sessions/{session['id']}:expire", json={})
    assert expired.status_code == 200, expired.text
    assert expired.json()["status"] == EXPIRED
    kept = await session_of(merchant, session["id"])
    orders = await orders_of(merchant, kept["customer_id"])
    assert [o["status"] for o in orders] == ["ORDER_STATUS_VOID"]
    refused = await start_payment_refused(http, secret)
    assert reason_of(refused) == "CHECKOUT_SESSION_EXPIRED", refused.text

    # The same left to the sweep, past its time.
    swept = await open_session(http, merchant, link, customer_email="swept@example.com")
    started = await start_payment(http, swept["client_secret"])
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    assert (await confirm(http, swept["client_secret"])).status_code == 200
    assert (await settled(http, swept["client_secret"]))["status"] == OPEN
    await move_past_its_time(suite, swept["id"])

    async def voided() -> list[dict[str, Any]] | None:
        buyer = (await session_of(merchant, swept["id"]))["customer_id"]
        found = await orders_of(merchant, buyer)
        return found if [o["status"] for o in found] == ["ORDER_STATUS_VOID"] else None

    await eventually(voided, seconds=30, every=0.2)
    assert (await session_of(merchant, swept["id"]))["status"] == EXPIRED


async def move_past_its_time(suite: Suite, session_id: str) -> None:
    """The session's expire time two hours ago (its clock is the real one)."""
    connection = await asyncpg.connect(suite.database_url)
    try:
        await connection.execute(
            "UPDATE subscriptions.checkout_sessions"
            " SET expire_at = now() - interval '2 hours' WHERE id = $1",
            uuid.UUID(session_id),
        )
    finally:
        await connection.close()


async def start_payment_refused(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    refused = await http.post(f"/v1/public/checkout-sessions/{secret}:start-payment", json={})
    assert refused.status_code == 400, refused.text
    return refused


async def test_a_one_time_checkout_refuses_what_it_cannot_charge_as_it_is(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    link, product = await one_time_offer(
        merchant,
        prices=[
            {"currency": "USD", "fixed": {"amount_minor": 900}},
            {"currency": "EUR", "custom": {"minimum_amount_minor": 100}},
        ],
    )
    custom = next(p for p in product["prices"] if p["currency"] == "EUR")
    opened = await http.post(
        f"/v1/public/organizations/{merchant.organization_id}/checkout-links/{link['id']}/sessions",
        json={"price_id": custom["id"]},
    )
    assert opened.status_code == 400, opened.text
    assert reason_of(opened) == "PRICE_NOT_PURCHASABLE"
    assert "checkout_session.price_id" in opened.text
    seats = await http.post(
        f"/v1/public/organizations/{merchant.organization_id}/checkout-links/{link['id']}/sessions",
        json={"seats": 3},
    )
    assert seats.status_code == 400, seats.text
    assert reason_of(seats) == "SEATS_NOT_ALLOWED"
    # The fixed price opens (the default: the first active static price).
    session = await open_session(http, merchant, link)
    assert session["totals"]["total_minor"] == "900"


async def redemption_count(merchant: Merchant, discount_id: str) -> int:
    found = await merchant.client.get(f"/v1/discounts/{discount_id}")
    assert found.status_code == 200, found.text
    return int(found.json().get("redemption_count", 0))


async def eventually_count(merchant: Merchant, discount_id: str, wanted: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        count = await redemption_count(merchant, discount_id)
        if count == wanted or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.2)


async def test_a_declined_checkout_gives_its_limited_code_back(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    """A code good for one use, typed at a checkout whose card is declined
    until it gives up, is usable again: the voided purchase (and the
    subscription that ended before its first payment) gives its use back."""
    link, _ = await one_time_offer(merchant)
    discount_id = link["allowed_discount_ids"][0]
    limited = await merchant.client.patch(
        f"/v1/discounts/{discount_id}",
        params={"update_mask": "max_redemptions"},
        json={"max_redemptions": 1},
    )
    assert limited.status_code == 200, limited.text
    session = await open_session(
        http, merchant, link, customer_email="unlucky@example.com", discount_code=link["code"]
    )
    secret = session["client_secret"]
    for _ in range(3):
        started = await start_payment(http, secret)
        await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
        assert (await confirm(http, secret)).status_code == 200
        after = await settled(http, secret)
    assert after["status"] == EXPIRED, after
    assert await eventually_count(merchant, discount_id, 0) == 0
    # Another customer's checkout takes the code and pays.
    second = await open_session(
        http, merchant, link, customer_email="lucky@example.com", discount_code=link["code"]
    )
    assert second["totals"]["discount_minor"] == "490", second
    paid = await start_payment(http, second["client_secret"])
    await save_card(suite, paid["payment"], GOOD_CARD)
    assert (await confirm(http, second["client_secret"])).status_code == 200
    assert (await settled(http, second["client_secret"]))["status"] == COMPLETED
    assert await redemption_count(merchant, discount_id) == 1
    # The paid purchase abandons nothing (only the declined one did).
    assert await outbox_count(suite, merchant.organization_id, "purchase.abandoned") == 1

    # A subscription's checkout: its code is given back when the
    # subscription that never started ends.
    plan = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Monthly",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 1500}}],
        },
    )
    assert plan.status_code == 200, plan.text
    code = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "One month once",
            "code": f"MONTH{time.monotonic_ns() % 10**9}",
            "percent_off": {"basis_points": 5000},
            "duration": "DISCOUNT_DURATION_ONCE",
            "max_redemptions": 1,
        },
    )
    assert code.status_code == 200, code.text
    monthly_link = await merchant.client.post(
        "/v1/checkout-links",
        json={
            "product_ids": [plan.json()["id"]],
            "allowed_discount_ids": [code.json()["id"]],
            "success_url": "http://127.0.0.1:9/thanks",
        },
    )
    assert monthly_link.status_code == 200, monthly_link.text
    subscribing = await open_session(
        http,
        merchant,
        monthly_link.json(),
        customer_email="monthly@example.com",
        discount_code=code.json()["code"],
    )
    started = await start_payment(http, subscribing["client_secret"])
    await save_card(suite, started["payment"], DECLINED_ON_CHARGE)
    assert (await confirm(http, subscribing["client_secret"])).status_code == 200
    assert (await settled(http, subscribing["client_secret"]))["status"] == OPEN
    assert await redemption_count(merchant, code.json()["id"]) == 1
    kept = await session_of(merchant, subscribing["id"])
    canceled = await merchant.client.post(
        f"/v1/subscriptions/{kept['subscription_id']}/cancel", json={"immediately": True}
    )
    assert canceled.status_code == 200, canceled.text
    assert await eventually_count(merchant, code.json()["id"], 0) == 0


# Asks for 3-D Secure when it is saved and again when it is charged.
AUTHENTICATING_CARD = "4000002760003184"


async def save_authenticating_card(suite: Suite, payment: dict[str, Any]) -> None:
    """What Stripe.js does for a card that asks for 3-D Secure when it is
    saved: confirm, the customer authenticates in the stand-in's dialog, and
    Stripe.js confirms again."""
    secret = payment["setup_intent_client_secret"]
    intent = secret.split("_secret_")[0]
    url = f"{suite.stripe_api_base}/v1/setup_intents/{intent}/confirm"
    async with httpx.AsyncClient(timeout=10) as stripe:
        first = await stripe.post(
            url,
            json={
                "key": payment["publishable_key"],
                "client_secret": secret,
                "use_stripe_sdk": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {
                        "number": AUTHENTICATING_CARD,
                        "exp_month": "12",
                        "exp_year": "2034",
                        "cvc": "123",
                    },
                },
            },
        )
        assert first.json()["status"] == "requires_action", first.text
        second = await stripe.post(
            url,
            json={
                "key": payment["publishable_key"],
                "client_secret": secret,
                "use_stripe_sdk": True,
            },
        )
    assert second.json()["status"] == "succeeded", second.text


async def test_a_purchase_waiting_for_authentication_is_given_up_past_its_time(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    """The first charge asks for 3-D Secure: the processing session shows its
    PaymentIntent for the page to confirm. Left unconfirmed an hour past the
    session's time, the sweep expires it and has payments cancel the
    PaymentIntent (no one can confirm it later): the order is voided and the
    code's use given back."""
    link, _ = await one_time_offer(merchant)
    discount_id = link["allowed_discount_ids"][0]
    session = await open_session(
        http, merchant, link, customer_email="away@example.com", discount_code=link["code"]
    )
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_authenticating_card(suite, started["payment"])
    confirmed = await confirm(http, secret)
    assert confirmed.status_code == 200, confirmed.text

    async def waiting_for_the_customer() -> dict[str, Any] | None:
        body = dict((await http.get(f"/v1/public/checkout-sessions/{secret}")).json())
        payment = body.get("payment", {})
        return body if payment.get("payment_intent_client_secret") else None

    waiting = await eventually(waiting_for_the_customer, seconds=30, every=0.2)
    assert waiting["status"] == "CHECKOUT_SESSION_STATUS_PROCESSING", waiting
    intent_secret = waiting["payment"]["payment_intent_client_secret"]
    assert intent_secret.startswith("pi_"), waiting
    assert await redemption_count(merchant, discount_id) == 1
    kept = await session_of(merchant, session["id"])
    assert "payment_intent_client_secret" not in str(kept)  # the merchant's view has none

    # An hour and more past its time.
    await move_past_its_time(suite, session["id"])

    async def given_up() -> dict[str, Any] | None:
        body = await session_of(merchant, session["id"])
        return body if body["status"] == EXPIRED else None

    await eventually(given_up, seconds=30, every=0.2)

    async def voided() -> list[dict[str, Any]] | None:
        orders = await orders_of(merchant, kept["customer_id"])
        return orders if orders and orders[0]["status"] == "ORDER_STATUS_VOID" else None

    await eventually(voided, seconds=30, every=0.2)
    assert await payment_statuses(merchant, kept["customer_id"]) == ["PAYMENT_STATUS_FAILED"]
    assert await eventually_count(merchant, discount_id, 0) == 0
    # Stripe's PaymentIntent is canceled: authenticating it now is refused.
    intent = intent_secret.split("_secret_")[0]
    async with httpx.AsyncClient(timeout=10) as stripe:
        late = await stripe.post(
            f"{suite.stripe_api_base}/v1/payment_intents/{intent}/_authenticate",
            params={"success": "true"},
            json={"key": started["payment"]["publishable_key"], "client_secret": intent_secret},
        )
    assert late.status_code == 400, late.text


async def test_a_subscription_canceled_while_its_first_charge_is_in_flight_keeps_a_paid_codes_use(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    """The merchant cancels at once after the customer confirms: the first
    charge, already asked for, decides. Paid, the code's use stays counted
    and the purchase stands; voided, both are given back. Never a paid
    discounted order whose use was given back."""
    plan = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Racing",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 1500}}],
        },
    )
    code = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Half once",
            "code": f"RACE{time.monotonic_ns() % 10**9}",
            "percent_off": {"basis_points": 5000},
            "duration": "DISCOUNT_DURATION_ONCE",
            "max_redemptions": 1,
        },
    )
    link = await merchant.client.post(
        "/v1/checkout-links",
        json={
            "product_ids": [plan.json()["id"]],
            "allowed_discount_ids": [code.json()["id"]],
            "success_url": "http://127.0.0.1:9/thanks",
        },
    )
    session = await open_session(
        http,
        merchant,
        link.json(),
        customer_email="race@example.com",
        discount_code=code.json()["code"],
    )
    started = await start_payment(http, session["client_secret"])
    await save_card(suite, started["payment"], GOOD_CARD)
    assert (await confirm(http, session["client_secret"])).status_code == 200
    kept = await session_of(merchant, session["id"])
    canceled = await merchant.client.post(
        f"/v1/subscriptions/{kept['subscription_id']}/cancel", json={"immediately": True}
    )
    assert canceled.status_code == 200, canceled.text

    async def order_settled() -> dict[str, Any] | None:
        found = await orders_of(merchant, kept["customer_id"])
        if found and found[0]["status"] in ("ORDER_STATUS_PAID", "ORDER_STATUS_VOID"):
            return found[0]
        return None

    order = await eventually(order_settled, seconds=30, every=0.2)
    await asyncio.sleep(1)  # room for a wrong purchase.abandoned to be heard
    wanted = 1 if order["status"] == "ORDER_STATUS_PAID" else 0
    assert await eventually_count(merchant, code.json()["id"], wanted) == wanted, order


async def test_a_subscription_canceled_while_its_first_charge_waits_for_authentication_gives_it_up(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    """The merchant cancels at once while the first charge waits for the
    customer's 3-D Secure: the scheduler has payments cancel the
    PaymentIntent (the customer can no longer pay for what ended), the
    order is voided and the code's use given back."""
    plan = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Waiting",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 1500}}],
        },
    )
    code = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Half once",
            "code": f"WAIT{time.monotonic_ns() % 10**9}",
            "percent_off": {"basis_points": 5000},
            "duration": "DISCOUNT_DURATION_ONCE",
            "max_redemptions": 1,
        },
    )
    link = await merchant.client.post(
        "/v1/checkout-links",
        json={
            "product_ids": [plan.json()["id"]],
            "allowed_discount_ids": [code.json()["id"]],
            "success_url": "http://127.0.0.1:9/thanks",
        },
    )
    session = await open_session(
        http,
        merchant,
        link.json(),
        customer_email="waits@example.com",
        discount_code=code.json()["code"],
    )
    secret = session["client_secret"]
    started = await start_payment(http, secret)
    await save_authenticating_card(suite, started["payment"])
    assert (await confirm(http, secret)).status_code == 200

    async def waiting_for_the_customer() -> str | None:
        body = dict((await http.get(f"/v1/public/checkout-sessions/{secret}")).json())
        return body.get("payment", {}).get("payment_intent_client_secret") or None

    intent_secret = await eventually(waiting_for_the_customer, seconds=30, every=0.2)
    kept = await session_of(merchant, session["id"])
    canceled = await merchant.client.post(
        f"/v1/subscriptions/{kept['subscription_id']}/cancel", json={"immediately": True}
    )
    assert canceled.status_code == 200, canceled.text

    async def voided() -> list[dict[str, Any]] | None:
        found = await orders_of(merchant, kept["customer_id"])
        return found if [o["status"] for o in found] == ["ORDER_STATUS_VOID"] else None

    await eventually(voided, seconds=30, every=0.2)
    assert await payment_statuses(merchant, kept["customer_id"]) == ["PAYMENT_STATUS_FAILED"]
    assert await eventually_count(merchant, code.json()["id"], 0) == 0
    intent = intent_secret.split("_secret_")[0]
    async with httpx.AsyncClient(timeout=10) as stripe:
        late = await stripe.post(
            f"{suite.stripe_api_base}/v1/payment_intents/{intent}/_authenticate",
            params={"success": "true"},
            json={"key": started["payment"]["publishable_key"], "client_secret": intent_secret},
        )
    assert late.status_code == 400, late.text
