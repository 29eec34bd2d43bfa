"""Pricing v2 through the real Envoy gateway: every usage model created over
REST (inline and on its own), the rules of what a product's prices mean,
lookup keys, promotion codes with their limits, tax rates and settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billingos_kit.testing.waiting import eventually

pytestmark = pytest.mark.e2e

METER_ID = "0193a5c2-7d1e-7a40-9c3b-5f2e8d4a1b60"
STRIPE_TIERS = [
    {"up_to": "5", "unit_amount": "500"},
    {"up_to": "10", "unit_amount": "400"},
    {"up_to": "15", "unit_amount": "300"},
    {"up_to": "20", "unit_amount": "200"},
    {"unit_amount": "100"},
]
# One request body per usage model, each as a merchant would write it.
USAGE_MODELS: dict[str, dict[str, Any]] = {
    "metered_tiers": {
        "meter_id": METER_ID,
        "tier_mode": "TIER_MODE_GRADUATED",
        "tiers": STRIPE_TIERS,
        "minimum_spend_minor": 1000,
    },
    "metered_package": {
        "meter_id": METER_ID,
        "package_size": "100",
        "amount_per_package": "500",
        "rounding": "PACKAGE_ROUNDING_UP",
        "free_units": "100",
    },
    "metered_percentage": {
        "meter_id": METER_ID,
        "rate": "2.9",
        "fixed_fee_per_event": "30",
        "per_event_minimum": "50",
        "per_event_maximum": "5000",
        "cap_amount_minor": "100000",
    },
    "metered_graduated_percentage": {
        "meter_id": METER_ID,
        "tiers": [
            {"up_to": "100000", "rate": "1", "flat_fee_minor": 20000},
            {"up_to": "1000000", "rate": "2", "flat_fee_minor": 30000},
            {"rate": "3", "flat_fee_minor": 40000},
        ],
    },
    "metered_unit": {"meter_id": METER_ID, "unit_amount": "0.0125", "minimum_spend_minor": 500},
}


def fields_of(response: httpx.Response) -> list[str]:
    return [
        violation["field"]
        for detail in response.json().get("details", [])
        if detail["@type"].endswith("BadRequest")
        for violation in detail["field_violations"]
    ]


def reason_of(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail["@type"].endswith("ErrorInfo"):
            return str(detail["reason"])
    return ""


async def new_product(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"name": "Usage", "recurring": {"interval": "INTERVAL_MONTH"}, **extra}
    created = await client.post("/v1/products", json=body)
    assert created.status_code == 200, created.text
    result: dict[str, Any] = created.json()
    return result


@pytest.mark.parametrize("model", sorted(USAGE_MODELS))
async def test_each_usage_model_is_created_over_rest(merchant, model: str) -> None:
    product = await new_product(merchant.client)
    created = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={"currency": "usd", model: USAGE_MODELS[model]},
    )
    assert created.status_code == 200, created.text
    price = created.json()
    assert price["currency"] == "USD"
    assert price["tax_behavior"] == "TAX_BEHAVIOR_UNSPECIFIED"
    body = price[model]
    assert body["meter_id"] == METER_ID
    for name, value in USAGE_MODELS[model].items():
        if name != "tiers":
            assert str(body[name]) == str(value), name
    fetched = await merchant.client.get(f"/v1/prices/{price['id']}")
    assert fetched.json() == price


async def test_every_usage_model_inline_with_one_static_price(merchant) -> None:
    product = await new_product(
        merchant.client,
        prices=[
            {"currency": "USD", "fixed": {"amount_minor": 2900}},
            *({"currency": "USD", model: body} for model, body in sorted(USAGE_MODELS.items())),
        ],
    )
    kinds = [
        next(k for k in price if k.startswith(("fixed", "metered"))) for price in product["prices"]
    ]
    assert kinds == ["fixed", *sorted(USAGE_MODELS)]
    tiers = product["prices"][4]["metered_tiers"]["tiers"]
    # The gateway prints every field, defaults too: the last tier has no bound.
    assert (tiers[-1]["up_to"], tiers[-1]["unit_amount"]) == ("", "100")
    assert (tiers[0]["up_to"], tiers[0]["unit_amount"]) == ("5", "500")


async def test_bad_usage_models_are_400s_naming_the_field(merchant) -> None:
    product = await new_product(merchant.client)
    cases = [
        (
            {
                "metered_tiers": {
                    **USAGE_MODELS["metered_tiers"],
                    "tiers": [{"up_to": "10"}, {"up_to": "10"}, {}],
                }
            },
            "price.metered_tiers.tiers[1].up_to",
        ),
        (
            {
                "metered_tiers": {
                    **USAGE_MODELS["metered_tiers"],
                    "tiers": [{"up_to": "10"}, {"up_to": "20"}],
                }
            },
            "price.metered_tiers.tiers[1].up_to",
        ),
        (
            {"metered_package": {**USAGE_MODELS["metered_package"], "package_size": 0}},
            "price.metered_package.package_size",
        ),
        (
            {"metered_percentage": {**USAGE_MODELS["metered_percentage"], "rate": "120"}},
            "price.metered_percentage.rate",
        ),
        (
            {
                "metered_percentage": {
                    **USAGE_MODELS["metered_percentage"],
                    "fixed_fee_per_event": "-1",
                }
            },
            "price.metered_percentage.fixed_fee_per_event",
        ),
        (
            {
                "metered_percentage": {
                    **USAGE_MODELS["metered_percentage"],
                    "per_event_minimum": "6000",
                }
            },
            "price.metered_percentage.per_event_minimum",
        ),
        ({"fixed": {"amount_minor": 49}}, "price.fixed.amount_minor"),
        ({"fixed": {"amount_minor": 1000}, "lookup_key": "has space"}, "price.lookup_key"),
        # GET /v1/prices/lookup/.. could never reach such a key (paths normalise it away).
        ({"fixed": {"amount_minor": 1000}, "lookup_key": ".."}, "price.lookup_key"),
        # Never ignored: a price is created active.
        ({"fixed": {"amount_minor": 1000}, "archived": True}, "price.archived"),
    ]
    for amount, field in cases:
        response = await merchant.client.post(
            f"/v1/products/{product['id']}/prices", json={"currency": "USD", **amount}
        )
        assert response.status_code == 400, response.text
        assert fields_of(response) == [field], response.text
    lookalike = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={"currency": "u\u017fd", "fixed": {"amount_minor": 1000}},
    )
    assert lookalike.status_code == 400
    assert fields_of(lookalike) == ["price.currency"]
    listed = await merchant.client.get(f"/v1/products/{product['id']}/prices")
    assert listed.json().get("prices", []) == []


async def test_a_second_static_price_for_a_currency_and_period_is_refused(merchant) -> None:
    product = await new_product(
        merchant.client, prices=[{"currency": "USD", "fixed": {"amount_minor": 2900}}]
    )
    second = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={"currency": "USD", "custom": {"minimum_amount_minor": 500}},
    )
    assert second.status_code == 400, second.text
    assert reason_of(second) == "STATIC_PRICE_EXISTS"
    assert fields_of(second) == ["price"]
    yearly = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={
            "currency": "USD",
            "recurring": {"interval": "INTERVAL_YEAR"},
            "seat_based": {
                "tier_mode": "TIER_MODE_VOLUME",
                "tiers": [{"from_seats": 1, "amount_per_seat_minor": 900}],
                "minimum_seats": 2,
                "maximum_seats": 20,
            },
        },
    )
    assert yearly.status_code == 200, yearly.text
    assert yearly.json()["seat_based"]["minimum_seats"] == 2


async def test_a_lookup_key_is_found_and_moved_over_rest(merchant) -> None:
    product = await new_product(
        merchant.client,
        prices=[{"currency": "USD", "fixed": {"amount_minor": 2900}, "lookup_key": "pro_monthly"}],
    )
    old = product["prices"][0]
    found = await merchant.client.get("/v1/prices/lookup/pro_monthly")
    assert found.status_code == 200, found.text
    assert found.json()["id"] == old["id"]
    archived = await merchant.client.patch(
        f"/v1/prices/{old['id']}", params={"update_mask": "archived"}, json={"archived": True}
    )
    assert archived.status_code == 200, archived.text
    duplicate = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={"currency": "USD", "fixed": {"amount_minor": 3900}, "lookup_key": "pro_monthly"},
    )
    assert duplicate.status_code == 409, duplicate.text
    assert fields_of(duplicate) == ["price.lookup_key"]
    moved = await merchant.client.post(
        f"/v1/products/{product['id']}/prices",
        json={"currency": "USD", "fixed": {"amount_minor": 3900}, "lookup_key": "pro_monthly"},
        params={"transfer_lookup_key": "true"},
    )
    assert moved.status_code == 200, moved.text
    assert (await merchant.client.get("/v1/prices/lookup/pro_monthly")).json()[
        "id"
    ] == moved.json()["id"]
    renamed = await merchant.client.patch(
        f"/v1/prices/{old['id']}",
        params={"update_mask": "nickname,metadata"},
        json={"nickname": "2025 price", "metadata": {"era": "launch"}},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["nickname"] == "2025 price"
    assert renamed.json()["fixed"]["amount_minor"] == "2900"
    amount = await merchant.client.patch(
        f"/v1/prices/{old['id']}",
        params={"update_mask": "fixed"},
        json={"fixed": {"amount_minor": 100}},
    )
    assert amount.status_code == 400
    assert reason_of(amount) == "PRICE_IMMUTABLE"


async def known_to_catalog(
    client: httpx.AsyncClient, discount_id: str, customer_id: str, product_id: str
) -> None:
    """Waits until the catalog's read copy knows the customer (it follows the
    customers service's events): a validation naming it stops being a 404."""

    async def answered() -> httpx.Response | None:
        response = await client.post(
            "/v1/discounts:validate",
            json={
                "discount_id": discount_id,
                "product_id": product_id,
                "currency": "USD",
                "customer_id": customer_id,
            },
        )
        return None if response.status_code == 404 else response

    response = await eventually(answered, seconds=15, every=0.2)
    assert response.status_code == 200, response.text


async def test_promotion_codes_with_their_own_limits_over_rest(merchant) -> None:
    client = merchant.client
    product = await new_product(client)
    discount = await client.post(
        "/v1/discounts",
        json={
            "name": "Launch",
            "percent_off": {"basis_points": 2000},
            "duration": "DISCOUNT_DURATION_REPEATING",
            "duration_in_months": 3,
            "product_ids": [product["id"]],
        },
    )
    assert discount.status_code == 200, discount.text
    discount_id = discount.json()["id"]
    assert discount.json()["duration_in_months"] == 3
    periods = await client.post(
        "/v1/discounts",
        json={
            "name": "Old style",
            "percent_off": {"basis_points": 2000},
            "duration": "DISCOUNT_DURATION_REPEATING",
            "duration_in_intervals": 3,
        },
    )
    assert periods.status_code == 400
    assert "discount.duration_in_intervals" in fields_of(periods)

    ada = (await client.post("/v1/customers", json={"email": "ada@example.com"})).json()["id"]
    grace = (await client.post("/v1/customers", json={"email": "grace@example.com"})).json()["id"]
    for customer in (ada, grace):
        await known_to_catalog(client, discount_id, customer, product["id"])
    personal = await client.post(
        f"/v1/discounts/{discount_id}/promotion-codes",
        json={"code": "ADA-20", "customer_id": ada, "max_redemptions": 1},
    )
    assert personal.status_code == 200, personal.text
    code = personal.json()
    assert code["discount_id"] == discount_id
    bulk = await client.post(
        f"/v1/discounts/{discount_id}/promotion-codes",
        json={"code": "SPRING", "minimum_amount": {"amount_minor": 5000, "currency": "USD"}},
    )
    assert bulk.status_code == 200, bulk.text
    listed = await client.get(f"/v1/discounts/{discount_id}/promotion-codes")
    assert [c["code"] for c in listed.json()["promotion_codes"]] == ["SPRING", "ADA-20"]

    validated = await client.post(
        "/v1/discounts:validate",
        json={
            "code": "ada-20",
            "product_id": product["id"],
            "currency": "USD",
            "customer_id": grace,
        },
    )
    assert validated.status_code == 200, validated.text
    assert validated.json()["ineligibility"] == "DISCOUNT_INELIGIBILITY_CUSTOMER_NOT_ELIGIBLE"
    assert validated.json()["promotion_code"]["id"] == code["id"]
    # Naming the discount too skips none of the code's limits; an unknown code is no code.
    beside_id = await client.post(
        "/v1/discounts:validate",
        json={
            "code": "ada-20",
            "discount_id": discount_id,
            "product_id": product["id"],
            "currency": "USD",
            "customer_id": grace,
        },
    )
    assert beside_id.status_code == 200, beside_id.text
    assert beside_id.json()["ineligibility"] == "DISCOUNT_INELIGIBILITY_CUSTOMER_NOT_ELIGIBLE"
    unknown_code = await client.post(
        "/v1/discounts:validate",
        json={
            "code": "NOSUCHCODE",
            "discount_id": discount_id,
            "product_id": product["id"],
            "currency": "USD",
        },
    )
    assert unknown_code.status_code == 404, unknown_code.text
    refused = await client.post(
        f"/v1/discounts/{discount_id}:redeem",
        json={
            "product_id": product["id"],
            "currency": "USD",
            "reference": "checkout-grace",
            "customer_id": grace,
            "promotion_code_id": code["id"],
        },
    )
    assert refused.status_code == 400, refused.text
    assert reason_of(refused) == "DISCOUNT_CUSTOMER_NOT_ELIGIBLE"
    redeemed = await client.post(
        f"/v1/discounts/{discount_id}:redeem",
        json={
            "product_id": product["id"],
            "currency": "USD",
            "reference": "checkout-ada",
            "customer_id": ada,
            "promotion_code_id": code["id"],
        },
    )
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["promotion_code_id"] == code["id"]
    small = await client.post(
        "/v1/discounts:validate",
        json={
            "code": "spring",
            "product_id": product["id"],
            "currency": "USD",
            "order_amount_minor": 4999,
        },
    )
    assert small.json()["ineligibility"] == "DISCOUNT_INELIGIBILITY_MINIMUM_AMOUNT_NOT_MET"


async def test_tax_rates_and_settings_over_rest(merchant) -> None:
    client = merchant.client
    federal = await client.post(
        "/v1/tax-rates", json={"display_name": "Sales tax", "country": "us", "percentage": "5"}
    )
    assert federal.status_code == 200, federal.text
    new_york = await client.post(
        "/v1/tax-rates",
        json={"display_name": "NY", "country": "US", "region": "NY", "percentage": "8.875"},
    )
    assert new_york.status_code == 200, new_york.text
    twice = await client.post(
        "/v1/tax-rates", json={"display_name": "Again", "country": "US", "percentage": "6"}
    )
    assert twice.status_code == 409
    assert fields_of(twice) == ["tax_rate.country"]
    too_much = await client.post(
        "/v1/tax-rates", json={"display_name": "X", "country": "FR", "percentage": "101"}
    )
    assert too_much.status_code == 400
    assert fields_of(too_much) == ["tax_rate.percentage"]

    resolved = await client.post(
        "/v1/tax-rates:resolve", json={"address": {"country": "US", "state": "ny"}}
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["tax_rate"]["id"] == new_york.json()["id"]
    elsewhere = await client.post(
        "/v1/tax-rates:resolve", json={"address": {"country": "US", "state": "TX"}}
    )
    assert elsewhere.json()["tax_rate"]["percentage"] == "5"
    prefixed = await client.post(
        "/v1/tax-rates:resolve", json={"address": {"country": "US", "state": "US-NY"}}
    )
    assert prefixed.json()["tax_rate"]["id"] == new_york.json()["id"], prefixed.text
    for state in ["New York", "\uff2e\uff39"]:  # a name, full-width letters: never "no region"
        refused = await client.post(
            "/v1/tax-rates:resolve", json={"address": {"country": "US", "state": state}}
        )
        assert refused.status_code == 400, refused.text
        assert fields_of(refused) == ["address.state"]

    updated = await client.patch(
        f"/v1/tax-rates/{federal.json()['id']}",
        params={"update_mask": "percentage"},
        json={"percentage": "5.5"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["percentage"] == "5.5"
    settings = await client.patch(
        "/v1/tax-settings",
        params={"update_mask": "default_tax_behavior"},
        json={"default_tax_behavior": "TAX_BEHAVIOR_EXCLUSIVE"},
    )
    assert settings.status_code == 200, settings.text
    assert (await client.get("/v1/tax-settings")).json()["default_tax_behavior"] == (
        "TAX_BEHAVIOR_EXCLUSIVE"
    )
    deleted = await client.delete(f"/v1/tax-rates/{new_york.json()['id']}")
    assert deleted.status_code == 200
    listed = await client.get("/v1/tax-rates", params={"country": "us"})
    assert [r["id"] for r in listed.json()["tax_rates"]] == [federal.json()["id"]]


@pytest.mark.parametrize("path_key", ["plan:pro", "plan%3Apro"], ids=["colon", "escaped-colon"])
async def test_a_lookup_key_with_a_colon_is_found_over_rest(merchant, path_key: str) -> None:
    """Envoy's transcoder reads a ':' in a path as a custom verb; a lookup key
    holding one must still reach GetPriceByLookupKey."""
    product = await new_product(
        merchant.client,
        prices=[{"currency": "USD", "fixed": {"amount_minor": 2900}, "lookup_key": "plan:pro"}],
    )
    found = await merchant.client.get(f"/v1/prices/lookup/{path_key}")
    assert found.status_code == 200, found.text
    assert found.json()["id"] == product["prices"][0]["id"]


async def test_a_lookup_key_cannot_hold_a_slash(merchant) -> None:
    """'/' (and so '%2F') would be a path separator: refused when created,
    and a lookup of one finds nothing rather than another route."""
    refused = await merchant.client.post(
        "/v1/products",
        json={
            "name": "Plan",
            "prices": [
                {"currency": "USD", "fixed": {"amount_minor": 2900}, "lookup_key": "plan/pro"}
            ],
        },
    )
    assert refused.status_code == 400, refused.text
    assert fields_of(refused) == ["product.prices[0].lookup_key"]
    for path_key in ("plan/pro", "plan%2Fpro"):
        found = await merchant.client.get(f"/v1/prices/lookup/{path_key}")
        assert found.status_code == 404, (path_key, found.text)
