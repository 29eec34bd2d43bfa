"""Metering through the real Envoy gateway: the owner's ingest shape, meters,
quantities by Berlin day, the customer's balance; bad input as JSON 4xx;
another organization's meter is a 404; internal methods are not routed."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest

from .conftest import Merchant

pytestmark = pytest.mark.e2e


async def until(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.1)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


METER = {
    "name": "Tokens",
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
    "aggregation": {"function": "AGGREGATION_FUNCTION_SUM", "property": "metadata.tokens"},
}


async def test_meter_ingest_quantities_and_balance_through_rest(merchant: Merchant) -> None:
    client = merchant.client
    meter = (await client.post("/v1/meters", json=METER)).json()
    assert meter["aggregation"]["function"] == "AGGREGATION_FUNCTION_SUM"
    customer = await client.post(
        "/v1/customers", json={"email": "ada@example.com", "external_id": "user_123"}
    )
    assert customer.status_code == 200, customer.text
    customer_id = customer.json()["id"]
    now = dt.datetime.now(dt.UTC)
    body = {
        "events": [
            {
                "name": "api_call",
                "external_customer_id": "user_123",
                "timestamp": rfc3339(now - dt.timedelta(hours=1)),
                "metadata": {"tokens": 1500, "model": "gpt", "cached": False},
                "external_id": f"evt-{uuid.uuid4()}",
            },
            {
                "name": "api_call",
                "external_customer_id": "user_123",
                "metadata": {"tokens": 0.5},
            },
        ]
    }
    answer = await client.post("/v1/events/ingest", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"inserted": 2, "duplicates": 0}
    again = await client.post("/v1/events/ingest", json={"events": body["events"][:1]})
    assert again.json() == {"inserted": 0, "duplicates": 1}

    async def balance() -> dict[str, Any] | None:
        found = await client.get("/v1/customer-meters", params={"customer_id": customer_id})
        meters = found.json().get("customer_meters", [])
        return meters[0] if meters and meters[0]["consumed_units"] == "1500.5" else None

    seen = await until(balance)
    assert (seen["meter_id"], seen["balance"]) == (meter["id"], "-1500.5")
    by_external = await client.get(
        "/v1/customer-meters", params={"external_customer_id": "user_123"}
    )
    assert by_external.json()["customer_meters"][0]["consumed_units"] == "1500.5"

    quantities = await client.get(
        f"/v1/meters/{meter['id']}/quantities",
        params={
            "start": rfc3339(now - dt.timedelta(days=2)),
            "end": rfc3339(now + dt.timedelta(minutes=1)),
            "interval": "day",
            "timezone": "Europe/Berlin",
            "external_customer_id": "user_123",
        },
    )
    assert quantities.status_code == 200, quantities.text
    found = quantities.json()
    assert found["total"] == "1500.5"
    assert sum(float(q["quantity"]) for q in found["quantities"]) == 1500.5


async def test_bad_input_is_a_json_400_naming_the_field(merchant: Merchant) -> None:
    client = merchant.client
    too_many = {"events": [{"name": "x", "external_customer_id": "u"}] * 1001}
    refused = await client.post("/v1/events/ingest", json=too_many)
    assert refused.status_code == 400
    assert "at most 1000" in refused.json()["message"]
    nested = await client.post(
        "/v1/events/ingest",
        json={"events": [{"name": "x", "external_customer_id": "u", "metadata": {"a": {"b": 1}}}]},
    )
    assert nested.status_code == 400
    assert "events[0].metadata.a" in nested.text
    future = await client.post(
        "/v1/events/ingest",
        json={
            "events": [
                {
                    "name": "x",
                    "external_customer_id": "u",
                    "timestamp": rfc3339(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
                }
            ]
        },
    )
    assert future.status_code == 400
    assert "events[0].timestamp" in future.text
    meter = (await client.post("/v1/meters", json=METER)).json()
    backwards = await client.get(
        f"/v1/meters/{meter['id']}/quantities",
        params={"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "interval": "day"},
    )
    assert backwards.status_code == 400
    assert "end" in backwards.text
    bad_time = await client.get(
        f"/v1/meters/{meter['id']}/quantities",
        params={"start": "yesterday", "end": "2026-01-01T00:00:00Z", "interval": "day"},
    )
    assert bad_time.status_code == 400
    no_meter = await client.post("/v1/meters", json={"name": "x"})
    assert no_meter.status_code == 400


async def test_another_organizations_meter_is_a_404(
    merchant: Merchant, other_merchant: Merchant
) -> None:
    meter = (await merchant.client.post("/v1/meters", json=METER)).json()
    theirs = await other_merchant.client.get(f"/v1/meters/{meter['id']}")
    assert theirs.status_code == 404
    patched = await other_merchant.client.patch(f"/v1/meters/{meter['id']}", json={"name": "mine"})
    assert patched.status_code == 404
    # A query parameter cannot swap the id the path names.
    swapped = await merchant.client.get(f"/v1/meters/{uuid.uuid4()}", params={"id": meter["id"]})
    assert swapped.status_code == 400
    assert swapped.json()["details"][0]["reason"] == "PATH_FIELD_OVERRIDDEN"
    mine = await merchant.client.get(f"/v1/meters/{meter['id']}")
    assert mine.json()["name"] == "Tokens"


async def test_internal_methods_are_not_routed(merchant: Merchant) -> None:
    for path in (
        "/billingos.metering.v1.CustomerMeterAdminService/CreditCustomerMeter",
        "/billingos.metering.v1.BillableUsageAdminService/GetBillableUsage",
    ):
        found = await merchant.client.post(path, json={})
        assert found.status_code == 404, (path, found.status_code)


async def test_ingest_needs_a_key(http: httpx.AsyncClient) -> None:
    found = await http.post("/v1/events/ingest", json={"events": []})
    assert found.status_code == 401


async def test_a_query_cannot_add_to_a_body_route(merchant: Merchant) -> None:
    """The body is the whole request: a query parameter would add an event
    nobody reading the body sees."""
    found = await merchant.client.post(
        "/v1/events/ingest?events.name=qp&events.external_customer_id=u",
        json={"events": [{"name": "a", "external_customer_id": "u"}]},
    )
    assert found.status_code == 400
    assert found.json()["details"][0]["reason"] == "QUERY_NOT_ALLOWED"
    plain = await merchant.client.post(
        "/v1/events/ingest", json={"events": [{"name": "a", "external_customer_id": "u"}]}
    )
    assert plain.json() == {"inserted": 1, "duplicates": 0}


async def test_a_query_cannot_set_part_of_a_one_field_body(merchant: Merchant) -> None:
    """PATCH /v1/meters/{meter.id} takes `meter` from the body: a query
    parameter under it would change what nobody reading the body sees."""
    meter = (await merchant.client.post("/v1/meters", json=METER)).json()
    for query in ("meter.name=sneaky", "meter.archived=true"):
        found = await merchant.client.patch(
            f"/v1/meters/{meter['id']}?update_mask=name&{query}", json={"name": "shown"}
        )
        assert found.status_code == 400, (query, found.text)
        assert found.json()["details"][0]["reason"] == "QUERY_NOT_ALLOWED"
    still = (await merchant.client.get(f"/v1/meters/{meter['id']}")).json()
    assert still["name"] == METER["name"]
    assert still.get("archived") is not True
    # Query parameters outside the body still work.
    renamed = await merchant.client.patch(
        f"/v1/meters/{meter['id']}?update_mask=name", json={"name": "shown"}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "shown"
