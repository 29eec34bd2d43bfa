"""Answers become typed models, and a newer server's fields break nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billingos_sdk import BillingOS, BillingOSError

from .conftest import Reply, ScriptedServer


def test_unknown_and_missing_fields_are_tolerated(server: ScriptedServer) -> None:
    server.script(
        Reply(
            200,
            {
                "id": "c1",
                "email": "ada@example.com",
                "create_time": "2026-11-24T10:42:12.482361123Z",
                "metadata": {"plan": "pro"},
                "billing_address": {"country": "FR", "planet": "Earth"},
                "loyalty_tier": {"level": 3},
            },
        )
    )
    with BillingOS("bos_test", server_url=server.url) as billingos:
        customer = billingos.customers.get("c1")
    assert customer.email == "ada@example.com"
    assert customer.external_id == ""
    assert customer.delete_time is None
    assert customer.create_time == dt.datetime(2026, 11, 24, 10, 42, 12, 482361, tzinfo=dt.UTC)
    assert customer.billing_address is not None
    assert customer.billing_address.country == "FR"
    assert customer.raw["loyalty_tier"] == {"level": 3}


def test_products_amounts_are_integers(server: ScriptedServer) -> None:
    server.script(
        Reply(
            200,
            {
                "id": "p1",
                "name": "Pro",
                "recurring": {"interval": "INTERVAL_MONTH", "count": 1},
                "prices": [
                    {"id": "pr1", "currency": "USD", "fixed": {"amount_minor": "2900"}},
                    {"id": "pr2", "currency": "USD", "metered_unit": {"unit_amount": "0.5"}},
                    {"id": "pr3", "currency": "USD", "lunar_amount": {}},
                ],
            },
        )
    )
    with BillingOS("bos_test", server_url=server.url) as billingos:
        product = billingos.products.get("p1")
    fixed, metered, unknown = product.prices
    assert fixed.fixed is not None
    assert fixed.fixed.amount_minor == 2900
    assert fixed.amount_kind == "fixed"
    assert metered.amount_kind == "metered_unit"
    assert metered.amount == {"unit_amount": "0.5"}
    assert unknown.amount_kind == ""
    assert product.recurring is not None
    assert product.recurring.interval == "INTERVAL_MONTH"


def test_entitlement_units_are_exact(server: ScriptedServer) -> None:
    server.script(
        Reply(200, {"feature": "tokens", "allowed": True, "balance": "1500.5", "reason": "X"})
    )
    with BillingOS("bos_test", server_url=server.url) as billingos:
        entitlement = billingos.entitlements.check("tokens", external_customer_id="user_1")
    assert entitlement
    assert entitlement.balance == Decimal("1500.5")
    assert entitlement.credited_units is None
    assert server.received[0].query == {"feature": "tokens", "external_customer_id": "user_1"}


def test_request_shapes(server: ScriptedServer) -> None:
    """Query values and bodies as the OpenAPI document names them."""
    server.script(Reply(200, {"id": "s1", "status": "SUBSCRIPTION_STATUS_TRIALING"}))
    moment = dt.datetime(2027, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        billingos.subscriptions.create(
            customer_id="c1",
            product_id="p1",
            currency="USD",
            trial={"interval": "INTERVAL_DAY", "count": 14},
            promotion_code="SAVE10",
        )
        billingos.subscriptions.cancel("s1", immediately=True)
        billingos.events.ingest([{"name": "api_call", "customer_id": "c1", "timestamp": moment}])
        billingos.benefit_grants.list(customer_id="c1", is_granted=True).page()
        billingos.customers.get_by_external_id("team/a:1")
    create, cancel, ingest, grants, external = server.received
    assert create.body == {
        "subscription": {"customer_id": "c1", "product_id": "p1", "currency": "USD"},
        "trial": {"interval": "INTERVAL_DAY", "count": 14},
        "promotion_code": "SAVE10",
    }
    assert (cancel.path, cancel.body) == ("/v1/subscriptions/s1/cancel", {"immediately": True})
    assert ingest.body == {
        "events": [{"name": "api_call", "customer_id": "c1", "timestamp": "2027-01-01T11:00:00Z"}]
    }
    assert grants.query == {"customer_id": "c1", "is_granted": "true"}
    assert external.path == "/v1/customers/external/team%2Fa%3A1"


def test_a_2xx_that_is_not_json_is_a_billingos_error(server: ScriptedServer) -> None:
    server.script(Reply(200, raw=b"<html>captive portal</html>", headers={"x-request-id": "r-9"}))
    with (
        BillingOS("bos_test", server_url=server.url, max_retries=0) as billingos,
        pytest.raises(BillingOSError) as raised,
    ):
        billingos.customers.get("c1")
    assert type(raised.value) is BillingOSError
    assert raised.value.status_code == 200
    assert raised.value.request_id == "r-9"
    assert "captive portal" in raised.value.message
    assert isinstance(raised.value.__cause__, ValueError)  # the JSONDecodeError
    server.script(Reply(200, [1, 2]))
    with (
        BillingOS("bos_test", server_url=server.url) as billingos,
        pytest.raises(BillingOSError, match="JSON object"),
    ):
        billingos.customers.get("c1")


def test_none_in_metadata_is_sent_as_null_not_dropped(server: ScriptedServer) -> None:
    """A None inside a free-form map is the caller's value: sent as null (the
    server then refuses it, naming the key), not dropped in silence. A None
    elsewhere means "not given"."""
    server.script(Reply(200, {"id": "c1"}))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        billingos.customers.create(
            email="ada@example.com",
            metadata={"plan": "pro", "gone": None},  # type: ignore[dict-item]
            billing_address={"country": "FR", "line2": None},  # type: ignore[typeddict-item]
        )
        billingos.events.ingest(
            [{"name": "api_call", "customer_id": "c1", "metadata": {"model": None}}]  # type: ignore[dict-item]
        )
    create, ingest = server.received
    assert create.body == {
        "email": "ada@example.com",
        "metadata": {"plan": "pro", "gone": None},
        "billing_address": {"country": "FR"},
    }
    assert ingest.body == {
        "events": [{"name": "api_call", "customer_id": "c1", "metadata": {"model": None}}]
    }
