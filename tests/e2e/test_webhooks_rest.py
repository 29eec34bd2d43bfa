"""Outbound webhooks through the real Envoy gateway: a merchant in
development mode registers a receiver on this machine, and the suite's
customers process (its dispatchers and sender, on the real clock) posts
what happens there, signed the Standard Webhooks way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite
from billingos_kit.testing.http import error_of

pytestmark = pytest.mark.e2e


@dataclass
class Receiver:
    """A real HTTP server on loopback recording what it is posted."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def handle(request: web.Request) -> web.Response:
        found.received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield found
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class DevMerchant:
    organization_id: str
    client: httpx.AsyncClient


@pytest.fixture
async def dev_merchant(suite: Suite) -> AsyncIterator[DevMerchant]:
    """An organization in development mode (as `./billingos org create
    --development` makes one) and a client with its key."""
    created = create_organization(
        suite.grpc_addresses["customers"],
        suite.options.service_token,
        "Devshop",
        development=True,
    )
    headers = {"Authorization": f"Bearer {created.api_key}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as client:
        yield DevMerchant(created.organization_id, client)


async def received_at_least(receiver: Receiver, count: int, seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while len(receiver.received) < count:
        assert asyncio.get_running_loop().time() < deadline, receiver.received
        await asyncio.sleep(0.1)


async def test_a_customer_created_is_posted_signed_to_the_merchants_receiver(
    dev_merchant: DevMerchant, other_merchant, receiver: Receiver
) -> None:
    made = await dev_merchant.client.post(
        "/v1/webhook-endpoints",
        headers={"Idempotency-Key": "hook-e2e-1"},
        json={"url": receiver.url, "description": "local", "event_types": ["customer.created"]},
    )
    assert made.status_code == 200, made.text
    endpoint: dict[str, Any] = made.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")

    customer = await dev_merchant.client.post("/v1/customers", json={"email": "ada@example.com"})
    assert customer.status_code == 200, customer.text
    await received_at_least(receiver, 1)
    headers, body = receiver.received[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "customer.created"
    assert payload["organization_id"] == dev_merchant.organization_id
    assert payload["sequence"] == 1
    assert payload["data"]["customer"]["id"] == customer.json()["id"]
    assert headers["webhook-id"] == payload["id"]

    async def listed() -> list[dict[str, Any]]:
        answer = await dev_merchant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["webhook_deliveries"]
        return found

    for _ in range(300):  # the attempt is recorded as the answer comes back
        (delivery,) = await listed()
        if delivery["status"] == "WEBHOOK_DELIVERY_STATUS_SUCCEEDED":
            break
        await asyncio.sleep(0.1)
    assert delivery["status"] == "WEBHOOK_DELIVERY_STATUS_SUCCEEDED"
    assert (delivery["event_id"], delivery["attempts"]) == (payload["id"], 1)

    # Another organization sees none of it and cannot redeliver it.
    theirs = other_merchant.client
    assert (await theirs.get(f"/v1/webhook-endpoints/{endpoint['id']}")).status_code == 404
    hidden = await theirs.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")
    assert hidden.status_code == 404
    refused = await theirs.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}:redeliver", json={}
    )
    assert refused.status_code == 404
    assert error_of(refused)[1] == "WEBHOOK_ENDPOINT_NOT_FOUND"
    their_list = await theirs.get("/v1/webhook-endpoints")
    assert their_list.json().get("webhook_endpoints", []) == []
    assert len(receiver.received) == 1

    # The owner can: the same delivery, posted again.
    again = await dev_merchant.client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}:redeliver", json={}
    )
    assert again.status_code == 200, again.text
    await received_at_least(receiver, 2)
    assert receiver.received[1][1] == body
    assert receiver.received[1][0]["webhook-id"] == headers["webhook-id"]


async def test_outside_development_mode_a_local_http_url_is_refused(
    merchant, receiver: Receiver
) -> None:
    refused = await merchant.client.post("/v1/webhook-endpoints", json={"url": receiver.url})
    assert refused.status_code == 400, refused.text
    code, reason, fields = error_of(refused)
    assert (code, reason, fields) == (3, "WEBHOOK_URL_NOT_HTTPS", ["webhook_endpoint.url"])
    local = await merchant.client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url.replace("http:", "https:")}
    )
    assert error_of(local)[1:] == ("WEBHOOK_URL_PRIVATE_ADDRESS", ["webhook_endpoint.url"])
