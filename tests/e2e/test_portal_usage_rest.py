"""The customer portal's usage through the real Envoy gateway, the whole
suite running: the merchant (API key) makes meters and customers and
ingests their events; each customer's page (session token) reads its own
consumption per meter with the meter's names, and only its own. Hostile
tries: an API key on the portal route, the token on the merchant's meter
routes, another merchant's customer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from billingos_cli.suite import Suite
from billingos_kit.testing.http import error_of

from .conftest import Merchant

pytestmark = pytest.mark.e2e

METERS = "/v1/customer-portal/meters"


def meter(name: str, function: str, prop: str = "") -> dict[str, Any]:
    return {
        "name": name,
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
        "aggregation": {"function": function, "property": prop},
    }


async def customer_and_session(merchant: Merchant, external_id: str) -> tuple[str, str]:
    created = await merchant.client.post(
        "/v1/customers", json={"email": f"{external_id}@example.com", "external_id": external_id}
    )
    assert created.status_code == 200, created.text
    customer_id = str(created.json()["id"])
    session = await merchant.client.post("/v1/customer-sessions", json={"customer_id": customer_id})
    assert session.status_code == 200, session.text
    return customer_id, str(session.json()["token"])


async def usage_shown(
    suite: Suite, token: str, wanted: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """The portal's meters once they show `wanted` (name: consumed, balance):
    the balance worker counts new events within moments."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as page:
        while True:
            response = await page.get(METERS)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            shown = {
                m["meter_name"]: (m["consumed_units"], m["balance"])
                for m in body.get("customer_meters", [])
            }
            if shown == wanted:
                return body
            assert time.monotonic() < deadline, shown
            await asyncio.sleep(0.2)


async def test_each_customer_reads_its_own_usage_per_meter(
    suite: Suite, merchant: Merchant, other_merchant: Merchant
) -> None:
    calls = await merchant.client.post(
        "/v1/meters", json=meter("API calls", "AGGREGATION_FUNCTION_COUNT")
    )
    assert calls.status_code == 200, calls.text
    tokens = await merchant.client.post(
        "/v1/meters", json=meter("Tokens", "AGGREGATION_FUNCTION_SUM", "metadata.tokens")
    )
    assert tokens.status_code == 200, tokens.text
    ada, adas_token = await customer_and_session(merchant, "ada")
    grace, graces_token = await customer_and_session(merchant, "grace")
    _, strangers_token = await customer_and_session(other_merchant, "ada")
    ingested = await merchant.client.post(
        "/v1/events/ingest",
        json={
            "events": [
                {"name": "api_call", "customer_id": ada, "metadata": {"tokens": 1500}},
                {"name": "api_call", "external_customer_id": "ada", "metadata": {"tokens": 0.5}},
                {"name": "api_call", "customer_id": grace, "metadata": {"tokens": 7}},
            ]
        },
    )
    assert ingested.status_code == 200, ingested.text

    adas = await usage_shown(
        suite, adas_token, {"API calls": ("2", "-2"), "Tokens": ("1500.5", "-1500.5")}
    )
    by_name = {m["meter_name"]: m for m in adas["customer_meters"]}
    assert by_name["API calls"]["meter_id"] == calls.json()["id"]
    assert by_name["Tokens"]["credited_units"] == "0"
    assert by_name["Tokens"]["window_start_time"].endswith("Z")
    assert "filter" not in str(adas)
    assert "api_call" not in str(adas)
    await usage_shown(suite, graces_token, {"API calls": ("1", "-1"), "Tokens": ("7", "-7")})
    # The other merchant's "ada" is another customer: nothing of this one's.
    await usage_shown(suite, strangers_token, {})


async def test_the_usage_route_takes_a_session_token_and_nothing_else(
    suite: Suite, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    customer_id, token = await customer_and_session(merchant, "lin")
    with_key = await merchant.client.get(METERS)
    assert with_key.status_code == 401, with_key.text
    assert error_of(with_key)[:2] == (16, "CUSTOMER_SESSION_REQUIRED")
    without = await http.get(METERS)
    assert error_of(without)[:2] == (16, "CUSTOMER_SESSION_MISSING")
    headers = {"Authorization": f"Bearer {token}"}
    for path, params in (("/v1/customer-meters", {"customer_id": customer_id}), ("/v1/meters", {})):
        refused = await http.get(path, params=params, headers=headers)
        assert refused.status_code == 401, refused.text
        assert error_of(refused)[:2] == (16, "CUSTOMER_SESSION_NOT_ACCEPTED")
    # A query naming a customer is no parameter of the portal's list.
    naming = await http.get(METERS, params={"customer_id": customer_id}, headers=headers)
    assert naming.status_code == 400, naming.text
