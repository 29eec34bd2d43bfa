"""The gateway serves the OpenAPI document it was rendered with, and the
owner's REST shapes that carry an organization (`?organization_id=…`, an
`organization_id` in a create) accept the key's own and refuse any other."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from billingos_cli.paths import OPENAPI_FILE
from billingos_kit.testing.http import error_of

pytestmark = pytest.mark.e2e

NOT_OWN = "ORGANIZATION_NOT_OWN"


async def test_openapi_document_is_served_without_a_key(http: httpx.AsyncClient) -> None:
    served = await http.get("/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.content == OPENAPI_FILE.read_bytes()
    document = served.json()
    assert document["openapi"].startswith("3.1")
    portal = document["paths"]["/v1/customer-portal/benefit-grants"]["get"]
    assert portal["security"] == [{"customerSession": []}]
    assert document["paths"]["/v1/customers"]["post"].get("security") is None  # the key's

    head = await http.head("/openapi.json")
    assert head.status_code == 200
    assert head.content == b""


async def test_openapi_route_takes_no_other_method_nor_a_look_alike_path(
    http: httpx.AsyncClient,
) -> None:
    for method in ("POST", "PUT", "DELETE"):
        answer = await http.request(method, "/openapi.json", content=b"{}")
        assert 400 <= answer.status_code < 500, (method, answer.status_code)
        assert answer.content != OPENAPI_FILE.read_bytes()
    for path in ("/openapi.json/", "/openapi.jsonx", "/v1/openapi.json", "/OPENAPI.JSON"):
        answer = await http.get(path)
        assert answer.status_code == 404, path


async def test_list_customers_takes_the_keys_own_organization(merchant, other_merchant) -> None:
    created = await merchant.client.post("/v1/customers", json={"email": "own@example.com"})
    assert created.status_code == 200, created.text
    own = await merchant.client.get(
        "/v1/customers", params={"organization_id": merchant.organization_id}
    )
    assert own.status_code == 200, own.text
    assert [c["id"] for c in own.json()["customers"]] == [created.json()["id"]]

    other = await merchant.client.get(
        "/v1/customers", params={"organization_id": other_merchant.organization_id}
    )
    assert other.status_code == 400
    assert error_of(other) == (3, NOT_OWN, ["organization_id"])
    assert merchant.organization_id in json.dumps(other.json())  # says which one it may name

    malformed = await merchant.client.get("/v1/customers", params={"organization_id": "acme"})
    assert malformed.status_code == 400
    assert error_of(malformed)[2] == ["organization_id"]


async def test_create_customer_names_only_the_keys_own_organization(
    merchant, other_merchant
) -> None:
    own = await merchant.client.post(
        "/v1/customers",
        json={"email": "named@example.com", "organization_id": merchant.organization_id},
    )
    assert own.status_code == 200, own.text
    assert own.json()["organization_id"] == merchant.organization_id

    other = await merchant.client.post(
        "/v1/customers",
        json={"email": "elsewhere@example.com", "organization_id": other_merchant.organization_id},
    )
    assert other.status_code == 400
    assert error_of(other) == (3, NOT_OWN, ["customer.organization_id"])
    # Nothing was written, in either organization.
    for client in (merchant.client, other_merchant.client):
        listed = await client.get("/v1/customers", params={"email": "elsewhere@example.com"})
        assert listed.json().get("customers", []) == []

    moved = await merchant.client.patch(
        f"/v1/customers/{own.json()['id']}",
        params={"update_mask": "organization_id"},
        json={"organization_id": other_merchant.organization_id},
    )
    assert moved.status_code == 400
    assert error_of(moved)[2] == ["customer.organization_id"]
    unchanged = await merchant.client.get(f"/v1/customers/{own.json()['id']}")
    assert unchanged.json()["organization_id"] == merchant.organization_id


async def test_list_products_takes_the_keys_own_organization(merchant, other_merchant) -> None:
    own = await merchant.client.get(
        "/v1/products", params={"organization_id": merchant.organization_id}
    )
    assert own.status_code == 200, own.text
    other = await merchant.client.get(
        "/v1/products", params={"organization_id": other_merchant.organization_id}
    )
    assert other.status_code == 400
    assert error_of(other) == (3, NOT_OWN, ["organization_id"])
    unknown = await merchant.client.get(
        "/v1/products", params={"organization_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 400
    assert error_of(unknown)[1] == NOT_OWN


@pytest.mark.parametrize(
    "query",
    [
        "organization_id={other}&organization_id={own}",
        "organizationId={other}&organization_id={own}",
    ],
)
async def test_an_organization_id_given_twice_is_refused(
    merchant, other_merchant, query: str
) -> None:
    filled = query.format(own=merchant.organization_id, other=other_merchant.organization_id)
    for path in ("/v1/customers", "/v1/products"):
        answer = await merchant.client.get(f"{path}?{filled}")
        assert answer.status_code == 400, (path, answer.text)
        assert error_of(answer)[1] == "QUERY_PARAMETER_REPEATED"
