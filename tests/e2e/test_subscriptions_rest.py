"""The billing engine through the real Envoy gateway, with Stripe's stand-in
and test clocks: a subscription's first charge, renewals on calendar rules
(Jan 31 → Feb 28 → Mar 31), a declined renewal's dunning and its recovery,
cancellation at the period's end; every cent checked."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest
import stripe

from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"  # attaches, then every charge is declined


async def until(check: Any, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.2)


async def customer_with_card(
    merchant: Merchant, servers: SessionServers, *, card: str = GOOD_CARD, test_clock_id: str = ""
) -> str:
    client = merchant.client
    body: dict[str, Any] = {"email": "ada@example.com", "name": "Ada"}
    if test_clock_id:
        body["test_clock_id"] = test_clock_id
    created = await client.post("/v1/customers", json=body)
    assert created.status_code == 200, created.text
    customer_id = str(created.json()["id"])

    async def linked() -> bool:
        found = await client.get(f"/v1/customers/{customer_id}")
        return bool(found.json().get("stripe_customer_id"))

    await until(linked)
    intent = (await client.post("/v1/setup-intents", json={"customer_id": customer_id})).json()
    browser = stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    method = await browser.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": card, "exp_month": 4, "exp_year": 2033, "cvc": "123"},
        }
    )
    confirmed = await browser.v1.setup_intents.confirm_async(
        intent["stripe_setup_intent_id"], params={"payment_method": method.id}
    )
    if confirmed.status == "requires_action":
        # A card that asks for 3-D Secure when saved: authenticated.
        await browser.v1.setup_intents.confirm_async(intent["stripe_setup_intent_id"])
    synced = await client.post(f"/v1/setup-intents/{intent['id']}:sync", json={})
    assert synced.json()["status"] == "SETUP_INTENT_STATUS_SUCCEEDED", synced.text
    return customer_id


async def monthly_product(
    merchant: Merchant, amount_minor: int = 2000, name: str = "Pro"
) -> dict[str, Any]:
    created = await merchant.client.post(
        "/v1/products",
        json={
            "name": name,
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": amount_minor}}],
        },
    )
    assert created.status_code == 200, created.text
    return dict(created.json())


async def settle(merchant: Merchant, clock_id: str) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        found = (await merchant.client.get(f"/v1/test-clocks/{clock_id}")).json()
        return found if found["status"] == "TEST_CLOCK_STATUS_READY" else None

    return dict(await until(ready, 60.0))


async def advance(merchant: Merchant, clock_id: str, frozen_time: str) -> dict[str, Any]:
    await settle(merchant, clock_id)
    moved = await merchant.client.post(
        f"/v1/test-clocks/{clock_id}/advance", json={"frozen_time": frozen_time}
    )
    assert moved.status_code == 200, moved.text
    return await settle(merchant, clock_id)


async def orders_of(merchant: Merchant, subscription_id: str) -> list[dict[str, Any]]:
    listed = await merchant.client.get("/v1/orders", params={"subscription_id": subscription_id})
    assert listed.status_code == 200, listed.text
    return list(reversed(listed.json().get("orders", [])))


async def active(merchant: Merchant, subscription_id: str) -> dict[str, Any] | None:
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription_id}")).json()
    return dict(found) if found["status"] == "SUBSCRIPTION_STATUS_ACTIVE" else None


async def test_a_subscription_is_charged_and_active(
    merchant: Merchant, servers: SessionServers
) -> None:
    product = await monthly_product(merchant)
    customer_id = await customer_with_card(merchant, servers)
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    assert created.status_code == 200, created.text
    subscription = created.json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_INCOMPLETE"
    assert subscription["items"][0]["price"]["fixed"]["amount_minor"] == "2000"

    async def active() -> dict[str, Any] | None:
        found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
        return found if found["status"] == "SUBSCRIPTION_STATUS_ACTIVE" else None

    await until(active)
    [order] = await orders_of(merchant, subscription["id"])
    assert order["billing_reason"] == "BILLING_REASON_SUBSCRIPTION_CREATE"
    assert order["status"] == "ORDER_STATUS_PAID"
    assert (order["total_minor"], order["amount_paid_minor"]) == ("2000", "2000")
    [attempt] = order["attempts"]
    assert attempt["status"] == "succeeded"


async def test_renewals_follow_the_calendar_on_a_test_clock(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-31T10:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 1500)
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    assert created.status_code == 200, created.text
    subscription_id = created.json()["id"]
    assert created.json()["current_period_end"] == "2027-02-28T10:00:00Z"
    await until(lambda: active(merchant, subscription_id))

    await advance(merchant, clock["id"], "2027-02-28T10:00:01Z")
    await advance(merchant, clock["id"], "2027-03-31T10:00:00Z")
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription_id}")).json()
    assert found["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    assert (found["current_period_start"], found["current_period_end"]) == (
        "2027-03-31T10:00:00Z",
        "2027-04-30T10:00:00Z",
    )
    orders = await orders_of(merchant, subscription_id)
    assert [(o["billing_reason"], o["status"], o["total_minor"]) for o in orders] == [
        ("BILLING_REASON_SUBSCRIPTION_CREATE", "ORDER_STATUS_PAID", "1500"),
        ("BILLING_REASON_SUBSCRIPTION_CYCLE", "ORDER_STATUS_PAID", "1500"),
        ("BILLING_REASON_SUBSCRIPTION_CYCLE", "ORDER_STATUS_PAID", "1500"),
    ]
    assert [o["period_start"] for o in orders] == [
        "2027-01-31T10:00:00Z",
        "2027-02-28T10:00:00Z",
        "2027-03-31T10:00:00Z",
    ]


async def test_a_canceled_subscription_ends_at_its_period_end(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-05-01T00:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 900)
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product["id"],
                    "currency": "USD",
                }
            },
        )
    ).json()
    await until(lambda: active(merchant, subscription["id"]))
    canceled = await merchant.client.post(f"/v1/subscriptions/{subscription['id']}/cancel", json={})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at_period_end"] is True
    again = await merchant.client.post(f"/v1/subscriptions/{subscription['id']}/cancel", json={})
    assert again.status_code == 400, again.text
    await advance(merchant, clock["id"], "2027-06-02T00:00:00Z")
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert found["status"] == "SUBSCRIPTION_STATUS_CANCELED"
    assert found["end_time"] == "2027-06-01T00:00:00Z"
    assert len(await orders_of(merchant, subscription["id"])) == 1
    ended = await merchant.client.post(f"/v1/subscriptions/{subscription['id']}/cancel", json={})
    assert ended.status_code == 400
    assert ended.json()["details"][0]["reason"] == "SUBSCRIPTION_ENDED"


async def add_card(merchant: Merchant, servers: SessionServers, customer_id: str, card: str) -> str:
    """Saves another card and makes it the customer's default."""
    client = merchant.client
    intent = (await client.post("/v1/setup-intents", json={"customer_id": customer_id})).json()
    browser = stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    method = await browser.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": card, "exp_month": 4, "exp_year": 2033, "cvc": "123"},
        }
    )
    await browser.v1.setup_intents.confirm_async(
        intent["stripe_setup_intent_id"], params={"payment_method": method.id}
    )
    synced = (await client.post(f"/v1/setup-intents/{intent['id']}:sync", json={})).json()
    method_id = str(synced["payment_method_id"])
    made = await client.post(f"/v1/payment-methods/{method_id}:set-default", json={})
    assert made.status_code == 200, made.text
    return method_id


async def test_a_declined_renewal_is_retried_and_recovers_with_a_new_card(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-10T00:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 2500)
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product["id"],
                    "currency": "USD",
                }
            },
        )
    ).json()
    await settle(merchant, clock["id"])
    assert await active(merchant, subscription["id"])
    await add_card(merchant, servers, customer_id, DECLINING_CARD)
    await settle(merchant, clock["id"])

    await advance(merchant, clock["id"], "2027-02-10T00:00:00Z")
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert found["status"] == "SUBSCRIPTION_STATUS_PAST_DUE"
    assert found["next_retry_time"] == "2027-02-13T00:00:00Z"
    await advance(merchant, clock["id"], "2027-02-13T00:00:00Z")
    renewal = (await orders_of(merchant, subscription["id"]))[-1]
    assert [a["status"] for a in renewal["attempts"]] == ["failed", "failed"]
    assert renewal["next_retry_time"] == "2027-02-17T00:00:00Z"

    await add_card(merchant, servers, customer_id, GOOD_CARD)
    # The new default card's event retries the order at once.
    await until(lambda: active(merchant, subscription["id"]))
    await settle(merchant, clock["id"])
    recovered = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert recovered["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    assert (recovered["current_period_start"], recovered["current_period_end"]) == (
        "2027-02-10T00:00:00Z",
        "2027-03-10T00:00:00Z",
    )
    renewal = (await orders_of(merchant, subscription["id"]))[-1]
    assert renewal["status"] == "ORDER_STATUS_PAID"
    assert renewal["amount_paid_minor"] == "2500"
    assert [a["status"] for a in renewal["attempts"]] == ["failed", "failed", "succeeded"]
    payments = (
        await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    ).json()
    succeeded = [p for p in payments["payments"] if p["status"] == "PAYMENT_STATUS_SUCCEEDED"]
    assert sorted(p["amount"]["amount_minor"] for p in succeeded) == ["2500", "2500"]


async def test_dunning_gives_up_after_three_retries_and_cancels(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-03-01T00:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 1000)
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product["id"],
                    "currency": "USD",
                }
            },
        )
    ).json()
    await settle(merchant, clock["id"])
    await add_card(merchant, servers, customer_id, DECLINING_CARD)
    await settle(merchant, clock["id"])
    for moment in ("2027-04-01T00:00:00Z", "2027-04-04T00:00:00Z", "2027-04-08T00:00:00Z"):
        await advance(merchant, clock["id"], moment)
        still = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
        assert still["status"] == "SUBSCRIPTION_STATUS_PAST_DUE", moment
    await advance(merchant, clock["id"], "2027-04-11T00:00:00Z")
    ended = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert ended["status"] == "SUBSCRIPTION_STATUS_CANCELED"
    assert ended["cancellation_reason"] == "payment_failed"
    renewal = (await orders_of(merchant, subscription["id"]))[-1]
    assert renewal["status"] == "ORDER_STATUS_VOID"
    assert len(renewal["attempts"]) == 4


async def test_a_trial_without_a_card_ends_canceled(merchant: Merchant) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-06-01T00:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 3000)
    customer = (
        await merchant.client.post(
            "/v1/customers", json={"email": "trial@example.com", "test_clock_id": clock["id"]}
        )
    ).json()
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer["id"],
                "product_id": product["id"],
                "currency": "USD",
            },
            "trial": {"interval": "INTERVAL_DAY", "count": 14},
        },
    )
    assert created.status_code == 200, created.text
    subscription = created.json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_TRIALING"
    assert subscription["trial_end"] == "2027-06-15T00:00:00Z"
    assert subscription["current_period_end"] == "2027-06-15T00:00:00Z"
    await settle(merchant, clock["id"])
    assert await orders_of(merchant, subscription["id"]) == []
    await advance(merchant, clock["id"], "2027-06-15T00:00:00Z")
    ended = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert ended["status"] == "SUBSCRIPTION_STATUS_CANCELED"
    assert ended["cancellation_reason"] == "trial_ended_without_payment_method"
    [order] = await orders_of(merchant, subscription["id"])
    assert order["status"] == "ORDER_STATUS_VOID"
    assert order["total_minor"] == "3000"


def prorated(amount: int, remaining: int, total: int) -> int:
    """amount × remaining / total, rounded half away from zero (the written rule)."""
    numerator, sign = abs(amount) * remaining, (1 if amount >= 0 else -1)
    whole, rest = divmod(numerator, total)
    return sign * (whole + (1 if 2 * rest >= total else 0))


JANUARY = 31 * 86400
AFTER_TEN_DAYS = 21 * 86400


async def two_plans_on_a_clock(
    merchant: Merchant, servers: SessionServers, start_on: str
) -> tuple[str, str, str, dict[str, Any], dict[str, Any]]:
    """A clock, a customer with a card on it, Basic (1000) and Pro (3000)
    monthly plans; the customer subscribed to `start_on` ("basic" or "pro")."""
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    basic = await monthly_product(merchant, 1000, "Basic")
    pro = await monthly_product(merchant, 3000, "Pro")
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    chosen = basic if start_on == "basic" else pro
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "price_id": chosen["prices"][0]["id"],
                    "product_id": chosen["id"],
                }
            },
        )
    ).json()
    assert subscription.get("id"), subscription
    await settle(merchant, clock["id"])
    await advance(merchant, clock["id"], "2027-01-11T00:00:00Z")
    return clock["id"], subscription["id"], customer_id, basic, pro


async def change(
    merchant: Merchant, subscription_id: str, price_id: str, behavior: str
) -> dict[str, Any]:
    changed = await merchant.client.post(
        f"/v1/subscriptions/{subscription_id}/change",
        json={"price_id": price_id, "proration_behavior": behavior},
    )
    assert changed.status_code == 200, changed.text
    return dict(changed.json())


async def test_an_upgrade_invoiced_now_charges_the_difference_to_the_second(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock_id, subscription_id, _, _, pro = await two_plans_on_a_clock(merchant, servers, "basic")
    changed = await change(
        merchant, subscription_id, pro["prices"][0]["id"], "PRORATION_BEHAVIOR_INVOICE_NOW"
    )
    assert changed["product_id"] == pro["id"]
    await settle(merchant, clock_id)
    update = (await orders_of(merchant, subscription_id))[-1]
    assert update["billing_reason"] == "BILLING_REASON_SUBSCRIPTION_UPDATE"
    credit = prorated(-1000, AFTER_TEN_DAYS, JANUARY)
    charge = prorated(3000, AFTER_TEN_DAYS, JANUARY)
    assert (credit, charge) == (-677, 2032)
    assert [(line["kind"], line["amount_minor"]) for line in update["lines"]] == [
        ("ORDER_LINE_KIND_PRORATION", str(credit)),
        ("ORDER_LINE_KIND_PRORATION", str(charge)),
    ]
    assert all(line["prorated_seconds"] == str(AFTER_TEN_DAYS) for line in update["lines"])
    assert all(line["period_seconds"] == str(JANUARY) for line in update["lines"])
    assert (update["total_minor"], update["status"]) == ("1355", "ORDER_STATUS_PAID")
    await advance(merchant, clock_id, "2027-02-01T00:00:00Z")
    renewal = (await orders_of(merchant, subscription_id))[-1]
    assert (renewal["billing_reason"], renewal["total_minor"]) == (
        "BILLING_REASON_SUBSCRIPTION_CYCLE",
        "3000",
    )


async def test_a_downgrade_on_the_next_invoice_becomes_credit_for_later_orders(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock_id, subscription_id, _, basic, _ = await two_plans_on_a_clock(merchant, servers, "pro")
    await change(
        merchant, subscription_id, basic["prices"][0]["id"], "PRORATION_BEHAVIOR_NEXT_INVOICE"
    )
    await settle(merchant, clock_id)
    assert len(await orders_of(merchant, subscription_id)) == 1  # nothing billed yet
    await advance(merchant, clock_id, "2027-02-01T00:00:00Z")
    renewal = (await orders_of(merchant, subscription_id))[-1]
    credit = prorated(-3000, AFTER_TEN_DAYS, JANUARY)
    charge = prorated(1000, AFTER_TEN_DAYS, JANUARY)
    assert sorted(int(line["amount_minor"]) for line in renewal["lines"]) == sorted(
        [1000, credit, charge]
    )
    # 1000 − 2032 + 677 = −355: nothing to pay, 355 carried.
    assert (renewal["total_minor"], renewal["credit_carried_minor"]) == ("0", "355")
    assert renewal["status"] == "ORDER_STATUS_PAID"
    await advance(merchant, clock_id, "2027-03-01T00:00:00Z")
    after = (await orders_of(merchant, subscription_id))[-1]
    assert (after["total_minor"], after["credit_applied_minor"], after["amount_due_minor"]) == (
        "1000",
        "355",
        "645",
    )
    assert after["amount_paid_minor"] == "645"


async def test_a_change_at_period_end_waits_for_the_renewal(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock_id, subscription_id, _, basic, pro = await two_plans_on_a_clock(
        merchant, servers, "basic"
    )
    changed = await change(
        merchant, subscription_id, pro["prices"][0]["id"], "PRORATION_BEHAVIOR_AT_PERIOD_END"
    )
    assert changed["product_id"] == basic["id"]
    assert changed["scheduled_change"]["price_id"] == pro["prices"][0]["id"]
    await advance(merchant, clock_id, "2027-02-01T00:00:00Z")
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription_id}")).json()
    assert (found["product_id"], found.get("scheduled_change")) == (pro["id"], None)
    renewal = (await orders_of(merchant, subscription_id))[-1]
    assert [(line["kind"], line["amount_minor"]) for line in renewal["lines"]] == [
        ("ORDER_LINE_KIND_PLAN", "3000")
    ]


async def test_a_change_without_proration_bills_nothing_until_the_renewal(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock_id, subscription_id, _, _, pro = await two_plans_on_a_clock(merchant, servers, "basic")
    await change(merchant, subscription_id, pro["prices"][0]["id"], "PRORATION_BEHAVIOR_NONE")
    await settle(merchant, clock_id)
    assert len(await orders_of(merchant, subscription_id)) == 1
    await advance(merchant, clock_id, "2027-02-01T00:00:00Z")
    renewal = (await orders_of(merchant, subscription_id))[-1]
    assert renewal["total_minor"] == "3000"


async def test_a_change_to_another_currency_is_refused(
    merchant: Merchant, servers: SessionServers
) -> None:
    _, subscription_id, _, _, pro = await two_plans_on_a_clock(merchant, servers, "basic")
    euro = await merchant.client.post(
        f"/v1/products/{pro['id']}/prices",
        json={"currency": "EUR", "fixed": {"amount_minor": 2800}},
    )
    assert euro.status_code == 200, euro.text
    refused = await merchant.client.post(
        f"/v1/subscriptions/{subscription_id}/change",
        json={
            "price_id": euro.json()["id"],
            "proration_behavior": "PRORATION_BEHAVIOR_INVOICE_NOW",
        },
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["details"][0]["reason"] == "CURRENCY_MISMATCH"


TOKENS_METER = {
    "name": "Tokens",
    "filter": {
        "clauses": [
            {
                "condition": {
                    "property": "name",
                    "operator": "FILTER_OPERATOR_EQ",
                    "string_value": "api_call",
                }
            }
        ]
    },
    "aggregation": {"function": "AGGREGATION_FUNCTION_SUM", "property": "metadata.tokens"},
}


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def ingest(merchant: Merchant, customer_id: str, tokens: int, at: dt.datetime) -> None:
    answer = await merchant.client.post(
        "/v1/events/ingest",
        json={
            "events": [
                {
                    "name": "api_call",
                    "customer_id": customer_id,
                    "timestamp": rfc3339(at),
                    "metadata": {"tokens": tokens},
                    "external_id": f"evt-{uuid.uuid4()}",
                }
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 1


async def test_metered_usage_is_billed_in_arrears_and_a_late_event_once_in_the_next_order(
    merchant: Merchant, servers: SessionServers
) -> None:
    # Metering takes events up to 35 days old and none from the future: the
    # clock starts 20 days ago, so the first period's events are real ones.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(days=20)
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": rfc3339(start)})
    ).json()
    meter = (await merchant.client.post("/v1/meters", json=TOKENS_METER)).json()
    product = await merchant.client.post(
        "/v1/products",
        json={
            "name": "API",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [
                {"currency": "USD", "fixed": {"amount_minor": 1000}},
                {
                    "currency": "USD",
                    "metered_unit": {"unit_amount": "0.5", "meter_id": meter["id"]},
                },
            ],
        },
    )
    assert product.status_code == 200, product.text
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product.json()["id"],
                    "currency": "USD",
                }
            },
        )
    ).json()
    assert len(subscription["items"]) == 2, subscription
    await settle(merchant, clock["id"])
    [first] = await orders_of(merchant, subscription["id"])
    assert first["total_minor"] == "1000"  # usage is billed at the period's end

    await ingest(merchant, customer_id, 100, start + dt.timedelta(days=1))
    await ingest(merchant, customer_id, 301, now - dt.timedelta(hours=1))
    period_end = subscription["current_period_end"]
    await advance(merchant, clock["id"], period_end)
    cycle = (await orders_of(merchant, subscription["id"]))[-1]
    usage = [line for line in cycle["lines"] if line["kind"] == "ORDER_LINE_KIND_USAGE"]
    assert [(u["quantity"], u["event_count"], u["amount_minor"]) for u in usage] == [
        ("401", "2", "201")
    ]
    assert cycle["total_minor"] == "1201"  # 1000 + 401 × 0.5 = 200.5 → 201, rounded once

    # A late event of the first period, stored after its order: billed once, next.
    await ingest(merchant, customer_id, 50, start + dt.timedelta(days=2))
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    await advance(merchant, clock["id"], found["current_period_end"])
    late = (await orders_of(merchant, subscription["id"]))[-1]
    [line] = [line for line in late["lines"] if line["kind"] == "ORDER_LINE_KIND_USAGE"]
    assert (line["quantity"], line["late_quantity"], line["amount_minor"]) == ("50", "50", "25")
    assert late["total_minor"] == "1025"
    found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    await advance(merchant, clock["id"], found["current_period_end"])
    quiet = (await orders_of(merchant, subscription["id"]))[-1]
    assert quiet["total_minor"] == "1000"  # the late event is not billed twice


async def test_orders_are_taxed_by_the_customers_billing_address(
    merchant: Merchant, servers: SessionServers
) -> None:
    rate = await merchant.client.post(
        "/v1/tax-rates", json={"display_name": "USt", "country": "DE", "percentage": "19"}
    )
    assert rate.status_code == 200, rate.text
    product = await monthly_product(merchant, 1000, "Taxed")
    customer_id = await customer_with_card(merchant, servers)
    moved = await merchant.client.patch(
        f"/v1/customers/{customer_id}",
        json={"billing_address": {"country": "DE", "city": "Berlin"}},
        params={"update_mask": "billing_address"},
    )
    assert moved.status_code == 200, moved.text
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    assert created.status_code == 200, created.text
    subscription = await until(lambda: active(merchant, created.json()["id"]))
    [order] = await orders_of(merchant, subscription["id"])
    # Unspecified everywhere: frozen exclusive at the first purchase, 19 % added.
    assert (order["subtotal_minor"], order["tax_minor"], order["total_minor"]) == (
        "1000",
        "190",
        "1190",
    )
    assert order["tax_rate_percent"] == "19"
    assert order["amount_paid_minor"] == "1190"
    [line] = order["lines"]
    assert (line["tax_minor"], line["tax_inclusive"], line["total_minor"]) == ("190", False, "1190")


async def test_refunds_of_an_orders_payment_show_on_the_order(
    merchant: Merchant, servers: SessionServers
) -> None:
    product = await monthly_product(merchant, 4000, "Refundable")
    customer_id = await customer_with_card(merchant, servers)
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    subscription = await until(lambda: active(merchant, created.json()["id"]))
    [order] = await orders_of(merchant, subscription["id"])
    payment_id = order["attempts"][0]["payment_id"]
    part = await merchant.client.post(
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": {"amount_minor": 1500, "currency": "USD"}},
        headers={"Idempotency-Key": f"part-{payment_id}"},
    )
    assert part.status_code == 200, part.text

    async def order_in(status: str) -> dict[str, Any] | None:
        found = (await merchant.client.get(f"/v1/orders/{order['id']}")).json()
        return dict(found) if found["status"] == status else None

    partly = await until(lambda: order_in("ORDER_STATUS_PARTIALLY_REFUNDED"))
    assert partly["amount_refunded_minor"] == "1500"
    rest = await merchant.client.post(
        f"/v1/payments/{payment_id}/refunds",
        json={},
        headers={"Idempotency-Key": f"rest-{payment_id}"},
    )
    assert rest.status_code == 200, rest.text
    whole = await until(lambda: order_in("ORDER_STATUS_REFUNDED"))
    assert whole["amount_refunded_minor"] == "4000"


async def test_a_year_of_billing_from_a_trial_to_a_recovered_renewal(
    merchant: Merchant, servers: SessionServers
) -> None:
    """Signup with a trial → first charge → 12 renewals → a declined renewal
    → retries → recovery, every cent and every period checked."""
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-15T12:00:00Z"})
    ).json()
    product = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Team",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "trial": {"interval": "INTERVAL_DAY", "count": 14},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 4900}}],
        },
    )
    assert product.status_code == 200, product.text
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription = (
        await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product.json()["id"],
                    "currency": "USD",
                }
            },
        )
    ).json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_TRIALING"
    assert subscription["trial_end"] == "2027-01-29T12:00:00Z"
    await advance(merchant, clock["id"], "2027-01-29T12:00:00Z")
    first = await active(merchant, subscription["id"])
    assert first is not None
    assert (first["current_period_start"], first["current_period_end"]) == (
        "2027-01-29T12:00:00Z",
        "2027-02-28T12:00:00Z",
    )
    await advance(merchant, clock["id"], "2028-01-29T12:00:00Z")
    orders = await orders_of(merchant, subscription["id"])
    assert len(orders) == 13
    assert {(o["status"], o["total_minor"], o["amount_paid_minor"]) for o in orders} == {
        ("ORDER_STATUS_PAID", "4900", "4900")
    }
    starts = [o["period_start"][:10] for o in orders]
    assert starts == [
        "2027-01-29", "2027-02-28", "2027-03-29", "2027-04-29", "2027-05-29", "2027-06-29",
        "2027-07-29", "2027-08-29", "2027-09-29", "2027-10-29", "2027-11-29", "2027-12-29",
        "2028-01-29",
    ]  # fmt: skip
    await add_card(merchant, servers, customer_id, DECLINING_CARD)
    await advance(merchant, clock["id"], "2028-02-29T12:00:00Z")  # a leap day
    late = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert late["status"] == "SUBSCRIPTION_STATUS_PAST_DUE"
    await advance(merchant, clock["id"], "2028-03-03T12:00:00Z")
    await add_card(merchant, servers, customer_id, GOOD_CARD)
    await until(lambda: active(merchant, subscription["id"]))
    await settle(merchant, clock["id"])
    recovered = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert (recovered["current_period_start"], recovered["current_period_end"]) == (
        "2028-02-29T12:00:00Z",
        "2028-03-29T12:00:00Z",
    )
    orders = await orders_of(merchant, subscription["id"])
    assert len(orders) == 14
    assert [a["status"] for a in orders[-1]["attempts"]] == ["failed", "failed", "succeeded"]
    payments = (
        await merchant.client.get(
            "/v1/payments", params={"customer_id": customer_id, "page_size": 100}
        )
    ).json()["payments"]
    paid = [
        int(p["amount"]["amount_minor"])
        for p in payments
        if p["status"] == "PAYMENT_STATUS_SUCCEEDED"
    ]
    assert sum(paid) == 14 * 4900
    assert len(paid) == 14


async def test_a_promotion_code_discounts_the_months_it_covers(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    product = await monthly_product(merchant, 2000, "Discounted")
    other = await monthly_product(merchant, 2000, "Elsewhere")
    discount = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Launch",
            "percent_off": {"basis_points": 2500},
            "duration": "DISCOUNT_DURATION_REPEATING",
            "duration_in_months": 2,
            "product_ids": [product["id"]],
        },
    )
    assert discount.status_code == 200, discount.text
    code = await merchant.client.post(
        f"/v1/discounts/{discount.json()['id']}/promotion-codes", json={"code": "LAUNCH25"}
    )
    assert code.status_code == 200, code.text
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    elsewhere = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": other["id"],
                "currency": "USD",
            },
            "promotion_code": "LAUNCH25",
        },
    )
    assert elsewhere.status_code == 400, elsewhere.text
    assert elsewhere.json()["details"][0]["reason"] == "DISCOUNT_NOT_APPLICABLE"
    unknown = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            },
            "promotion_code": "NOPE-NOPE",
        },
    )
    assert unknown.status_code == 404, unknown.text
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            },
            "promotion_code": "launch25",
        },
    )
    assert created.status_code == 200, created.text
    subscription = created.json()
    assert subscription["discount_id"] == discount.json()["id"]
    assert subscription["discount_end_time"] == "2027-03-01T00:00:00Z"
    await settle(merchant, clock["id"])
    await advance(merchant, clock["id"], "2027-02-01T00:00:00Z")
    await advance(merchant, clock["id"], "2027-03-01T00:00:00Z")
    orders = await orders_of(merchant, subscription["id"])
    assert [(o["discount_minor"], o["total_minor"]) for o in orders] == [
        ("500", "1500"),
        ("500", "1500"),
        ("0", "2000"),
    ]
    assert orders[0]["lines"][0]["discount_minor"] == "500"


async def test_a_downgrade_credits_only_what_the_discounted_plan_cost(
    merchant: Merchant, servers: SessionServers
) -> None:
    """Unused time is credited at what was paid for it (the period's plan
    line less its discount), never at the list price."""
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    business = await monthly_product(merchant, 9900, "Business")
    pro = await monthly_product(merchant, 2900, "Starter")
    discount = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Half off",
            "percent_off": {"basis_points": 5000},
            "duration": "DISCOUNT_DURATION_FOREVER",
            "product_ids": [business["id"]],
        },
    )
    assert discount.status_code == 200, discount.text
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": business["id"],
                "currency": "USD",
                "discount_id": discount.json()["id"],
            }
        },
    )
    assert created.status_code == 200, created.text
    subscription_id = created.json()["id"]
    await settle(merchant, clock["id"])
    await advance(merchant, clock["id"], "2027-01-11T00:00:00Z")
    await change(
        merchant, subscription_id, pro["prices"][0]["id"], "PRORATION_BEHAVIOR_INVOICE_NOW"
    )
    await settle(merchant, clock["id"])
    first, update = await orders_of(merchant, subscription_id)
    assert first["total_minor"] == "4950"
    credit = prorated(-4950, AFTER_TEN_DAYS, JANUARY)
    charge = prorated(2900, AFTER_TEN_DAYS, JANUARY)
    assert [(line["description"], line["amount_minor"]) for line in update["lines"]] == [
        ("Unused time on Business", str(credit)),
        ("Remaining time on Starter", str(charge)),
    ]
    assert int(update["credit_carried_minor"]) == -(credit + charge)


async def test_a_discount_validates_for_a_customer_made_a_moment_ago(merchant: Merchant) -> None:
    """The catalog asks the customers service about a customer its read copy
    has not heard of yet, instead of answering 404."""
    product = await monthly_product(merchant, 2000, "Fresh")
    discount = (
        await merchant.client.post(
            "/v1/discounts",
            json={
                "name": "Any",
                "percent_off": {"basis_points": 1000},
                "duration": "DISCOUNT_DURATION_ONCE",
            },
        )
    ).json()
    for index in range(5):
        customer = (
            await merchant.client.post("/v1/customers", json={"email": f"new{index}@example.com"})
        ).json()
        validated = await merchant.client.post(
            "/v1/discounts:validate",
            json={
                "discount_id": discount["id"],
                "product_id": product["id"],
                "currency": "USD",
                "customer_id": customer["id"],
            },
        )
        assert validated.status_code == 200, validated.text
        assert validated.json()["applicable"] is True


async def test_seats_stay_within_the_price_and_a_seat_change_is_prorated(
    merchant: Merchant, servers: SessionServers
) -> None:
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    product = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Seats",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [
                {
                    "currency": "USD",
                    "seat_based": {
                        "tier_mode": "TIER_MODE_VOLUME",
                        "tiers": [{"from_seats": 1, "amount_per_seat_minor": 500}],
                        "minimum_seats": 2,
                        "maximum_seats": 10,
                    },
                }
            ],
        },
    )
    assert product.status_code == 200, product.text
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])

    async def subscribe(seats: int) -> Any:
        return await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": product.json()["id"],
                    "currency": "USD",
                    "seats": seats,
                }
            },
        )

    for seats in (1, 11):
        refused = await subscribe(seats)
        assert refused.status_code == 400, refused.text
        assert refused.json()["details"][0]["reason"] == "SEATS_OUT_OF_RANGE"
    created = await subscribe(3)
    assert created.status_code == 200, created.text
    subscription_id = created.json()["id"]
    await advance(merchant, clock["id"], "2027-01-11T00:00:00Z")
    [first] = await orders_of(merchant, subscription_id)
    assert [(line["kind"], line["quantity"], line["amount_minor"]) for line in first["lines"]] == [
        ("ORDER_LINE_KIND_SEATS", "3", "1500")
    ]
    too_many = await merchant.client.post(
        f"/v1/subscriptions/{subscription_id}/change", json={"seats": 12}
    )
    assert too_many.status_code == 400, too_many.text
    changed = await merchant.client.post(
        f"/v1/subscriptions/{subscription_id}/change",
        json={"seats": 5, "proration_behavior": "PRORATION_BEHAVIOR_INVOICE_NOW"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["seats"] == 5
    await settle(merchant, clock["id"])
    update = (await orders_of(merchant, subscription_id))[-1]
    credit = prorated(-1500, AFTER_TEN_DAYS, JANUARY)
    charge = prorated(2500, AFTER_TEN_DAYS, JANUARY)
    assert [int(line["amount_minor"]) for line in update["lines"]] == [credit, charge]
    assert update["total_minor"] == str(credit + charge)
    await advance(merchant, clock["id"], "2027-02-01T00:00:00Z")
    renewal = (await orders_of(merchant, subscription_id))[-1]
    assert renewal["total_minor"] == "2500"


async def test_bad_input_is_refused_naming_the_field(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers
) -> None:
    product = await monthly_product(merchant, 1200, "Strict")
    price_id = product["prices"][0]["id"]
    customer_id = await customer_with_card(merchant, servers)
    someone_else = await customer_with_card(merchant, servers)
    their_card = (
        await merchant.client.get(f"/v1/customers/{someone_else}/payment-methods")
    ).json()["payment_methods"][0]["id"]

    async def create(extra: dict[str, Any], **fields: Any) -> Any:
        body = {
            "customer_id": customer_id,
            "product_id": product["id"],
            "price_id": price_id,
            **fields,
        }
        return await merchant.client.post("/v1/subscriptions", json={"subscription": body, **extra})

    cases = [
        ({"trial": {"interval": "INTERVAL_DAY", "count": 0}}, {}, 400, "trial.count"),
        ({"trial": {"interval": 99, "count": 3}}, {}, 400, "trial.interval"),
        ({"trial": {"interval": "INTERVAL_YEAR", "count": 3}}, {}, 400, "trial"),
        ({}, {"currency": "EUR"}, 400, "subscription.currency"),
        ({}, {"payment_method_id": their_card}, 404, ""),
    ]
    for extra, fields, status, field in cases:
        refused = await create(extra, **fields)
        assert refused.status_code == status, (extra, fields, refused.text)
        if field:
            assert field in refused.text, refused.text
    made = await create({})
    assert made.status_code == 200, made.text
    subscription = await until(lambda: active(merchant, made.json()["id"]))
    same = await merchant.client.post(
        f"/v1/subscriptions/{subscription['id']}/change", json={"price_id": price_id}
    )
    assert same.status_code == 400, same.text
    assert same.json()["details"][0]["reason"] == "NO_CHANGE"
    behaviour = await merchant.client.post(
        f"/v1/subscriptions/{subscription['id']}/change",
        json={"seats": 2, "proration_behavior": 99},
    )
    assert behaviour.status_code == 400, behaviour.text
    settings = await merchant.client.patch(
        "/v1/billing-settings", json={"proration_behavior": 99, "dunning_final_action": 99}
    )
    assert settings.status_code == 400, settings.text
    assert "billing_settings.proration_behavior" in settings.text
    assert "billing_settings.dunning_final_action" in settings.text
    # Another organization sees none of it.
    assert (
        await other_merchant.client.get(f"/v1/subscriptions/{subscription['id']}")
    ).status_code == 404
    listed = await other_merchant.client.get("/v1/orders", params={"customer_id": customer_id})
    assert listed.status_code == 200
    assert listed.json().get("orders", []) == []


async def test_deleting_a_customer_ends_its_subscriptions(
    merchant: Merchant, servers: SessionServers
) -> None:
    product = await monthly_product(merchant, 800, "Gone")
    customer_id = await customer_with_card(merchant, servers)
    made = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    subscription = await until(lambda: active(merchant, made.json()["id"]))
    deleted = await merchant.client.delete(f"/v1/customers/{customer_id}")
    assert deleted.status_code == 200, deleted.text

    async def ended() -> dict[str, Any] | None:
        found = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
        return dict(found) if found["status"] == "SUBSCRIPTION_STATUS_CANCELED" else None

    gone = await until(ended)
    assert gone["cancellation_reason"] == "customer_deleted"
    again = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    assert again.status_code == 404, again.text


async def test_an_incomplete_subscription_waiting_for_authentication_ends_with_its_charge_given_up(
    merchant: Merchant, servers: SessionServers
) -> None:
    """Its first charge asks for 3-D Secure (4000 0027 6000 3184) and the
    customer never authenticates: a day on, the scheduler has payments cancel
    the PaymentIntent (no one can confirm it afterwards), then ends the
    subscription unpaid and voids its first order."""
    product = await monthly_product(merchant)
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-03-01T00:00:00Z"})
    ).json()
    customer_id = await customer_with_card(
        merchant, servers, card="4000002760003184", test_clock_id=clock["id"]
    )
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": customer_id,
                "product_id": product["id"],
                "currency": "USD",
            }
        },
    )
    assert created.status_code == 200, created.text
    subscription_id = created.json()["id"]

    async def waiting() -> dict[str, Any] | None:
        listed = await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
        found = listed.json().get("payments", [])
        return (
            found[0] if found and found[0]["status"] == "PAYMENT_STATUS_REQUIRES_ACTION" else None
        )

    payment = await until(waiting)
    assert payment["client_secret"].startswith("pi_")
    await advance(merchant, clock["id"], "2027-03-02T01:00:00Z")

    ended = (await merchant.client.get(f"/v1/subscriptions/{subscription_id}")).json()
    assert ended["status"] == "SUBSCRIPTION_STATUS_CANCELED", ended
    assert [o["status"] for o in await orders_of(merchant, subscription_id)] == [
        "ORDER_STATUS_VOID"
    ]
    after = (await merchant.client.get(f"/v1/payments/{payment['id']}")).json()
    assert after["status"] == "PAYMENT_STATUS_FAILED", after
    # Stripe's PaymentIntent is canceled: authenticating it now is refused.
    async with httpx.AsyncClient(timeout=10) as stripe_api:
        late = await stripe_api.post(
            f"{servers.stripe_api_base}/v1/payment_intents/"
            f"{payment['stripe_payment_intent_id']}/_authenticate",
            params={"success": "true"},
            json={"client_secret": payment["client_secret"]},
            headers={"Authorization": f"Bearer {servers.stripe_secret_key}"},
        )
    assert late.status_code == 400, late.text
