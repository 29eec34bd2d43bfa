"""Entitlements through the real Envoy gateway, the whole suite running: a
merchant defines a benefit, attaches it to a product, a customer on a test
clock subscribes, the check answers allowed; the subscription is canceled at
its period's end and, once the clock passes it, the check answers not
granted. Another organization sees none of it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant
from .test_subscriptions_rest import advance, customer_with_card, monthly_product, settle

pytestmark = pytest.mark.e2e


async def eventually_json(merchant: Merchant, path: str, wanted: Any, **params: Any) -> Any:
    """GET `path` until `wanted(body)` holds (events take a moment to reach
    the view); the last body otherwise, for the assertion to show."""
    deadline = time.monotonic() + 20
    while True:
        response = await merchant.client.get(path, params=params)
        body = response.json()
        if (response.status_code == 200 and wanted(body)) or time.monotonic() > deadline:
            return response.status_code, body
        await asyncio.sleep(0.2)


async def test_a_subscription_grants_the_feature_until_its_canceled_period_ends(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers
) -> None:
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_FEATURE_FLAG",
            "key": "api-access",
            "description": "API access",
            "feature_flag": {},
        },
    )
    assert benefit.status_code == 200, benefit.text
    benefit_id = benefit.json()["id"]
    product = await monthly_product(merchant, 2000, "Pro")
    deadline = time.monotonic() + 20
    while True:  # the catalog learns the benefit from its event
        attached = await merchant.client.post(
            f"/v1/products/{product['id']}/benefits", json={"benefit_id": benefit_id}
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text

    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
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
    await settle(merchant, clock["id"])

    check = {"customer_id": customer_id, "feature": "api-access"}
    status, allowed = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("allowed") is True, **check
    )
    assert status == 200, allowed
    assert allowed["reason"] == "ENTITLEMENT_REASON_GRANTED"
    assert allowed["benefit_id"] == benefit_id
    unknown = await merchant.client.get(
        "/v1/entitlements/check", params={"customer_id": customer_id, "feature": "nope"}
    )
    assert unknown.status_code == 200, unknown.text
    assert unknown.json()["reason"] == "ENTITLEMENT_REASON_UNKNOWN_FEATURE"
    status, grants = await eventually_json(
        merchant,
        "/v1/benefit-grants",
        lambda body: len(body.get("benefit_grants", [])) == 1,
        customer_id=customer_id,
        is_granted="true",
    )
    assert grants["benefit_grants"][0]["subscription_id"] == subscription_id
    status, state = await eventually_json(
        merchant,
        f"/v1/customers/{customer_id}/state",
        lambda body: len(body.get("granted_benefits", [])) == 1,
    )
    assert [s["id"] for s in state["subscriptions"]] == [subscription_id]

    # Another organization: the customer does not exist there.
    foreign = await other_merchant.client.get("/v1/entitlements/check", params=check)
    assert foreign.status_code == 404, foreign.text
    foreign_state = await other_merchant.client.get(f"/v1/customers/{customer_id}/state")
    assert foreign_state.status_code == 404, foreign_state.text
    foreign_grants = await other_merchant.client.get(
        "/v1/benefit-grants", params={"customer_id": customer_id}
    )
    assert foreign_grants.json().get("benefit_grants", []) == []

    canceled = await merchant.client.post(f"/v1/subscriptions/{subscription_id}/cancel", json={})
    assert canceled.status_code == 200, canceled.text
    # Still granted until the period ends.
    still = await merchant.client.get("/v1/entitlements/check", params=check)
    assert still.json()["allowed"] is True
    await advance(merchant, clock["id"], "2027-02-01T00:00:01Z")
    status, revoked = await eventually_json(
        merchant,
        "/v1/entitlements/check",
        lambda body: body.get("reason") == "ENTITLEMENT_REASON_NOT_GRANTED",
        **check,
    )
    assert revoked.get("allowed", False) is False, revoked


async def test_bad_checks_are_refused_naming_the_field(merchant: Merchant) -> None:
    for params, field in (
        ({"feature": "api"}, "customer_id"),
        ({"customer_id": "x", "feature": "api"}, "customer_id"),
        ({"customer_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}, "feature"),
    ):
        response = await merchant.client.get("/v1/entitlements/check", params=params)
        assert response.status_code == 400, response.text
        fields = [
            v["field"]
            for d in response.json()["details"]
            if d["@type"].endswith("BadRequest")
            for v in d["field_violations"]
        ]
        assert field in fields, response.text


async def meter_credits_product(merchant: Merchant, units: str) -> dict[str, Any]:
    """A monthly product granting `units` API calls a period (a count meter
    of `api_call` events, its benefit `api-calls`)."""
    meter = await merchant.client.post(
        "/v1/meters",
        json={
            "name": "API calls",
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
            "aggregation": {"function": "AGGREGATION_FUNCTION_COUNT"},
        },
    )
    assert meter.status_code == 200, meter.text
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_METER_CREDITS",
            "key": "api-calls",
            "description": f"{units} API calls a month",
            "meter_credits": {"meter_id": meter.json()["id"], "units": units},
        },
    )
    assert benefit.status_code == 200, benefit.text
    product = await monthly_product(merchant, 2000, "Metered")
    deadline = time.monotonic() + 20
    while True:
        attached = await merchant.client.post(
            f"/v1/products/{product['id']}/benefits", json={"benefit_id": benefit.json()["id"]}
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text
    return dict(attached.json())


async def subscribed(merchant: Merchant, customer_id: str, product: dict[str, Any]) -> str:
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
    return str(created.json()["id"])


async def use(merchant: Merchant, customer_id: str, events: int) -> None:
    ingested = await merchant.client.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "customer_id": customer_id} for _ in range(events)]},
    )
    assert ingested.status_code == 200, ingested.text


async def test_meter_credits_are_credited_and_usage_consumes_them(
    merchant: Merchant, servers: SessionServers
) -> None:
    """A meter-credits benefit: its units are credited to the customer's
    meter when granted, and each usage event is taken from the balance the
    check answers with."""
    product = await meter_credits_product(merchant, "1000")
    customer_id = await customer_with_card(merchant, servers)
    await subscribed(merchant, customer_id, product)
    check = {"customer_id": customer_id, "feature": "api-calls"}
    status, credited = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "1000", **check
    )
    assert (status, credited.get("allowed"), credited.get("balance")) == (200, True, "1000"), (
        credited
    )
    await use(merchant, customer_id, 3)
    status, used = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "997", **check
    )
    assert (used.get("balance"), used.get("consumed_units")) == ("997", "3"), used


async def test_credits_reset_at_each_renewal_and_end_with_the_canceled_period(
    merchant: Merchant, servers: SessionServers
) -> None:
    """The issue's whole path on a test clock: subscribe, granted, usage
    consumes credits, the renewal resets them, cancel, revoked at the
    period's end."""
    product = await meter_credits_product(merchant, "100")
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    customer_id = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    subscription_id = await subscribed(merchant, customer_id, product)
    await settle(merchant, clock["id"])
    check = {"customer_id": customer_id, "feature": "api-calls"}
    status, credited = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "100", **check
    )
    assert (status, credited.get("allowed")) == (200, True), credited
    await use(merchant, customer_id, 40)
    status, used = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "60", **check
    )
    assert used.get("consumed_units") == "40", used

    await advance(merchant, clock["id"], "2027-02-01T00:00:01Z")  # renewed, charged
    status, reset = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "100", **check
    )
    assert (reset.get("balance"), reset.get("allowed")) == ("100", True), reset
    await use(merchant, customer_id, 5)
    status, used = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("balance") == "95", **check
    )
    assert used.get("balance") == "95", used

    canceled = await merchant.client.post(f"/v1/subscriptions/{subscription_id}/cancel", json={})
    assert canceled.status_code == 200, canceled.text
    still = await merchant.client.get("/v1/entitlements/check", params=check)
    assert still.json()["allowed"] is True, still.text
    await advance(merchant, clock["id"], "2027-03-01T00:00:01Z")
    status, ended = await eventually_json(
        merchant,
        "/v1/entitlements/check",
        lambda body: body.get("reason") == "ENTITLEMENT_REASON_NOT_GRANTED",
        **check,
    )
    assert ended.get("allowed", False) is False, ended


async def test_a_license_key_is_granted_validated_and_activated(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers
) -> None:
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_LICENSE_KEYS",
            "key": "desktop-app",
            "description": "The desktop app",
            "license_keys": {"prefix": "ACME", "activation_limit": 1},
        },
    )
    assert benefit.status_code == 200, benefit.text
    product = await monthly_product(merchant, 2000, "Desktop")
    deadline = time.monotonic() + 20
    while True:
        attached = await merchant.client.post(
            f"/v1/products/{product['id']}/benefits", json={"benefit_id": benefit.json()["id"]}
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text
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
    status, listed = await eventually_json(
        merchant,
        "/v1/license-keys",
        lambda body: len(body.get("license_keys", [])) == 1,
        customer_id=customer_id,
    )
    assert status == 200, listed
    key = listed["license_keys"][0]["key"]
    assert key.startswith("ACME-")
    valid = await merchant.client.post("/v1/license-keys/validate", json={"key": key})
    assert (valid.status_code, valid.json()["valid"]) == (200, True), valid.text
    activated = await merchant.client.post(
        "/v1/license-keys/activate", json={"key": key, "label": "laptop"}
    )
    assert activated.status_code == 200, activated.text
    second = await merchant.client.post(
        "/v1/license-keys/activate", json={"key": key, "label": "desktop"}
    )
    assert second.status_code == 400, second.text
    assert "LICENSE_KEY_ACTIVATION_LIMIT" in second.text
    foreign = await other_merchant.client.post("/v1/license-keys/validate", json={"key": key})
    assert foreign.json()["validity"] == "LICENSE_KEY_VALIDITY_NOT_FOUND", foreign.text
