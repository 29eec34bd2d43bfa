"""Seats through the real gateway, the whole suite running: a customer's
seat-based subscription assigns a seat to a member by external id and
email, the member's own check answers allowed, the seats cannot be lowered
below the members holding one, and freeing the seat revokes the member's
benefit. Another organization cannot see or touch the seats."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant
from .test_entitlements_rest import eventually_json
from .test_subscriptions_rest import customer_with_card, settle

pytestmark = pytest.mark.e2e


async def seat_product_with_benefit(merchant: Merchant, key: str) -> dict[str, Any]:
    product = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Team",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [
                {
                    "currency": "USD",
                    "seat_based": {
                        "tier_mode": "TIER_MODE_VOLUME",
                        "tiers": [{"from_seats": 1, "amount_per_seat_minor": 500}],
                        "minimum_seats": 1,
                        "maximum_seats": 10,
                    },
                }
            ],
        },
    )
    assert product.status_code == 200, product.text
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_FEATURE_FLAG",
            "key": key,
            "description": "Team workspace",
            "feature_flag": {},
        },
    )
    assert benefit.status_code == 200, benefit.text
    deadline = time.monotonic() + 20
    while True:  # the catalog learns the benefit from its event
        attached = await merchant.client.post(
            f"/v1/products/{product.json()['id']}/benefits",
            json={"benefit_id": benefit.json()["id"]},
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text
    return dict(attached.json())


async def test_a_members_seat_grants_their_own_check_until_the_seat_is_freed(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers
) -> None:
    product = await seat_product_with_benefit(merchant, "team-workspace")
    clock = (
        await merchant.client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"})
    ).json()
    owner = await customer_with_card(merchant, servers, test_clock_id=clock["id"])
    created = await merchant.client.post(
        "/v1/subscriptions",
        json={
            "subscription": {
                "customer_id": owner,
                "product_id": product["id"],
                "currency": "USD",
                "seats": 2,
            }
        },
    )
    assert created.status_code == 200, created.text
    sub = created.json()["id"]
    await settle(merchant, clock["id"])

    seats = f"/v1/subscriptions/{sub}/seats"
    seat = await merchant.client.post(
        seats, json={"external_id": "user-42", "email": "member@example.com"}
    )
    assert seat.status_code == 200, seat.text
    member = seat.json()["member_customer_id"]
    assert seat.json()["status"] == "SEAT_STATUS_ASSIGNED"
    check = {"external_customer_id": "user-42", "feature": "team-workspace"}
    status, allowed = await eventually_json(
        merchant, "/v1/entitlements/check", lambda body: body.get("allowed") is True, **check
    )
    assert status == 200, allowed
    status, grants = await eventually_json(
        merchant,
        "/v1/benefit-grants",
        lambda body: len(body.get("benefit_grants", [])) == 1,
        customer_id=member,
        is_granted="true",
    )
    assert grants["benefit_grants"][0]["member_id"] == member

    second = await merchant.client.post(seats, json={"email": "second@example.com"})
    assert second.status_code == 200, second.text
    full = await merchant.client.post(seats, json={"email": "third@example.com"})
    assert full.status_code == 400, full.text
    assert full.json()["details"][0]["reason"] == "NO_SEAT_FREE", full.text
    lower = await merchant.client.post(
        f"/v1/subscriptions/{sub}/change",
        json={"seats": 1, "proration_behavior": "PRORATION_BEHAVIOR_NONE"},
    )
    assert lower.status_code == 400, lower.text
    assert lower.json()["details"][0]["reason"] == "SEATS_ASSIGNED", lower.text

    # Another organization: the subscription is not there, whatever the path.
    for call in (
        other_merchant.client.get(seats),
        other_merchant.client.post(seats, json={"email": "intruder@example.com"}),
        other_merchant.client.post(f"{seats}/{seat.json()['id']}/revoke", json={}),
    ):
        foreign = await call
        assert foreign.status_code == 404, foreign.text

    listed = await merchant.client.get(seats)
    assert {s["email"] for s in listed.json()["seats"]} == {
        "member@example.com",
        "second@example.com",
    }
    freed = await merchant.client.post(f"{seats}/{seat.json()['id']}/revoke", json={})
    assert freed.status_code == 200, freed.text
    assert freed.json()["status"] == "SEAT_STATUS_REVOKED"
    status, revoked = await eventually_json(
        merchant,
        "/v1/entitlements/check",
        lambda body: body.get("reason") == "ENTITLEMENT_REASON_NOT_GRANTED",
        **check,
    )
    assert revoked.get("allowed", False) is False, revoked
    owner_check = await merchant.client.get(
        "/v1/entitlements/check", params={"customer_id": owner, "feature": "team-workspace"}
    )
    assert owner_check.json()["allowed"] is True, owner_check.text
