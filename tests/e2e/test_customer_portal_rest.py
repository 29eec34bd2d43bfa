"""Customer sessions and the customer portal through the real Envoy gateway:
the merchant makes a session for its customer, the customer's browser reads
`/v1/customer-portal/customer` with the token, the token opens no merchant
route, and after the merchant deletes the session it stops working (within
the services' cache time, 5 s). License keys: a paid subscription's
license-keys grant shows in the portal, key and all; the customer frees a
machine the merchant's app activated; nobody else's session reaches it.
(Cards: test_portal_payments_rest.py; usage: test_portal_usage_rest.py.)"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from billingos_kit.testing.http import error_of

from .test_subscriptions_rest import customer_with_card, monthly_product

pytestmark = pytest.mark.e2e

REVOCATION_BOUND_SECONDS = 15  # the cache time (5 s) and room for a slow machine


async def new_session(merchant, **customer: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    created = await merchant.client.post(
        "/v1/customers", json={"email": "ada@example.com", "name": "Ada", **customer}
    )
    assert created.status_code == 200, created.text
    session = await merchant.client.post(
        "/v1/customer-sessions", json={"customer_id": created.json()["id"]}
    )
    assert session.status_code == 200, session.text
    return created.json(), session.json()


async def test_a_session_opens_the_portal_and_nothing_else_until_it_is_deleted(
    merchant, suite
) -> None:
    customer, session = await new_session(merchant, external_id="user_1")
    assert session["customer_id"] == customer["id"]
    assert session["token"].startswith("bcs_")
    assert session["expire_time"].endswith("Z")
    auth = {"Authorization": f"Bearer {session['token']}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=auth, timeout=10) as browser:
        shown = await browser.get("/v1/customer-portal/customer")
        assert shown.status_code == 200, shown.text
        assert shown.json()["id"] == customer["id"]
        assert shown.json()["email"] == "ada@example.com"
        assert "external_id" not in shown.json()

        for merchant_route in ("/v1/customers", f"/v1/customers/{customer['id']}"):
            refused = await browser.get(merchant_route)
            assert refused.status_code == 401, refused.text
            assert error_of(refused)[:2] == (16, "CUSTOMER_SESSION_NOT_ACCEPTED")
            assert refused.headers["www-authenticate"] == "Bearer"

        deleted = await merchant.client.delete(f"/v1/customer-sessions/{session['id']}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["revoke_time"]
        assert deleted.json().get("token", "") == ""
        deadline = time.monotonic() + REVOCATION_BOUND_SECONDS
        status = 200
        while time.monotonic() < deadline:
            response = await browser.get("/v1/customer-portal/customer")
            status = response.status_code
            if status == 401:
                assert error_of(response)[:2] == (16, "CUSTOMER_SESSION_INVALID")
                break
            assert status == 200, response.text
            await asyncio.sleep(0.5)
        assert status == 401


async def test_the_portal_takes_no_api_key_and_no_missing_token(merchant, http) -> None:
    with_key = await merchant.client.get("/v1/customer-portal/customer")
    assert with_key.status_code == 401
    assert error_of(with_key)[:2] == (16, "CUSTOMER_SESSION_REQUIRED")
    without = await http.get("/v1/customer-portal/customer")
    assert without.status_code == 401
    assert error_of(without)[:2] == (16, "CUSTOMER_SESSION_MISSING")


async def test_sessions_are_made_only_for_the_merchants_own_live_customers(
    merchant, other_merchant
) -> None:
    theirs, _ = await new_session(other_merchant)
    refused = await merchant.client.post(
        "/v1/customer-sessions", json={"customer_id": theirs["id"]}
    )
    assert refused.status_code == 404
    assert error_of(refused)[1] == "CUSTOMER_NOT_FOUND"
    too_long = await merchant.client.post(
        "/v1/customer-sessions", json={"external_customer_id": "x", "ttl_seconds": 86_401}
    )
    assert too_long.status_code == 400
    assert error_of(too_long)[2] == ["ttl_seconds"]


async def test_the_session_check_is_not_routed(merchant) -> None:
    response = await merchant.client.post(
        "/billingos.customers.v1.CustomerSessionAdminService/VerifyCustomerSession",
        json={"token": "bcs_x"},
    )
    assert response.status_code == 404


# ---- license keys -------------------------------------------------------------


async def attach_when_known(merchant, product_id: str, benefit_id: str) -> None:  # type: ignore[no-untyped-def]
    """Attaches the benefit once the catalog has heard of it (from its event)."""
    deadline = time.monotonic() + 20
    while True:
        attached = await merchant.client.post(
            f"/v1/products/{product_id}/benefits", json={"benefit_id": benefit_id}
        )
        if attached.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert attached.status_code == 200, attached.text


async def subscribed_with_key(merchant, servers) -> tuple[str, dict]:  # type: ignore[no-untyped-def, type-arg]
    """A customer whose paid subscription granted a license-keys benefit:
    the customer's id and its key as the merchant sees it."""
    benefit = await merchant.client.post(
        "/v1/benefits",
        json={
            "type": "BENEFIT_TYPE_LICENSE_KEYS",
            "key": "desktop",
            "description": "Acme Desktop on two machines",
            "license_keys": {"prefix": "acme", "activation_limit": 2},
        },
    )
    assert benefit.status_code == 200, benefit.text
    product = await monthly_product(merchant, 2000, "Desktop")
    await attach_when_known(merchant, product["id"], benefit.json()["id"])
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
    deadline = time.monotonic() + 30
    while True:  # paid, then granted, then keyed
        listed = await merchant.client.get("/v1/license-keys", params={"customer_id": customer_id})
        keys = listed.json().get("license_keys", [])
        if keys or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(keys) == 1, listed.text
    return customer_id, keys[0]


async def test_a_customer_sees_its_license_key_and_frees_a_machine(
    suite, merchant, other_merchant, servers
) -> None:
    customer_id, merchants_key = await subscribed_with_key(merchant, servers)
    session = await merchant.client.post("/v1/customer-sessions", json={"customer_id": customer_id})
    assert session.status_code == 200, session.text
    _, neighbours = await new_session(merchant, email="grace@example.com")
    _, strangers = await new_session(other_merchant)
    key_id = merchants_key["id"]
    pages = [
        httpx.AsyncClient(
            base_url=suite.rest_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        for token in (session.json()["token"], neighbours["token"], strangers["token"])
    ]
    page, neighbour, stranger = pages
    try:
        listed = await page.get("/v1/customer-portal/license-keys")
        assert listed.status_code == 200, listed.text
        [shown] = listed.json()["license_keys"]
        assert (shown["id"], shown["key"]) == (key_id, merchants_key["key"])
        assert shown["key"].startswith("ACME-")
        assert shown["status"] == "PORTAL_LICENSE_KEY_STATUS_VALID"
        assert shown["benefit_description"] == "Acme Desktop on two machines"
        assert (shown["activation_limit"], shown.get("activations", 0)) == (2, 0)

        # The merchant's app activates the key on a machine (with its API key).
        activated = await merchant.client.post(
            "/v1/license-keys/activate", json={"key": shown["key"], "label": "work laptop"}
        )
        assert activated.status_code == 200, activated.text
        machine = activated.json()["id"]
        one = await page.get(f"/v1/customer-portal/license-keys/{key_id}")
        assert one.json()["activations"] == 1
        machines = await page.get(f"/v1/customer-portal/license-keys/{key_id}/activations")
        assert [(a["id"], a["label"]) for a in machines.json()["activations"]] == [
            (machine, "work laptop")
        ]

        # Nobody else's session reaches the key, its machines or ends one.
        for other in (neighbour, stranger):
            for call in (
                other.get(f"/v1/customer-portal/license-keys/{key_id}"),
                other.get(f"/v1/customer-portal/license-keys/{key_id}/activations"),
                other.post(
                    f"/v1/customer-portal/license-keys/{key_id}/activations/{machine}:deactivate",
                    json={},
                ),
            ):
                refused = await call
                assert refused.status_code == 404, refused.text
            theirs = await other.get("/v1/customer-portal/license-keys")
            assert theirs.json().get("license_keys", []) == [], theirs.text

        freed = await page.post(
            f"/v1/customer-portal/license-keys/{key_id}/activations/{machine}:deactivate", json={}
        )
        assert freed.status_code == 200, freed.text
        assert freed.json().get("activations", 0) == 0
        validated = await merchant.client.post(
            "/v1/license-keys/validate", json={"key": shown["key"], "activation_id": machine}
        )
        assert validated.json()["validity"] == "LICENSE_KEY_VALIDITY_NOT_ACTIVATED"

        # The token opens none of the merchant's license-key routes; the
        # merchant's key opens none of the portal's.
        on_merchant_route = await page.get(f"/v1/license-keys/{key_id}")
        assert error_of(on_merchant_route)[:2] == (16, "CUSTOMER_SESSION_NOT_ACCEPTED")
        with_key = await merchant.client.get(f"/v1/customer-portal/license-keys/{key_id}")
        assert error_of(with_key)[:2] == (16, "CUSTOMER_SESSION_REQUIRED")
    finally:
        for client in pages:
            await client.aclose()
