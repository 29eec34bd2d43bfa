"""The Python SDK (`billingos_sdk`) against the whole running suite through
the real Envoy gateway: typed results, typed errors with the server's real
reasons and fields, pagination, both clients.

The blocking client runs in a worker thread so the session's event loop
(which serves the async fixtures) is never blocked by it."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from standardwebhooks import Webhook

from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite
from billingos_sdk import (
    AsyncBillingOS,
    AuthenticationError,
    BenefitGrant,
    BillingOS,
    ConflictError,
    Customer,
    InvalidRequestError,
    NotFoundError,
    WebhookDelivery,
    WebhookEndpoint,
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


# ---- webhook endpoints ---------------------------------------------------------


class Receiver:
    """A real HTTP server on loopback (its own thread, so the blocking client's
    worker thread and the session's event loop both leave it be) that
    records what it is posted and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._changed:
                    receiver.received.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/hooks"

    def wait_for(self, count: int, seconds: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.received) >= count, seconds)
            assert arrived, f"{len(self.received)} of {count} posts within {seconds} s"
            return list(self.received)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
async def dev_merchant(suite: Suite) -> AsyncIterator[Merchant]:
    """An organization in development mode (`./billingos org create
    --development`): its endpoints may be http URLs on this machine."""
    created = create_organization(
        suite.grpc_addresses["customers"],
        suite.options.service_token,
        "SDK Devshop",
        development=True,
    )
    headers = {"Authorization": f"Bearer {created.api_key}"}
    async with httpx.AsyncClient(base_url=suite.rest_url, headers=headers, timeout=10) as client:
        yield Merchant(created.organization_id, created.api_key, client)


def wait_for_delivery(
    billingos: BillingOS, endpoint_id: str, attempts: int, seconds: float = 30.0
) -> WebhookDelivery:
    """The endpoint's one delivery once `attempts` attempts are recorded and
    the last succeeded (the outcome is recorded after the receiver answers)."""
    deadline = time.monotonic() + seconds
    while True:
        (delivery,) = billingos.webhook_endpoints.list_deliveries(endpoint_id)
        done = delivery.status == "WEBHOOK_DELIVERY_STATUS_SUCCEEDED"
        if done and delivery.attempts >= attempts:
            return delivery
        assert time.monotonic() < deadline, delivery
        time.sleep(0.1)


def sync_webhook_endpoints_round(rest_url: str, dev: Merchant, receiver: Receiver) -> None:
    with BillingOS(access_token=dev.api_key, server_url=rest_url) as billingos:
        hooks = billingos.webhook_endpoints
        endpoint = hooks.create(
            url=receiver.url, description="local", event_types=["customer.created"]
        )
        assert isinstance(endpoint, WebhookEndpoint)
        assert endpoint.secret.startswith("whsec_")
        assert endpoint.secret not in repr(endpoint)
        assert (endpoint.organization_id, endpoint.url) == (dev.organization_id, receiver.url)
        assert endpoint.event_types == ("customer.created",)
        assert (endpoint.disabled, endpoint.disabled_reason) == (False, "")
        assert endpoint.previous_secret_expire_time is None
        assert endpoint.create_time is not None
        first_secret = endpoint.secret

        got = hooks.get(endpoint.id)
        assert got.secret == ""  # shown on create and rotation only
        assert (got.id, got.url, got.description) == (endpoint.id, receiver.url, "local")

        # Two more, posted nothing (no order is paid here), to page through.
        others = [
            hooks.create(url=f"{receiver.url}/{n}", event_types=["order.paid"]).id for n in range(2)
        ]
        first = hooks.list(page_size=2).page()
        assert len(first.items) == 2
        assert first.has_next
        assert [len(p.items) for p in hooks.list(page_size=2).pages()] == [2, 1]
        listed = list(hooks.list(page_size=2))
        assert [e.id for e in listed] == [*reversed(others), endpoint.id]  # newest first
        assert all(e.secret == "" for e in listed)

        updated = hooks.update(endpoint.id, description="receives customer.created")
        assert updated.description == "receives customer.created"
        assert updated.event_types == ("customer.created",)  # not in the mask: kept
        assert updated.update_time is not None
        assert endpoint.update_time is not None
        assert updated.update_time > endpoint.update_time

        rotated = hooks.rotate_secret(endpoint.id, grace_seconds=3600)
        assert rotated.secret.startswith("whsec_")
        assert rotated.secret != first_secret
        assert rotated.previous_secret_expire_time is not None
        grace = rotated.previous_secret_expire_time - dt.datetime.now(dt.UTC)
        assert dt.timedelta(minutes=55) < grace <= dt.timedelta(hours=1)

        assert list(hooks.list_deliveries(endpoint.id)) == []

        # An event: the suite's sender posts it, signed by both secrets
        # during the rotation's grace.
        customer = billingos.customers.create(email="hooked@example.com")
        ((headers, body),) = receiver.wait_for(1)
        event = Webhook(rotated.secret).verify(body, headers)
        assert Webhook(first_secret).verify(body, headers) == event
        assert event["type"] == "customer.created"
        assert event["organization_id"] == dev.organization_id
        assert event["data"]["customer"]["id"] == customer.id
        assert len(headers["webhook-signature"].split()) == 2

        delivery = wait_for_delivery(billingos, endpoint.id, attempts=1)
        assert isinstance(delivery, WebhookDelivery)
        assert (delivery.event_id, delivery.event_type) == (event["id"], "customer.created")
        assert (delivery.endpoint_id, delivery.sequence) == (endpoint.id, 1)
        assert (delivery.attempts, delivery.last_response_status) == (1, 200)
        assert (delivery.last_error, delivery.next_attempt_time) == ("", None)

        again = hooks.redeliver(endpoint.id, delivery.id)
        assert again.id == delivery.id
        assert again.status == "WEBHOOK_DELIVERY_STATUS_PENDING"
        _, (headers_again, body_again) = receiver.wait_for(2)
        assert body_again == body
        assert headers_again["webhook-id"] == headers["webhook-id"] == event["id"]
        assert wait_for_delivery(billingos, endpoint.id, attempts=2).sequence == 1

        deleted = hooks.delete(endpoint.id)
        assert deleted.id == endpoint.id
        with pytest.raises(NotFoundError) as gone:
            hooks.get(endpoint.id)
        assert (gone.value.status_code, gone.value.code) == (404, 5)
        assert gone.value.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"
        with pytest.raises(NotFoundError):
            hooks.redeliver(endpoint.id, delivery.id)
        assert [d.id for d in hooks.list_deliveries(endpoint.id)] == [delivery.id]  # history
        assert [e.id for e in hooks.list()] == list(reversed(others))

        with pytest.raises(NotFoundError) as unknown:
            hooks.get(str(uuid.uuid4()))
        assert unknown.value.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"
        with pytest.raises(InvalidRequestError) as refused:
            hooks.create(url="ftp://example.com/hooks")
        assert (refused.value.status_code, refused.value.code) == (400, 3)
        assert refused.value.reason == "WEBHOOK_URL_INVALID"
        assert refused.value.fields == ["webhook_endpoint.url"]
        assert refused.value.request_id


async def test_sync_client_webhook_endpoints_and_a_delivery(
    suite, dev_merchant: Merchant, receiver: Receiver
) -> None:
    await in_thread(sync_webhook_endpoints_round, suite.rest_url, dev_merchant, receiver)


async def test_async_client_webhook_endpoints(
    suite, dev_merchant: Merchant, merchant: Merchant
) -> None:
    async with AsyncBillingOS(access_token=dev_merchant.api_key, server_url=suite.rest_url) as c:
        hooks = c.webhook_endpoints
        key = f"hook-{uuid.uuid4()}"
        url = "http://127.0.0.1:9/never-posted"  # nothing happens in this organization
        made = await hooks.create(url=url, event_types=["order.paid"], idempotency_key=key)
        assert made.secret.startswith("whsec_")
        replayed = await hooks.create(url=url, event_types=["order.paid"], idempotency_key=key)
        assert (replayed.id, replayed.secret) == (made.id, "")  # a replay shows no secret
        assert (await hooks.get(made.id)).url == url
        assert [e.id async for e in hooks.list(page_size=1)] == [made.id]

        disabled = await hooks.update(made.id, disabled=True)
        assert (disabled.disabled, disabled.disabled_reason) == (True, "by_request")
        enabled = await hooks.update(made.id, disabled=False, event_types=[])
        assert (enabled.disabled, enabled.disabled_reason, enabled.event_types) == (False, "", ())

        rotated = await hooks.rotate_secret(made.id)
        assert rotated.secret.startswith("whsec_")
        assert rotated.secret != made.secret
        assert rotated.previous_secret_expire_time is not None
        grace = rotated.previous_secret_expire_time - dt.datetime.now(dt.UTC)
        assert dt.timedelta(hours=23) < grace <= dt.timedelta(hours=24)
        with pytest.raises(InvalidRequestError) as too_long:
            await hooks.rotate_secret(made.id, grace_seconds=8 * 24 * 3600)
        assert too_long.value.fields == ["grace_seconds"]

        page = await hooks.list_deliveries(made.id).page()
        assert (page.items, page.has_next) == ((), False)
        assert (await hooks.delete(made.id)).id == made.id
        with pytest.raises(NotFoundError):
            await hooks.get(made.id)
        with pytest.raises(NotFoundError):
            await hooks.delete(made.id)
        with pytest.raises(NotFoundError) as unknown:
            await hooks.list_deliveries(str(uuid.uuid4())).page()
        assert unknown.value.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"
        with pytest.raises(InvalidRequestError) as refused:
            await hooks.create(url="ftp://example.com/hooks")
        assert (refused.value.reason, refused.value.fields) == (
            "WEBHOOK_URL_INVALID",
            ["webhook_endpoint.url"],
        )

    # Outside development mode the same local URL is refused, naming the field.
    async with AsyncBillingOS(access_token=merchant.api_key, server_url=suite.rest_url) as c:
        with pytest.raises(InvalidRequestError) as not_https:
            await c.webhook_endpoints.create(url=url)
        assert (not_https.value.reason, not_https.value.fields) == (
            "WEBHOOK_URL_NOT_HTTPS",
            ["webhook_endpoint.url"],
        )
