"""The Python SDK (`billingos_sdk`) against the whole running suite through
the real Envoy gateway: typed results, typed errors with the server's real
reasons and fields, pagination, both clients.

The blocking client runs in a worker thread so the session's event loop
(which serves the async fixtures) is never blocked by it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from billingos_sdk import (
    AsyncBillingOS,
    AuthenticationError,
    BenefitGrant,
    BillingOS,
    ConflictError,
    Customer,
    InvalidRequestError,
    NotFoundError,
)

from .conftest import Merchant

pytestmark = pytest.mark.e2e

T = TypeVar("T")

METER = {
    "name": "SDK calls",
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


def sync_customers_round(rest_url: str, merchant: Merchant, other: Merchant) -> None:
    with BillingOS(access_token=merchant.api_key, server_url=rest_url) as billingos:
        customer = billingos.customers.create(
            organization_id=merchant.organization_id,
            email="ada@example.com",
            external_id="user_1",
            name="Ada",
            metadata={"plan": "pro", "seats": 3},
            billing_address={"line1": "1 Main St", "country": "FR"},
        )
        assert isinstance(customer, Customer)
        assert customer.organization_id == merchant.organization_id
        assert customer.metadata == {"plan": "pro", "seats": 3}
        assert customer.billing_address is not None
        assert customer.billing_address.country == "FR"
        assert customer.create_time is not None

        assert billingos.customers.get(customer.id) == customer
        assert billingos.customers.get_by_external_id("user_1").id == customer.id
        renamed = billingos.customers.update(customer.id, name="Countess")
        assert (renamed.name, renamed.email) == ("Countess", "ada@example.com")

        with pytest.raises(InvalidRequestError) as not_own:
            billingos.customers.create(
                organization_id=other.organization_id, email="elsewhere@example.com"
            )
        assert not_own.value.status_code == 400
        assert not_own.value.code == 3
        assert not_own.value.reason == "ORGANIZATION_NOT_OWN"
        assert not_own.value.fields == ["customer.organization_id"]
        assert not_own.value.request_id

        with pytest.raises(ConflictError) as duplicate:
            billingos.customers.create(email="again@example.com", external_id="user_1")
        assert duplicate.value.status_code == 409
        assert duplicate.value.reason == "EXTERNAL_ID_ALREADY_EXISTS"
        assert duplicate.value.fields == ["customer.external_id"]

        deleted = billingos.customers.delete(customer.id)
        assert deleted.delete_time is not None
        with pytest.raises(NotFoundError) as gone:
            billingos.customers.get(customer.id)
        assert gone.value.reason == "CUSTOMER_NOT_FOUND"
        assert gone.value.code == 5

        made = {billingos.customers.create(email=f"page{i}@example.com").id for i in range(5)}
        first = billingos.customers.list(page_size=2).page()
        assert len(first.items) == 2
        assert first.has_next
        pages = list(billingos.customers.list(page_size=2).pages())
        assert [len(p.items) for p in pages] == [2, 2, 1]
        listed = [c.id for c in billingos.customers.list(page_size=2)]
        assert set(listed) == made
        assert len(listed) == 5

    with BillingOS(access_token="bos_made_up_key", server_url=rest_url) as stranger:
        with pytest.raises(AuthenticationError) as unauthenticated:
            stranger.customers.get(customer.id)
        assert unauthenticated.value.status_code == 401
        assert unauthenticated.value.reason == "API_KEY_INVALID"


async def in_thread(work: Callable[..., T], *args: object) -> T:
    return await asyncio.to_thread(work, *args)


async def test_sync_client_customers_errors_and_pages(
    suite, merchant: Merchant, other_merchant: Merchant
) -> None:
    await in_thread(sync_customers_round, suite.rest_url, merchant, other_merchant)


def sync_usage_round(rest_url: str, merchant: Merchant, customer_id: str) -> None:
    with BillingOS(access_token=merchant.api_key, server_url=rest_url) as billingos:
        ingested = billingos.events.ingest(
            events=[
                {
                    "name": "api_call",
                    "external_customer_id": "user_sync",
                    "external_id": f"evt-{uuid.uuid4()}",
                    "metadata": {"tokens": 10},
                }
            ]
        )
        assert (ingested.inserted, ingested.duplicates) == (1, 0)
        grants = list(billingos.benefit_grants.list(customer_id=customer_id, is_granted=True))
        assert grants == []
        check = billingos.entitlements.check("nothing-here", customer_id=customer_id)
        assert not check.allowed
        assert check.reason == "ENTITLEMENT_REASON_UNKNOWN_FEATURE"


async def test_sync_client_usage(suite, merchant: Merchant) -> None:
    created = await merchant.client.post(
        "/v1/customers", json={"email": "sync@example.com", "external_id": "user_sync"}
    )
    assert created.status_code == 200, created.text
    await in_thread(sync_usage_round, suite.rest_url, merchant, created.json()["id"])


async def eventually(check: Callable[[], Awaitable[T | None]], seconds: float = 20.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.2)


async def test_async_client_end_to_end(suite, merchant: Merchant, other_merchant: Merchant) -> None:
    meter = await merchant.client.post("/v1/meters", json=METER)
    assert meter.status_code == 200, meter.text
    product_made = await merchant.client.post(
        "/v1/products",
        json={
            "name": "SDK Pro",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 2900}}],
        },
    )
    assert product_made.status_code == 200, product_made.text
    clock = await merchant.client.post(
        "/v1/test-clocks", json={"frozen_time": "2027-06-01T00:00:00Z"}
    )
    assert clock.status_code == 200, clock.text

    async with AsyncBillingOS(access_token=merchant.api_key, server_url=suite.rest_url) as client:
        customer = await client.customers.create(
            email="async@example.com", external_id="user_async", test_clock_id=clock.json()["id"]
        )
        assert customer.test_clock_id == clock.json()["id"]
        with pytest.raises(InvalidRequestError) as not_own:
            await client.customers.create(
                organization_id=other_merchant.organization_id, email="x@example.com"
            )
        assert (not_own.value.reason, not_own.value.fields) == (
            "ORGANIZATION_NOT_OWN",
            ["customer.organization_id"],
        )
        with pytest.raises(NotFoundError):
            await client.customers.get(str(uuid.uuid4()))
        for i in range(4):
            await client.customers.create(email=f"async{i}@example.com")
        ids = [c.id async for c in client.customers.list(page_size=2)]
        assert len(ids) == 5
        assert customer.id in ids

        ingested = await client.events.ingest(
            events=[
                {
                    "name": "api_call",
                    "external_customer_id": "user_async",
                    "metadata": {"tokens": 1500},
                },
                {"name": "api_call", "customer_id": customer.id, "metadata": {"tokens": 0.5}},
            ]
        )
        assert ingested.inserted == 2

        async def consumed() -> str | None:
            found = await merchant.client.get(
                "/v1/customer-meters", params={"customer_id": customer.id}
            )
            meters = found.json().get("customer_meters", [])
            return (
                meters[0]["consumed_units"]
                if meters and meters[0]["consumed_units"] == "1500.5"
                else None
            )

        assert await eventually(consumed) == "1500.5"

        products = [p async for p in client.products.list(recurring=True)]
        assert [p.id for p in products] == [product_made.json()["id"]]
        product = await client.products.get(product_made.json()["id"])
        (price,) = product.prices
        assert price.fixed is not None
        assert price.fixed.amount_minor == 2900
        assert product.recurring is not None
        assert product.recurring.interval == "INTERVAL_MONTH"

        subscription = await client.subscriptions.create(
            customer_id=customer.id,
            product_id=product.id,
            currency="USD",
            trial={"interval": "INTERVAL_DAY", "count": 14},
        )
        assert subscription.status == "SUBSCRIPTION_STATUS_TRIALING"
        assert subscription.trial_end is not None
        assert (await client.subscriptions.get(subscription.id)).id == subscription.id
        listed = [s.id async for s in client.subscriptions.list(customer_id=customer.id)]
        assert listed == [subscription.id]
        canceled = await client.subscriptions.cancel(subscription.id, comment="testing the SDK")
        assert canceled.cancel_at_period_end is True

        grants = [g async for g in client.benefit_grants.list(customer_id=customer.id)]
        assert all(isinstance(g, BenefitGrant) for g in grants)
        page = await client.benefit_grants.list(external_customer_id="user_async").page()
        assert isinstance(page.items, tuple)

        check = await client.entitlements.check("api-access", external_customer_id="user_async")
        assert check.allowed is False

        session = await client.customer_sessions.create(customer_id=customer.id, ttl_seconds=600)
        assert session.customer_id == customer.id
        assert session.token
        assert session.expire_time is not None


class LoseTheFirstAnswer(httpx.BaseTransport):
    """Forwards every request to the real suite, but throws the first
    mutation's answer away once the server has handled it, raising the
    `httpx.ReadError` a connection reset mid-answer gives: the SDK cannot know
    whether the call acted."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []
        self.lost: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self._inner.handle_request(request)
        if request.method == "POST" and not self.lost:
            response.read()
            response.close()
            self.lost.append(response)
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


def lost_answer_round(rest_url: str, merchant: Merchant) -> None:
    transport = LoseTheFirstAnswer()
    email = f"once-{uuid.uuid4().hex[:8]}@example.com"
    with (
        httpx.Client(transport=transport, timeout=30) as http,
        BillingOS(
            access_token=merchant.api_key,
            server_url=rest_url,
            http_client=http,
            sleep=lambda _: None,
        ) as billingos,
    ):
        customer = billingos.customers.create(email=email, name="Once")
        # The server did handle the first try: its answer came, and was lost.
        (lost,) = transport.lost
        assert lost.status_code == 200, lost.text
        assert lost.json()["id"] == customer.id
        first, retry = (r for r in transport.sent if r.method == "POST")
        assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
        assert first.content == retry.content
        # The retry got the first answer back instead of making a second customer.
        assert [c.id for c in billingos.customers.list(email=email)] == [customer.id]


async def test_a_retried_create_whose_answer_was_lost_acts_once(suite, merchant: Merchant) -> None:
    await in_thread(lost_answer_round, suite.rest_url, merchant)


def null_metadata_round(rest_url: str, merchant: Merchant) -> InvalidRequestError:
    with (
        BillingOS(access_token=merchant.api_key, server_url=rest_url) as billingos,
        pytest.raises(InvalidRequestError) as refused,
    ):
        billingos.customers.create(
            email="null-metadata@example.com",
            metadata={"plan": "pro", "a": None},  # type: ignore[dict-item]
        )
    return refused.value


async def test_a_null_in_metadata_is_sent_and_refused_naming_the_key(
    suite, merchant: Merchant
) -> None:
    """What the server does with ``"metadata": {"a": null}`` (a proto3 Struct
    takes a null): it refuses it, naming the key. So the SDK sends a None in
    metadata as null rather than dropping it in silence, and the caller gets
    that typed error instead of a customer without the key."""
    raw = await merchant.client.post(
        "/v1/customers", json={"email": "null-metadata@example.com", "metadata": {"a": None}}
    )
    assert raw.status_code == 400, raw.text
    violations = [v["field"] for d in raw.json()["details"] for v in d.get("field_violations", [])]
    assert violations == ["customer.metadata.a"], raw.text
    refused = await in_thread(null_metadata_round, suite.rest_url, merchant)
    assert refused.fields == ["customer.metadata.a"]
    assert refused.status_code == 400
    listed = await merchant.client.get(
        "/v1/customers", params={"email": "null-metadata@example.com"}
    )
    assert listed.json().get("customers", []) == []
