"""The customer portal's subscriptions and orders through the real Envoy
gateway: a merchant's customer, its paid subscription and a customer session
made with the API key; then the customer's browser, with only the session
token, lists and reads its subscription, previews a change and makes it (the
order it bills equals the preview to the cent), cancels and uncancels, lists
its orders and downloads an invoice as a PDF. And the hostile tries: an API
key on a portal route, the token on a merchant route, another customer's
order and another merchant's price."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from billingos_kit.testing.http import error_of
from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant
from .test_subscriptions_rest import customer_with_card, orders_of, settle, two_plans_on_a_clock

pytestmark = pytest.mark.e2e

PORTAL = "/v1/customer-portal"


async def browser_of(merchant: Merchant, suite: Any, customer_id: str) -> httpx.AsyncClient:
    """The customer's browser: a client with the session's token only."""
    made = await merchant.client.post("/v1/customer-sessions", json={"customer_id": customer_id})
    assert made.status_code == 200, made.text
    auth = {"Authorization": f"Bearer {made.json()['token']}"}
    return httpx.AsyncClient(base_url=suite.rest_url, headers=auth, timeout=10)


def figures(invoice: dict[str, Any]) -> tuple[Any, ...]:
    """An order's (or a preview's) lines and totals, as JSON gives them."""
    keys = ("kind", "description", "price_id", "period_start", "period_end", "quantity")
    amounts = ("amount_minor", "discount_minor", "tax_minor", "total_minor")
    return (
        [
            tuple(line.get(k, "") for k in keys) + tuple(line.get(a, "0") for a in amounts)
            for line in invoice["lines"]
        ],
        *(
            invoice.get(k, "0")
            for k in (
                "subtotal_minor",
                "discount_minor",
                "tax_minor",
                "total_minor",
                "credit_applied_minor",
                "amount_due_minor",
            )
        ),
    )


async def test_the_customer_manages_its_subscription_and_downloads_its_invoice(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers, suite: Any
) -> None:
    settings = await merchant.client.patch(
        "/v1/billing-settings?update_mask=proration_behavior",
        json={"proration_behavior": "PRORATION_BEHAVIOR_INVOICE_NOW"},
    )
    assert settings.status_code == 200, settings.text
    clock_id, subscription_id, customer_id, _, pro = await two_plans_on_a_clock(
        merchant, servers, "basic"
    )
    async with await browser_of(merchant, suite, customer_id) as browser:
        listed = await browser.get(f"{PORTAL}/subscriptions")
        assert listed.status_code == 200, listed.text
        [shown] = listed.json()["subscriptions"]
        assert shown["id"] == subscription_id
        assert (shown["product_name"], shown["period_amount_minor"]) == ("Basic", "1000")
        assert shown["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
        assert "metadata" not in shown
        assert "customer_id" not in shown
        got = await browser.get(f"{PORTAL}/subscriptions/{subscription_id}")
        assert got.json() == shown

        # Preview, then change: the order billed is the preview's, to the cent.
        body = {"price_id": pro["prices"][0]["id"]}
        preview = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:preview-change", json=body
        )
        assert preview.status_code == 200, preview.text
        previewed = preview.json()
        assert previewed["proration_behavior"] == "PRORATION_BEHAVIOR_INVOICE_NOW"
        assert [line["amount_minor"] for line in previewed["proration_lines"]] == ["-677", "2032"]
        assert previewed["amount_due_now_minor"] == "1355"
        assert previewed["next_renewal"]["total_minor"] == "3000"
        changed = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:change",
            json=body,
            headers={"Idempotency-Key": "portal-upgrade-1"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["product_name"] == "Pro"
        again = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:change",
            json=body,
            headers={"Idempotency-Key": "portal-upgrade-1"},
        )
        assert again.json() == changed.json()  # replayed, not changed twice
        await settle(merchant, clock_id)
        update = (await orders_of(merchant, subscription_id))[-1]
        assert update["billing_reason"] == "BILLING_REASON_SUBSCRIPTION_UPDATE"
        assert figures(update) == figures(previewed["invoice_now"])
        assert update["status"] == "ORDER_STATUS_PAID"

        # Cancel at the period's end, then take it back.
        canceled = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:cancel", json={"comment": "too pricey"}
        )
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["cancel_at_period_end"] is True
        merchant_view = await merchant.client.get(f"/v1/subscriptions/{subscription_id}")
        assert merchant_view.json()["cancel_at_period_end"] is True
        uncanceled = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:uncancel", json={}
        )
        assert uncanceled.status_code == 200, uncanceled.text
        assert uncanceled.json().get("cancel_at_period_end", False) is False

        # The orders, and an invoice as a PDF.
        orders = await browser.get(f"{PORTAL}/orders")
        assert orders.status_code == 200, orders.text
        listed_orders = orders.json()["orders"]
        assert [o["id"] for o in listed_orders] == [
            o["id"] for o in reversed(await orders_of(merchant, subscription_id))
        ]
        assert "attempts" not in listed_orders[0]
        invoice = await browser.get(f"{PORTAL}/orders/{update['id']}/invoice")
        assert invoice.status_code == 200, invoice.text
        assert invoice.headers["content-type"] == "application/pdf"
        assert invoice.content.startswith(b"%PDF-")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice.content)).pages)
        for expected in ("Acme", listed_orders[0]["invoice_number"], "Ada", "USD 13.55", "Pro"):
            assert expected in text, (expected, text)

        # Hostile: another customer's order, another merchant's price.
        other_customer = await customer_with_card(merchant, servers)
        theirs = await merchant.client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": other_customer,
                    "price_id": pro["prices"][0]["id"],
                    "product_id": pro["id"],
                }
            },
        )
        assert theirs.status_code == 200, theirs.text
        their_order = theirs.json()["latest_order_id"]
        for path in (f"{PORTAL}/orders/{their_order}", f"{PORTAL}/orders/{their_order}/invoice"):
            refused = await browser.get(path)
            assert refused.status_code == 404, refused.text
            assert error_of(refused)[1] == "ORDER_NOT_FOUND"
        refused = await browser.get(f"{PORTAL}/subscriptions/{theirs.json()['id']}")
        assert refused.status_code == 404, refused.text
        foreign = await other_merchant.client.post(
            "/v1/products",
            json={
                "name": "Elsewhere",
                "recurring": {"interval": "INTERVAL_MONTH"},
                "prices": [{"currency": "USD", "fixed": {"amount_minor": 100}}],
            },
        )
        foreign_price = foreign.json()["prices"][0]["id"]
        refused = await browser.post(
            f"{PORTAL}/subscriptions/{subscription_id}:preview-change",
            json={"price_id": foreign_price},
        )
        assert refused.status_code == 404, refused.text
        assert error_of(refused)[1] == "PRICE_NOT_FOUND"

        # The token opens no merchant route.
        merchant_route = await browser.get(f"/v1/orders/{update['id']}")
        assert merchant_route.status_code == 401, merchant_route.text
        assert error_of(merchant_route)[:2] == (16, "CUSTOMER_SESSION_NOT_ACCEPTED")

    # And an API key opens no portal route.
    for path in (f"{PORTAL}/subscriptions", f"{PORTAL}/orders/{update['id']}/invoice"):
        with_key = await merchant.client.get(path)
        assert with_key.status_code == 401, with_key.text
        assert error_of(with_key)[:2] == (16, "CUSTOMER_SESSION_REQUIRED")
