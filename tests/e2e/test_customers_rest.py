"""Customers through the real Envoy gateway over HTTP/JSON, as a merchant's
backend (or the README's curl walk-through) uses them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from billingos_kit.testing.http import error_of

pytestmark = pytest.mark.e2e


async def test_customer_round_trip_in_snake_case_json(merchant) -> None:
    created = await merchant.client.post(
        "/v1/customers",
        json={
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "external_id": "user_123",
            "metadata": {"plan": "pro", "seats": 3, "beta": True},
            "billing_address": {"line1": "1 Main St", "city": "Paris", "country": "FR"},
        },
    )
    assert created.status_code == 200, created.text
    customer: dict[str, Any] = created.json()
    assert customer["organization_id"] == merchant.organization_id
    assert customer["external_id"] == "user_123"
    assert customer["metadata"] == {"plan": "pro", "seats": 3, "beta": True}
    assert customer["billing_address"]["country"] == "FR"
    assert customer["create_time"].endswith("Z")
    assert customer["stripe_customer_id"] == ""

    fetched = await merchant.client.get(f"/v1/customers/{customer['id']}")
    assert fetched.json() == customer
    by_external_id = await merchant.client.get("/v1/customers/external/user_123")
    assert by_external_id.json()["id"] == customer["id"]

    patched = await merchant.client.patch(
        f"/v1/customers/{customer['id']}", params={"update_mask": "name"}, json={"name": "Ada"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ada"
    assert patched.json()["email"] == "ada@example.com"

    deleted = await merchant.client.delete(f"/v1/customers/{customer['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["delete_time"]
    gone = await merchant.client.get(f"/v1/customers/{customer['id']}")
    assert gone.status_code == 404
    assert error_of(gone)[1] == "CUSTOMER_NOT_FOUND"


async def test_customer_on_a_test_clock_keeps_it(merchant) -> None:
    unknown = await merchant.client.post(
        "/v1/customers", json={"email": "clocked@example.com", "test_clock_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404, unknown.text  # the clock must be the organization's
    clock = await merchant.client.post(
        "/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"}
    )
    assert clock.status_code == 200, clock.text
    clock_id = clock.json()["id"]
    created = await merchant.client.post(
        "/v1/customers", json={"email": "clocked@example.com", "test_clock_id": clock_id}
    )
    assert created.status_code == 200, created.text
    customer: dict[str, Any] = created.json()
    assert customer["test_clock_id"] == clock_id

    fetched = await merchant.client.get(f"/v1/customers/{customer['id']}")
    assert fetched.json() == customer
    moved = await merchant.client.patch(
        f"/v1/customers/{customer['id']}",
        params={"update_mask": "test_clock_id"},
        json={"test_clock_id": str(uuid.uuid4())},
    )
    assert moved.status_code == 400
    code, _reason, fields = error_of(moved)
    assert (code, fields) == (3, ["customer.test_clock_id"])
    malformed = await merchant.client.post(
        "/v1/customers", json={"email": "x@example.com", "test_clock_id": "clock_1"}
    )
    assert malformed.status_code == 400
    assert error_of(malformed)[2] == ["customer.test_clock_id"]


async def test_list_pages_and_filters(merchant) -> None:
    for i in range(3):
        response = await merchant.client.post(
            "/v1/customers", json={"email": f"list{i}@example.com"}
        )
        assert response.status_code == 200
    first = await merchant.client.get("/v1/customers", params={"page_size": 2})
    assert len(first.json()["customers"]) == 2
    token = first.json()["next_page_token"]
    second = await merchant.client.get(
        "/v1/customers", params={"page_size": 2, "page_token": token}
    )
    assert len(second.json()["customers"]) == 1
    assert second.json()["next_page_token"] == ""
    filtered = await merchant.client.get("/v1/customers", params={"email": "LIST1@example.com"})
    assert [c["email"] for c in filtered.json()["customers"]] == ["list1@example.com"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "API_KEY_MISSING"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "API_KEY_MISSING"),
        ({"Authorization": "Bearer"}, "API_KEY_MISSING"),
        ({"Authorization": "Bearer bos_made_up_key"}, "API_KEY_INVALID"),
    ],
)
async def test_missing_or_malformed_key_is_a_json_401(
    http: httpx.AsyncClient, headers: dict[str, str], reason: str
) -> None:
    response = await http.get("/v1/customers", headers=headers)
    assert response.status_code == 401
    assert error_of(response)[:2] == (16, reason)


async def test_revoked_key_stops_working_within_seconds(merchant, suite) -> None:
    created = await merchant.client.post("/v1/api-keys", json={"name": "temporary"})
    assert created.status_code == 200
    secret = created.json()["secret"]
    key_id = created.json()["api_key"]["id"]
    auth = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=auth, timeout=10) as client:
        assert (await client.get("/v1/customers")).status_code == 200
        revoked = await merchant.client.post(f"/v1/api-keys/{key_id}:revoke", json={})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoke_time"]
        deadline = time.monotonic() + 15
        status = 200
        while time.monotonic() < deadline:
            response = await client.get("/v1/customers")
            status = response.status_code
            if status == 401:
                assert error_of(response)[1] == "API_KEY_INVALID"
                break
            await asyncio.sleep(0.5)
        assert status == 401


async def test_client_sent_organization_header_is_ignored(merchant, other_merchant) -> None:
    theirs = await other_merchant.client.post("/v1/customers", json={"email": "secret@globex.io"})
    forged = {"x-billingos-organization-id": other_merchant.organization_id}
    listed = await merchant.client.get("/v1/customers", headers=forged)
    assert listed.status_code == 200
    assert theirs.json()["id"] not in [c["id"] for c in listed.json()["customers"]]
    fetched = await merchant.client.get(f"/v1/customers/{theirs.json()['id']}", headers=forged)
    assert fetched.status_code == 404


async def test_another_organizations_customer_is_404(merchant, other_merchant) -> None:
    theirs = await other_merchant.client.post("/v1/customers", json={"email": "x@globex.io"})
    customer_id = theirs.json()["id"]
    for response in [
        await merchant.client.get(f"/v1/customers/{customer_id}"),
        await merchant.client.patch(
            f"/v1/customers/{customer_id}", params={"update_mask": "name"}, json={"name": "z"}
        ),
        await merchant.client.delete(f"/v1/customers/{customer_id}"),
    ]:
        assert response.status_code == 404
        assert error_of(response)[0] == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "customer.email"),
        ({"email": "ok@example.com", "name": "n" * 300}, "customer.name"),
        (
            {"email": "ok@example.com", "metadata": {f"k{i}": i for i in range(51)}},
            "customer.metadata",
        ),
        ({"email": "ok@example.com", "metadata": {"note": "x" * 501}}, "customer.metadata.note"),
        ({"email": "ok@example.com", "metadata": {"deep": {"a": 1}}}, "customer.metadata.deep"),
        (
            {"email": "ok@example.com", "billing_address": {"country": "ZZ"}},
            "customer.billing_address.country",
        ),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    merchant, body: dict[str, Any], field: str
) -> None:
    response = await merchant.client.post("/v1/customers", json=body)
    assert response.status_code == 400
    code, _reason, fields = error_of(response)
    assert code == 3
    assert field in fields
    listed = await merchant.client.get("/v1/customers")
    assert listed.json()["customers"] == []


async def test_malformed_id_is_400_not_500(merchant) -> None:
    response = await merchant.client.get("/v1/customers/42")
    assert response.status_code == 400
    assert error_of(response)[2] == ["id"]


async def test_duplicate_external_id_is_409(merchant) -> None:
    body = {"email": "dup@example.com", "external_id": "dup"}
    assert (await merchant.client.post("/v1/customers", json=body)).status_code == 200
    again = await merchant.client.post("/v1/customers", json=body)
    assert again.status_code == 409
    assert error_of(again)[1:] == ("EXTERNAL_ID_ALREADY_EXISTS", ["customer.external_id"])


async def test_bad_page_token_is_400(merchant) -> None:
    response = await merchant.client.get("/v1/customers", params={"page_token": "nope"})
    assert response.status_code == 400
    assert error_of(response)[2] == ["page_token"]


async def test_idempotency_key_replays_and_refuses_a_different_body(merchant) -> None:
    key = {"Idempotency-Key": "create-ada-1"}
    first = await merchant.client.post("/v1/customers", json={"email": "a@x.io"}, headers=key)
    replay = await merchant.client.post("/v1/customers", json={"email": "a@x.io"}, headers=key)
    assert replay.json() == first.json()
    other = await merchant.client.post("/v1/customers", json={"email": "b@x.io"}, headers=key)
    assert other.status_code == 400
    assert error_of(other)[1] == "IDEMPOTENCY_KEY_REUSED"
    listed = await merchant.client.get("/v1/customers")
    assert len(listed.json()["customers"]) == 1


async def test_unknown_path_and_query_parameter_are_json_errors(merchant) -> None:
    unknown_path = await merchant.client.get("/v1/nothing-here")
    assert unknown_path.status_code == 404
    assert error_of(unknown_path)[:2] == (5, "METHOD_NOT_FOUND")
    unknown_query = await merchant.client.get("/v1/customers", params={"bogus": "1"})
    assert unknown_query.status_code == 400
    assert error_of(unknown_query)[0] == 3


async def test_malformed_json_body_is_a_json_400(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)[0] == 3


async def test_admin_api_is_not_exposed(merchant) -> None:
    response = await merchant.client.post(
        "/v1/admin/organizations", json={"organization": {"name": "sneaky"}}
    )
    assert response.status_code == 404


async def test_organization_of_the_key_is_readable(merchant) -> None:
    response = await merchant.client.get(f"/v1/organizations/{merchant.organization_id}")
    assert response.status_code == 200
    assert response.json()["id"] == merchant.organization_id
