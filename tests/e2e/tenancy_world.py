"""One organization's world, one of every resource the merchant API has,
made through the gateway as a merchant makes them: what the generated
cross-tenant test (test_tenancy_generated.py) names from another
organization. Each value is kept by what the API calls it (`customer`,
`price`, `license_key`, ...) and by the secrets a request may carry instead
of an id (an external id, a lookup key, a code, a license key)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe

from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant

METER = {
    "name": "Calls",
    "filter": {
        "conjunction": "FILTER_CONJUNCTION_AND",
        "clauses": [
            {
                "condition": {
                    "property": "name",
                    "operator": "FILTER_OPERATOR_EQ",
                    "string_value": "api_call",
                }
            }
        ],
    },
    "aggregation": {"function": "AGGREGATION_FUNCTION_COUNT"},
}


@dataclass
class World:
    organization_id: str
    # Resource name (as request fields name it, `customer` for `customer_id`)
    # to the id of one of the organization's.
    ids: dict[str, str] = field(default_factory=dict)
    # Other values that identify one of its resources in a request.
    external_id: str = ""
    lookup_key: str = ""
    discount_code: str = ""
    promotion_code: str = ""
    license_key: str = ""
    # Method name to a request that names the organization's resources and
    # is otherwise valid (fields a generated request would leave out), so a
    # call from elsewhere is refused for what it names, not for its form.
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def values(self) -> set[str]:
        """Everything that names one of the organization's resources."""
        found = set(self.ids.values())
        found.update(
            v
            for v in (
                self.external_id,
                self.lookup_key,
                self.discount_code,
                self.promotion_code,
                self.license_key,
            )
            if v
        )
        return found


async def _ok(response: Awaitable[httpx.Response]) -> dict[str, Any]:
    answered = await response
    assert answered.status_code == 200, f"{answered.request.url}: {answered.text}"
    return dict(answered.json())


async def _eventually(
    ask: Callable[[], Awaitable[dict[str, Any] | None]], seconds: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        found = await ask()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "the world never settled"
        await asyncio.sleep(0.2)


async def build_world(merchant: Merchant, servers: SessionServers) -> World:
    client = merchant.client
    tag = secrets.token_hex(4)
    world = World(merchant.organization_id)
    world.ids["organization"] = merchant.organization_id
    world.external_id = f"ext-{tag}"
    customer = await _ok(
        client.post(
            "/v1/customers",
            json={
                "email": f"world-{tag}@example.com",
                "name": "World",
                "external_id": world.external_id,
                "billing_address": {"country": "US", "state": "CA", "postal_code": "94105"},
            },
        )
    )
    world.ids["customer"] = customer["id"]
    world.ids["tax_rate"] = (
        await _ok(
            client.post(
                "/v1/tax-rates",
                json={"display_name": "Sales", "country": "US", "percentage": "7"},
            )
        )
    )["id"]
    world.lookup_key = f"world_{tag}"
    product = await _ok(
        client.post(
            "/v1/products",
            json={
                "name": "World",
                "recurring": {"interval": "INTERVAL_MONTH"},
                "prices": [
                    {
                        "currency": "USD",
                        "fixed": {"amount_minor": 2000},
                        "lookup_key": world.lookup_key,
                    }
                ],
            },
        )
    )
    world.ids["product"] = product["id"]
    world.ids["price"] = product["prices"][0]["id"]
    world.discount_code = f"WORLD{tag.upper()}"
    discount = await _ok(
        client.post(
            "/v1/discounts",
            json={
                "name": "World",
                "code": world.discount_code,
                "percent_off": {"basis_points": 1000},
                "duration": "DISCOUNT_DURATION_ONCE",
            },
        )
    )
    world.ids["discount"] = discount["id"]
    world.promotion_code = f"PROMO{tag.upper()}"
    world.ids["promotion_code"] = (
        await _ok(
            client.post(
                f"/v1/discounts/{discount['id']}/promotion-codes",
                json={"code": world.promotion_code},
            )
        )
    )["id"]
    benefit = await _ok(
        client.post(
            "/v1/benefits",
            json={
                "type": "BENEFIT_TYPE_LICENSE_KEYS",
                "key": f"world-{tag}",
                "description": "World app",
                "license_keys": {"prefix": "WORLD", "activation_limit": 3},
            },
        )
    )
    world.ids["benefit"] = benefit["id"]

    async def attached() -> dict[str, Any] | None:
        answer = await client.post(
            f"/v1/products/{product['id']}/benefits", json={"benefit_id": benefit["id"]}
        )
        return None if answer.status_code == 404 else {"status": answer.status_code}

    assert (await _eventually(attached))["status"] == 200
    world.ids["meter"] = (await _ok(client.post("/v1/meters", json=METER)))["id"]
    world.ids["webhook_endpoint"] = (
        await _ok(
            client.post(
                "/v1/webhook-endpoints",
                json={"url": "https://93.184.216.34/hooks", "event_types": ["order.paid"]},
            )
        )
    )["id"]
    world.ids["api_key"] = (await _ok(client.post("/v1/api-keys", json={"name": "world"})))[
        "api_key"
    ]["id"]
    world.ids["customer_session"] = (
        await _ok(client.post("/v1/customer-sessions", json={"customer_id": customer["id"]}))
    )["id"]
    world.ids["test_clock"] = (
        await _ok(client.post("/v1/test-clocks", json={"frozen_time": "2027-01-01T00:00:00Z"}))
    )["id"]
    await _card(client, servers, world)
    await _subscription(client, world)
    link = await _ok(
        client.post(
            "/v1/checkout-links",
            json={"product_ids": [product["id"]], "success_url": "https://shop.example/thanks"},
        )
    )
    world.ids["checkout_link"] = link["id"]
    world.ids["checkout_session"] = (
        await _ok(client.post("/v1/checkout-sessions", json={"checkout_link_id": link["id"]}))
    )["id"]
    ingested = await client.post(
        "/v1/events/ingest",
        json={
            "events": [
                {
                    "name": "api_call",
                    "external_customer_id": world.external_id,
                    "external_id": f"call-{tag}",
                }
            ]
        },
    )
    assert ingested.status_code == 200, ingested.text
    add_templates(world)
    return world


async def _card(client: httpx.AsyncClient, servers: SessionServers, world: World) -> None:
    """A saved card, as a customer's browser saves it with Stripe."""
    customer_id = world.ids["customer"]

    async def linked() -> dict[str, Any] | None:
        found = (await client.get(f"/v1/customers/{customer_id}")).json()
        return found if found.get("stripe_customer_id") else None

    await _eventually(linked)
    intent = await _ok(client.post("/v1/setup-intents", json={"customer_id": customer_id}))
    world.ids["setup_intent"] = intent["id"]
    browser = stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    method = await browser.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 4, "exp_year": 2033, "cvc": "123"},
        }
    )
    await browser.v1.setup_intents.confirm_async(
        intent["stripe_setup_intent_id"], params={"payment_method": method.id}
    )
    synced = await _ok(client.post(f"/v1/setup-intents/{intent['id']}:sync", json={}))
    world.ids["payment_method"] = synced["payment_method_id"]


async def _subscription(client: httpx.AsyncClient, world: World) -> None:
    """A paid subscription: its order, payment, a refund, the benefit grant
    and license key it brought (and an activation of the key)."""
    customer_id = world.ids["customer"]
    subscription = await _ok(
        client.post(
            "/v1/subscriptions",
            json={
                "subscription": {
                    "customer_id": customer_id,
                    "product_id": world.ids["product"],
                    "price_id": world.ids["price"],
                }
            },
        )
    )
    world.ids["subscription"] = subscription["id"]

    async def paid() -> dict[str, Any] | None:
        found = (await client.get("/v1/payments", params={"customer_id": customer_id})).json()
        done = [p for p in found.get("payments", []) if p["status"] == "PAYMENT_STATUS_SUCCEEDED"]
        return done[0] if done else None

    payment = await _eventually(paid)
    world.ids["payment"] = payment["id"]
    world.ids["order"] = payment["order_id"]
    world.ids["refund"] = (
        await _ok(
            client.post(
                f"/v1/payments/{payment['id']}/refunds",
                json={"amount": {"amount_minor": 100, "currency": "USD"}, "reason": "world"},
            )
        )
    )["id"]

    async def keyed() -> dict[str, Any] | None:
        found = (await client.get("/v1/license-keys", params={"customer_id": customer_id})).json()
        keys = found.get("license_keys", [])
        return keys[0] if keys else None

    key = await _eventually(keyed)
    world.ids["license_key"] = key["id"]
    world.license_key = key["key"]
    grants = (await client.get("/v1/benefit-grants", params={"customer_id": customer_id})).json()
    world.ids["benefit_grant"] = grants["benefit_grants"][0]["id"]
    activation = await _ok(
        client.post("/v1/license-keys/activate", json={"key": key["key"], "label": "world"})
    )
    world.ids["activation"] = activation["id"]


def add_templates(world: World) -> None:
    ids = world.ids
    world.templates.update(
        {
            "CreateSubscription": {
                "subscription": {
                    "customer_id": ids["customer"],
                    "product_id": ids["product"],
                    "price_id": ids["price"],
                }
            },
            "CreateSetupIntent": {"setup_intent": {"customer_id": ids["customer"]}},
            "CreateCustomerSession": {"customer_id": ids["customer"]},
            "CreateCheckoutLink": {
                "checkout_link": {
                    "product_ids": [ids["product"]],
                    "allowed_discount_ids": [ids["discount"]],
                    "success_url": "https://shop.example/thanks",
                }
            },
            "CreateCheckoutSession": {
                "checkout_session": {
                    "product_ids": [ids["product"]],
                    "customer_id": ids["customer"],
                    "success_url": "https://shop.example/thanks",
                }
            },
            "CreatePromotionCode": {
                "discount_id": ids["discount"],
                "promotion_code": {"code": "ELSEWHERE1"},
            },
            "CreatePrice": {
                "product_id": ids["product"],
                "price": {"currency": "USD", "fixed": {"amount_minor": 500}},
            },
            "CreateRefund": {
                "refund": {
                    "payment_id": ids["payment"],
                    "amount": {"amount_minor": 100, "currency": "USD"},
                }
            },
            "AttachProductBenefit": {"product_id": ids["product"], "benefit_id": ids["benefit"]},
            "ActivateLicenseKey": {"key": world.license_key, "label": "elsewhere"},
            "AdvanceTestClock": {"id": ids["test_clock"], "frozen_time": "2027-02-01T00:00:00Z"},
            "AssignSeat": {
                "subscription_id": ids["subscription"],
                "seat": {"email": "seat@example.com"},
            },
            "RedeemDiscount": {
                "id": ids["discount"],
                "product_id": ids["product"],
                "currency": "USD",
                "reference": "elsewhere",
                "customer_id": ids["customer"],
            },
            "ChangeSubscription": {"id": ids["subscription"], "price_id": ids["price"]},
            "CreateCustomer": {
                "customer": {"email": "else@example.com", "test_clock_id": ids["test_clock"]}
            },
            "CreateDiscount": {
                "discount": {
                    "name": "Elsewhere",
                    "percent_off": {"basis_points": 500},
                    "duration": "DISCOUNT_DURATION_ONCE",
                    "product_ids": [ids["product"]],
                }
            },
            "CreateBenefit": {
                "benefit": {
                    "type": "BENEFIT_TYPE_METER_CREDITS",
                    "key": "elsewhere",
                    "description": "Elsewhere",
                    "meter_credits": {"meter_id": ids["meter"], "units": "10"},
                }
            },
            "UpdatePrice": {"price": {"id": ids["price"], "nickname": "elsewhere"}},
            "ValidateDiscount": {
                "code": world.discount_code,
                "product_id": ids["product"],
                "currency": "USD",
            },
        }
    )
