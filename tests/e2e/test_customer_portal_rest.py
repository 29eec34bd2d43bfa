"""Customer sessions and the customer portal through the real Envoy gateway:
the merchant makes a session for its customer, the customer's browser reads
`/v1/customer-portal/customer` with the token, the token opens no merchant
route, and after the merchant deletes the session it stops working (within
the services' cache time, 5 s)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from billingos_kit.testing.http import error_of

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
