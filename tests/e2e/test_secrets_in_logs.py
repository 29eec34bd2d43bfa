"""No secret in any log: a scenario through the whole suite (an API key at
work, a webhook endpoint's signing secret, a checkout session's client
secret, its SetupIntent's, a card number, a payment waiting for 3-D Secure
and its PaymentIntent's client secret, a customer portal token), then every
log the suite wrote (each service's, Envoy's, the Stripe stand-in's) is
searched for each of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant
from .test_checkout_confirmation import (
    COMPLETED,
    GOOD_CARD,
    confirm,
    open_session,
    save_card,
    settled,
    start_payment,
)
from .test_checkout_purchase import AUTHENTICATING_CARD, one_time_offer, save_authenticating_card

pytestmark = pytest.mark.e2e


@pytest.fixture
async def dev_merchant(suite: Suite) -> AsyncIterator[Merchant]:
    """An organization in development mode: its webhooks may go to loopback."""
    created = create_organization(
        suite.grpc_addresses["customers"],
        suite.options.service_token,
        "Logshop",
        development=True,
    )
    headers = {"Authorization": f"Bearer {created.api_key}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as client:
        yield Merchant(created.organization_id, created.api_key, client)


async def test_a_scenario_through_the_suite_leaves_no_secret_in_any_log(
    dev_merchant: Merchant, http: httpx.AsyncClient, suite: Suite
) -> None:
    merchant = dev_merchant
    secrets: dict[str, str] = {"api key": merchant.api_key}
    hook = await merchant.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["checkout.completed"]},
    )
    assert hook.status_code == 200, hook.text
    secrets["webhook secret"] = hook.json()["secret"]

    link, _ = await one_time_offer(merchant)
    paid = await open_session(http, merchant, link, customer_email="logs@example.com")
    secrets["checkout client secret"] = paid["client_secret"]
    started = await start_payment(http, paid["client_secret"])
    secrets["setup intent client secret"] = started["payment"]["setup_intent_client_secret"]
    await save_card(suite, started["payment"], GOOD_CARD)
    assert (await confirm(http, paid["client_secret"])).status_code == 200
    assert (await settled(http, paid["client_secret"]))["status"] == COMPLETED

    waiting = await open_session(http, merchant, link, customer_email="logs3ds@example.com")
    started = await start_payment(http, waiting["client_secret"])
    await save_authenticating_card(suite, started["payment"])
    assert (await confirm(http, waiting["client_secret"])).status_code == 200

    async def intent_secret() -> str | None:
        found = await http.get(f"/v1/public/checkout-sessions/{waiting['client_secret']}")
        body: dict[str, Any] = found.json()
        return body.get("payment", {}).get("payment_intent_client_secret") or None

    secrets["payment intent client secret"] = await eventually(intent_secret, seconds=30)
    secrets["second checkout client secret"] = waiting["client_secret"]

    customer = await merchant.client.post("/v1/customers", json={"email": "portal@example.com"})
    portal = await merchant.client.post(
        "/v1/customer-sessions", json={"customer_id": customer.json()["id"]}
    )
    assert portal.status_code == 200, portal.text
    secrets["portal token"] = portal.json()["token"]
    assert (
        await http.get(
            "/v1/customer-portal/orders",
            headers={"Authorization": f"Bearer {secrets['portal token']}"},
        )
    ).status_code == 200

    await asyncio.sleep(1)  # what the services were writing is written
    found: list[str] = []
    logs = sorted(path for path in suite.log_dir.rglob("*") if path.is_file())
    texts = {path: path.read_text(errors="replace") for path in logs}
    # Every process's log is read (the services log little when all goes
    # well: this guards against one that starts logging a secret).
    assert {"envoy.log", "payments.log", "subscriptions.log", "customers.log"} <= {
        path.name for path in logs
    }
    for path, text in texts.items():
        for name, value in secrets.items():
            if value and value in text:
                found.append(f"{name} in {path.name}")
        for number in (GOOD_CARD, AUTHENTICATING_CARD):
            if number in text:
                found.append(f"card number in {path.name}")
    assert found == [], found
