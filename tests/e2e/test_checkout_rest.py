"""Checkout links and sessions through the real Envoy gateway: a merchant
makes a link whose URL is on the suite's public address; a browser (no
credentials) reads the link's offer, opens a session from it, and changes
its price, with the totals quoted anew each time."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billingos_cli.suite import Suite

from .conftest import ClientFrom, Merchant

pytestmark = pytest.mark.e2e


async def plan(merchant: Merchant) -> dict[str, Any]:
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
        },
    )
    assert created.status_code == 200, created.text
    return dict(created.json())


async def test_a_link_opens_a_session_that_a_browser_quotes_without_a_key(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    product = await plan(merchant)
    made = await merchant.client.post(
        "/v1/checkout-links",
        headers={"Idempotency-Key": "link-e2e-1"},
        json={"product_ids": [product["id"]], "success_url": "http://127.0.0.1:9/thanks"},
    )
    assert made.status_code == 200, made.text
    link = made.json()
    assert link["url"] == (f"{suite.rest_url}/checkout/{merchant.organization_id}/{link['id']}")

    offer = await http.get(
        f"/v1/public/organizations/{merchant.organization_id}/checkout-links/{link['id']}"
    )
    assert offer.status_code == 200, offer.text
    assert offer.headers["access-control-allow-origin"] == "*"
    yearly = next(
        p
        for p in offer.json()["products"][0]["prices"]
        if p.get("recurring", {}).get("interval") == "INTERVAL_YEAR"
    )

    opened = await http.post(
        f"/v1/public/organizations/{merchant.organization_id}/checkout-links/{link['id']}/sessions",
        json={"customer_email": "ada@example.com"},
    )
    assert opened.status_code == 200, opened.text
    session = opened.json()
    secret = session["client_secret"]
    assert secret.startswith("bcx_")
    assert session["customer_email"] == "ada@example.com"
    assert session["totals"]["total_minor"] == "1500"

    changed = await http.patch(
        f"/v1/public/checkout-sessions/{secret}",
        params={"update_mask": "price_id"},
        json={"price_id": yearly["id"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["totals"]["total_minor"] == "15000"
    assert changed.json()["client_secret"] == ""  # shown when opened only

    read = await http.get(f"/v1/public/checkout-sessions/{secret}")
    assert (read.status_code, read.json()["price_id"]) == (200, yearly["id"])
    unknown = await http.get("/v1/public/checkout-sessions/bcx_" + "x" * 40)
    assert unknown.status_code == 404
    assert "x" * 40 not in unknown.text


async def test_one_address_opening_sessions_without_end_gets_429_with_retry_after(
    merchant: Merchant, http: httpx.AsyncClient, client_from: ClientFrom
) -> None:
    """Anyone may open a session from a link, so each client address has an
    allowance (60 a minute): past it, 429 with Retry-After, before any work;
    other addresses (the merchant's other customers) go on."""
    product = await plan(merchant)
    made = await merchant.client.post(
        "/v1/checkout-links",
        json={"product_ids": [product["id"]], "success_url": "http://127.0.0.1:9/thanks"},
    )
    link = made.json()
    organization = merchant.organization_id
    path = f"/v1/public/organizations/{organization}/checkout-links/{link['id']}/sessions"
    statuses = []
    async with client_from("127.0.0.23") as flooder:
        # 60 at once, and one more a second as the allowance refills.
        for _ in range(200):
            answer = await flooder.post(path, json={})
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert "CHECKOUT_SESSIONS_RATE_LIMITED" in answer.text
                break
    assert statuses[-1] == 429
    assert 60 <= statuses.count(200) < 199
    assert (await http.post(path, json={})).status_code == 200
