"""Signing in to the customer portal by email, through the real Envoy
gateway and the suite as `./billingos up` runs it: anyone asks for a link
and gets the same answer whoever has the address; the link reaches the
outbox (for the merchant's webhook) and, this being a development suite, the
customers service's log; its token exchanges once for a customer session,
which opens `/v1/customer-portal/customer`. Asking too often is 429 with
Retry-After. Each test speaks from a loopback address of its own, so its
allowance is not another test's."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from billingos.common.v1 import event_pb2
from billingos.customers.v1 import events_pb2
from billingos_cli.suite import Suite
from billingos_kit.testing.http import error_of

from .conftest import ClientFrom, Merchant

pytestmark = pytest.mark.e2e

EVENT_TYPE = "customer.portal_sign_in_requested"
DEADLINE_SECONDS = 10.0


async def links_in_outbox(suite: Suite, organization_id: str) -> list[str]:
    """The organization's sign-in links, as the customers outbox holds them."""
    connection = await asyncpg.connect(suite.database_url)
    try:
        found = await connection.fetch(
            "SELECT envelope FROM customers.outbox_events"
            " WHERE organization_id = $1 AND event_type = $2 ORDER BY sequence",
            organization_id,
            EVENT_TYPE,
        )
    finally:
        await connection.close()
    links = []
    for row in found:
        data = events_pb2.CustomerPortalSignInRequestedEvent()
        assert event_pb2.EventEnvelope.FromString(row["envelope"]).data.Unpack(data)
        links.append(data.sign_in_url)
    return links


async def link_in_log(log_file: Path, customer_id: str) -> str:
    """The link the customers service logged for the customer (development)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        text = await asyncio.to_thread(log_file.read_text)
        for line in text.splitlines():
            if '"sign_in_url"' not in line:
                continue
            entry = json.loads(line)
            if entry.get("customer_id") == customer_id:
                return str(entry["sign_in_url"])
        assert time.monotonic() < deadline, "no sign-in link in the customers log"
        await asyncio.sleep(0.2)


async def test_a_link_from_the_outbox_signs_the_customer_in_once(
    suite: Suite, merchant: Merchant, client_from: ClientFrom
) -> None:
    made = await merchant.client.post(
        "/v1/customers", json={"email": "ada@example.com", "name": "Ada"}
    )
    assert made.status_code == 200, made.text
    customer = made.json()
    organization = merchant.organization_id
    async with client_from("127.0.0.41") as browser:
        asked = await browser.post(
            f"/v1/public/organizations/{organization}/portal-sign-in",
            json={"email": "Ada@Example.com"},
        )
        nobody = await browser.post(
            f"/v1/public/organizations/{organization}/portal-sign-in",
            json={"email": "nobody@example.com"},
        )
        assert (asked.status_code, asked.json()) == (200, {})
        assert (nobody.status_code, nobody.content) == (asked.status_code, asked.content)
        assert asked.headers["access-control-allow-origin"] == "*"

        (link,) = await links_in_outbox(suite, organization)
        assert link.startswith(f"{suite.rest_url}/portal/{organization}/sign-in#token=bcm_")
        assert await link_in_log(suite.log_dir / "customers.log", customer["id"]) == link
        token = link.split("#token=", 1)[1]

        exchanged = await browser.post("/v1/public/portal-sign-in:exchange", json={"token": token})
        assert exchanged.status_code == 200, exchanged.text
        session = exchanged.json()
        assert session["token"].startswith("bcs_")
        assert (session["customer_id"], session["organization_id"]) == (
            customer["id"],
            organization,
        )
        again = await browser.post("/v1/public/portal-sign-in:exchange", json={"token": token})
        unknown = await browser.post(
            "/v1/public/portal-sign-in:exchange", json={"token": "bcm_" + "x" * 40}
        )
        assert again.status_code == unknown.status_code == 404
        assert error_of(again) == error_of(unknown)
        assert error_of(again)[1] == "PORTAL_SIGN_IN_NOT_FOUND"
        assert token not in again.text

    auth = {"Authorization": f"Bearer {session['token']}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=auth, timeout=10) as portal:
        shown = await portal.get("/v1/customer-portal/customer")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["id"], shown.json()["email"]) == (customer["id"], "ada@example.com")


async def test_an_address_asked_for_too_often_gets_429_with_retry_after(
    merchant: Merchant, client_from: ClientFrom
) -> None:
    """Three a minute per address of an organization (nobody's address too:
    the limit tells nothing), before any work; another address goes on."""
    path = f"/v1/public/organizations/{merchant.organization_id}/portal-sign-in"
    async with client_from("127.0.0.42") as browser:
        statuses = []
        for _ in range(4):
            answer = await browser.post(path, json={"email": "someone@example.com"})
            statuses.append(answer.status_code)
        assert statuses == [200, 200, 200, 429]
        assert int(answer.headers["retry-after"]) >= 1
        assert error_of(answer)[:2] == (8, "PORTAL_SIGN_IN_RATE_LIMITED")
        other = await browser.post(path, json={"email": "someone-else@example.com"})
        assert other.status_code == 200, other.text


async def test_an_unknown_organization_is_not_found_and_a_bad_address_is_named(
    merchant: Merchant, client_from: ClientFrom
) -> None:
    async with client_from("127.0.0.43") as browser:
        unknown = await browser.post(
            "/v1/public/organizations/no-such-shop-here/portal-sign-in",
            json={"email": "ada@example.com"},
        )
        assert unknown.status_code == 404
        assert error_of(unknown)[1] == "ORGANIZATION_NOT_FOUND"
        bad = await browser.post(
            f"/v1/public/organizations/{merchant.organization_id}/portal-sign-in",
            json={"email": "not an address"},
        )
        assert bad.status_code == 400
        assert error_of(bad)[2] == ["email"]
