"""The catalog through the real Envoy gateway: a merchant builds a product
with a monthly and a yearly price, and a pricing table reads it publicly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

PRO_PLAN: dict[str, Any] = {
    "name": "Pro",
    "description": "For growing teams",
    "recurring": {"interval": "INTERVAL_MONTH"},
    "trial": {"interval": "INTERVAL_DAY", "count": 14},
    "metadata": {"internal_code": "PRO-2026"},
    "public_metadata": {"highlight": True},
    "prices": [
        {"currency": "usd", "fixed": {"amount_minor": 2900}},
        {
            "currency": "usd",
            "recurring": {"interval": "INTERVAL_YEAR"},
            "fixed": {"amount_minor": 29000},
        },
    ],
}


def reason_of(response: httpx.Response) -> tuple[int, list[str]]:
    body = response.json()
    fields = [
        violation["field"]
        for detail in body.get("details", [])
        if detail["@type"].endswith("BadRequest")
        for violation in detail["field_violations"]
    ]
    return body["code"], fields


async def public_products(http: httpx.AsyncClient, organization: str) -> httpx.Response:
    """The public catalog, once the catalog has learnt the organization (its
    read copy follows the customers service's events)."""
    deadline = time.monotonic() + 15
    while True:
        response = await http.get(f"/v1/public/organizations/{organization}/products")
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_product_with_monthly_and_yearly_prices_is_public(
    merchant, http: httpx.AsyncClient
) -> None:
    created = await merchant.client.post("/v1/products", json=PRO_PLAN)
    assert created.status_code == 200, created.text
    product = created.json()
    assert [p["recurring"]["interval"] for p in product["prices"]] == [
        "INTERVAL_MONTH",
        "INTERVAL_YEAR",
    ]
    # proto3 JSON prints int64 as strings; both forms are accepted on input.
    assert product["prices"][0]["fixed"]["amount_minor"] == "2900"
    assert product["prices"][0]["currency"] == "USD"

    listed = await public_products(http, merchant.organization_id)
    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"].startswith("public, max-age=")
    assert listed.headers["etag"]
    [public] = listed.json()["products"]
    assert public["id"] == product["id"]
    assert public["public_metadata"] == {"highlight": True}
    assert "metadata" not in public
    assert "PRO-2026" not in listed.text
    assert len(public["prices"]) == 2


async def test_public_catalog_by_slug_needs_no_api_key(merchant, http: httpx.AsyncClient) -> None:
    organization = await merchant.client.get(f"/v1/organizations/{merchant.organization_id}")
    slug = organization.json()["slug"]
    await merchant.client.post("/v1/products", json=PRO_PLAN)
    listed = await public_products(http, slug)
    assert listed.status_code == 200, listed.text
    assert [p["name"] for p in listed.json()["products"]] == ["Pro"]
    unknown = await http.get("/v1/public/organizations/no-such-shop/products")
    assert unknown.status_code == 404


async def test_archived_items_disappear_from_the_public_catalog(
    merchant, http: httpx.AsyncClient
) -> None:
    product = (await merchant.client.post("/v1/products", json=PRO_PLAN)).json()
    yearly = product["prices"][1]["id"]
    archived_price = await merchant.client.patch(
        f"/v1/prices/{yearly}", params={"update_mask": "archived"}, json={"archived": True}
    )
    assert archived_price.status_code == 200, archived_price.text
    listed = await public_products(http, merchant.organization_id)
    assert [p["id"] for p in listed.json()["products"][0]["prices"]] == [product["prices"][0]["id"]]
    await merchant.client.patch(
        f"/v1/products/{product['id']}", params={"update_mask": "archived"}, json={"archived": True}
    )
    listed = await public_products(http, merchant.organization_id)
    assert listed.json()["products"] == []


async def test_catalog_bad_input_is_a_400_naming_the_field(merchant) -> None:
    cases = [
        (
            {
                "name": "X",
                "recurring": {"interval": "INTERVAL_MONTH"},
                "prices": [{"currency": "usd"}],
            },
            "product.prices[0].amount",
        ),
        (
            {"name": "X", "prices": [{"currency": "zzz", "fixed": {"amount_minor": 100}}]},
            "product.prices[0].currency",
        ),
        ({"name": "X", "trial": {"interval": "INTERVAL_DAY"}}, "product.trial"),
        (
            {
                "name": "X",
                "recurring": {"interval": "INTERVAL_MONTH"},
                "prices": [
                    {
                        "currency": "usd",
                        "custom": {"minimum_amount_minor": 500, "maximum_amount_minor": 100},
                    }
                ],
            },
            "product.prices[0].custom.maximum_amount_minor",
        ),
    ]
    for body, field in cases:
        response = await merchant.client.post("/v1/products", json=body)
        assert response.status_code == 400, response.text
        assert field in reason_of(response)[1]
    unknown_interval = await merchant.client.post(
        "/v1/products", json={"name": "X", "recurring": {"interval": "INTERVAL_FORTNIGHT"}}
    )
    assert unknown_interval.status_code == 400
    assert "interval" in unknown_interval.json()["message"]
    listed = await merchant.client.get("/v1/products")
    assert listed.json()["products"] == []


async def test_discount_over_100_percent_is_refused_and_a_code_validates(merchant) -> None:
    product = (await merchant.client.post("/v1/products", json=PRO_PLAN)).json()
    too_much = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Free money",
            "percent_off": {"basis_points": 10001},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    assert too_much.status_code == 400
    assert reason_of(too_much)[1] == ["discount.percent_off.basis_points"]
    created = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Launch",
            "code": "LAUNCH20",
            "percent_off": {"basis_points": 2000},
            "duration": "DISCOUNT_DURATION_REPEATING",
            "duration_in_months": 3,
        },
    )
    assert created.status_code == 200, created.text
    validated = await merchant.client.post(
        "/v1/discounts:validate",
        json={"code": "launch20", "product_id": product["id"], "currency": "USD"},
    )
    assert validated.status_code == 200, validated.text
    assert validated.json()["applicable"] is True
