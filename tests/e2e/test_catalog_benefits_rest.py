"""A product's benefits through the real Envoy gateway. The benefit's state is
published onto JetStream the way the entitlements relay publishes it, so the
test holds whatever the entitlements service does with its own API: the
catalog learns the benefit from the state stream, and a merchant attaches it
as soon as the catalog has (NOT_FOUND until then, as the API says)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from billingos.entitlements.v1 import benefits_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos_kit.clock import SystemClock
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers

pytestmark = pytest.mark.e2e


def fields_of(response: httpx.Response) -> list[str]:
    return [
        violation["field"]
        for detail in response.json().get("details", [])
        if detail["@type"].endswith("BadRequest")
        for violation in detail["field_violations"]
    ]


async def publish_benefit(servers: SessionServers, organization_id: str) -> str:
    """A live benefit of the organization, announced as entitlements would."""
    now = timestamp(SystemClock().now())
    benefit = benefits_pb2.Benefit(
        id=str(uuid.uuid4()),
        organization_id=organization_id,
        type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG,
        key="api-access",
        description="API access",
        feature_flag=benefits_pb2.FeatureFlagProperties(),
        create_time=now,
        update_time=now,
    )
    await publish_event(
        servers.suite_nats_url,
        entitlement_events.BenefitCreatedEvent(benefit=benefit),
        organization_id,
    )
    return benefit.id


async def attach_when_known(
    client: httpx.AsyncClient, product_id: str, benefit_id: str
) -> httpx.Response:
    """Attaches, retrying while the catalog has not heard of the benefit."""
    deadline = time.monotonic() + 15
    while True:
        response = await client.post(
            f"/v1/products/{product_id}/benefits", json={"benefit_id": benefit_id}
        )
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_a_merchant_attaches_and_detaches_a_benefit(
    merchant: Any, other_merchant: Any, servers: SessionServers
) -> None:
    product = (await merchant.client.post("/v1/products", json={"name": "Pro"})).json()
    assert product.get("benefit_ids", []) == []
    benefit_id = await publish_benefit(servers, merchant.organization_id)

    attached = await attach_when_known(merchant.client, product["id"], benefit_id)
    assert attached.status_code == 200, attached.text
    assert attached.json()["benefit_ids"] == [benefit_id]
    fetched = await merchant.client.get(f"/v1/products/{product['id']}")
    assert fetched.json()["benefit_ids"] == [benefit_id]

    # Another organization's benefit is as unknown as one that never existed.
    theirs = (await other_merchant.client.post("/v1/products", json={"name": "Basic"})).json()
    for candidate in (benefit_id, str(uuid.uuid4())):
        refused = await other_merchant.client.post(
            f"/v1/products/{theirs['id']}/benefits", json={"benefit_id": candidate}
        )
        assert refused.status_code == 404, refused.text
        assert fields_of(refused) == ["benefit_id"]

    path = f"/v1/products/{product['id']}/benefits/{benefit_id}"
    key = {"Idempotency-Key": f"detach-{uuid.uuid4()}"}
    detached = await merchant.client.delete(path, headers=key)
    assert detached.status_code == 200, detached.text
    assert detached.json().get("benefit_ids", []) == []
    replayed = await merchant.client.delete(path, headers=key)
    assert replayed.status_code == 200
    assert replayed.json() == detached.json()
    again = await merchant.client.delete(path)
    assert again.status_code == 404, again.text
    assert fields_of(again) == ["benefit_id"]
